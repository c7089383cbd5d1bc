"""`vitaccel demo` end to end on the small m3vit-micro config (the default m3vit-tiny run is `make demo`)."""

from __future__ import annotations

import json
from pathlib import Path

from vitaccel.demo import run_demo


def test_demo_micro_writes_report_and_isa_is_bit_exact(tmp_path: Path) -> None:
    report = run_demo("m3vit-micro", "zcu102", tmp_path)
    assert {t["task"] for t in report["tasks"]} == {"segment", "depth"}
    seg = next(t for t in report["tasks"] if t["task"] == "segment")
    assert seg["metric"] == "argmax_agreement" and seg["value"] >= 0.8
    dep = next(t for t in report["tasks"] if t["task"] == "depth")
    assert dep["metric"] == "relative_rms_error" and dep["value"] < 0.1
    assert len(report["isa"]) == 2 and all(r["bit_exact"] for r in report["isa"])
    assert all(r["latency_ms"] > 0 for r in report["isa"])
    for name in ("report.json", "report.md", "report.png", "m3vit-micro.qmodel.npz"):
        assert (tmp_path / name).is_file()
    assert json.loads((tmp_path / "report.json").read_text())["model"] == "m3vit-micro"
