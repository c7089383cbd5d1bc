"""`vitaccel verify`: JSON shape, backend registry, mismatch detection."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vitaccel.cli import main
from vitaccel.verify import BACKENDS, IsaBackend, register_backend


class _OffByOne(IsaBackend):
    """A deliberately wrong backend: the ISA simulator with the first output value incremented."""

    name = "offbyone"

    def run(self, program, image, inputs):  # type: ignore[no-untyped-def]
        out, _ = super().run(program, image, inputs)
        out = out.view("<i4").copy()
        out[0] += 1
        return out.view(np.uint8), None


def test_verify_isa_json(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["verify", "--backend", "isa", "--model", "m3vit-micro", "--board", "zcu102", "--synthetic",
                 "--json", "--images", "2"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert [r["task"] for r in res] == ["segment", "depth"]
    for r in res:
        assert set(r) == {"backend", "model", "board", "task", "bit_exact", "outputs_compared", "max_abs_diff",
                          "cycles"}
        assert r["bit_exact"] and r["max_abs_diff"] == 0 and r["cycles"] > 0 and r["backend"] == "isa"
    assert res[0]["outputs_compared"] == 2 * 16 * 4 * 64  # 2 images x 16 patches x (4 classes x 8 x 8)


def test_verify_detects_a_mismatch_and_unknown_backends(capsys) -> None:  # type: ignore[no-untyped-def]
    register_backend("offbyone", f"{__name__}:_OffByOne")
    try:
        with pytest.raises(SystemExit) as ei:
            main(["verify", "--backend", "offbyone", "--model", "vit-digits", "--board", "kv260", "--synthetic",
                  "--json"])
        res = json.loads(capsys.readouterr().out)
        assert ei.value.code == 1 and res[0]["bit_exact"] is False and res[0]["max_abs_diff"] == 1 and res[0]["cycles"] is None
    finally:
        BACKENDS.pop("offbyone", None)
    assert main(["verify", "--backend", "nope", "--model", "vit-digits", "--board", "kv260", "--synthetic"]) == 2
    assert "unknown backend 'nope'" in capsys.readouterr().err


def test_verify_images_must_be_positive_and_options_have_help(capsys) -> None:  # type: ignore[no-untyped-def]
    for n in ("0", "-2"):
        assert main(["verify", "--model", "vit-digits", "--board", "kv260", "--synthetic", "--images", n]) == 2
        err = capsys.readouterr().err
        assert "--images" in err and ">=1" in err.replace(" ", "") and "Traceback" not in err
    from vitaccel.verify import verify_cmd

    helps = {p.name: p.help for p in verify_cmd.params}
    for name in ("seed", "qmodel", "checkpoint", "images"):
        assert helps[name], name
