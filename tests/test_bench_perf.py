"""`vitaccel bench perf`: JSON shape and consistency with the ISA simulator and the performance model."""

from __future__ import annotations

import json

from vitaccel.boards import list_boards
from vitaccel.cli import main
from vitaccel.perf.model import estimate


def test_bench_perf_json(capsys) -> None:
    assert main(["bench", "perf", "--json", "--model", "m3vit-micro", "--repeat", "1"]) == 0
    rows = json.loads(capsys.readouterr().out)["results"]
    kinds = {(r["kind"], r.get("task")) for r in rows if r["kind"] != "estimate"}
    assert kinds == {("golden", "segment"), ("golden", "depth"), ("isa_sim", "segment"), ("isa_sim", "depth")}
    for r in rows:
        if r["kind"] in ("golden", "isa_sim"):
            assert r["seconds_per_image"] > 0
    est = [r for r in rows if r["kind"] == "estimate"]
    assert sorted(r["board"] for r in est) == list_boards()
    z = next(r for r in est if r["board"] == "zcu102")
    # the same figure the estimate command reports (independent call of the model)
    assert z["latency_ms"] == estimate("m3vit-micro", "zcu102")["latency_ms"]
    sim = next(r for r in rows if r["kind"] == "isa_sim" and r["task"] == "segment")
    assert sim["cycles"] > 0 and sim["simulated_cycles_per_second"] > 0
