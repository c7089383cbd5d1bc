"""pytest configuration for the RTL regression: puts sim/ on sys.path and prints a summary table."""

from __future__ import annotations

import json
import sys
from pathlib import Path

SIM_DIR = Path(__file__).resolve().parent
if str(SIM_DIR) not in sys.path:
    sys.path.insert(0, str(SIM_DIR))

# cocotb testbench modules (tb_*.py) run inside the simulator, not under pytest.
collect_ignore_glob = ["tb_*.py"]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Table of every simulated configuration: simulator, block, parameters, result, time, speed."""
    rows = []
    for outcome in ("passed", "failed"):
        for rep in terminalreporter.stats.get(outcome, []):
            if getattr(rep, "when", "") != "call":
                continue
            for key, value in getattr(rep, "user_properties", []):
                if key == "vitaccel_sim":
                    d = json.loads(value)
                    d["outcome"] = "PASS" if outcome == "passed" else "FAIL"
                    rows.append(d)
    if not rows:
        return
    rows.sort(key=lambda d: (d["block"], d["params"], d["sim"]))
    tw = terminalreporter
    tw.section("vitaccel RTL regression summary")
    hdr = f"{'block':<14} {'params':<34} {'sim':<9} {'result':<6} {'tests':>5} {'build s':>8} {'run s':>7} {'cycles':>9} {'kcyc/s':>7}"
    tw.write_line(hdr)
    tw.write_line("-" * len(hdr))
    for d in rows:
        tw.write_line(
            f"{d['block']:<14} {d['params'][:34]:<34} {d['sim']:<9} {d['outcome']:<6} {d['tests']:>5} "
            f"{d['build_s']:>8.1f} {d['run_s']:>7.1f} {d['cycles']:>9} {d['kcycles_per_s']:>7.1f}"
        )
    n_fail = sum(d["outcome"] == "FAIL" for d in rows)
    tw.write_line(f"{len(rows)} simulated configurations, {n_fail} failed")
