"""Verilator speed benchmark (no cocotb): the zcu102-sized MAC array (32 x 64, 2048 MACs) driven every cycle.

    .venv/bin/python sim/bench/bench_verilator.py [--cycles N] [--json]

Builds with `verilator --binary -O3` into build/bench/verilator_mac_array (cached) and reports simulated clock
cycles per second of wall time. The cocotb block regressions are bound by the Python testbench instead (their
kcycles/s are in the `make sim` summary table).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

from vitaccel import toolchain
from vitaccel.rtlgen.params import generated_sources


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=200_000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    v = toolchain.verilator()
    if not v.found:
        print(f"skip: {v.reason}", file=sys.stderr)
        return 0
    out = toolchain.build_dir() / "bench" / "verilator_mac_array"
    out.mkdir(parents=True, exist_ok=True)
    tb = Path(__file__).with_name("bench_mac_array_tb.sv")
    srcs = [*map(str, generated_sources()),
            *(str(toolchain.rtl_dir() / f) for f in ("vitaccel_dsp_macc.sv", "vitaccel_mac_array.sv")), str(tb)]
    exe = out / "Vbench_mac_array_tb"
    t0 = time.monotonic()
    if not exe.is_file() or any(Path(s).stat().st_mtime > exe.stat().st_mtime for s in srcs):
        cmd = [v.path, "--binary", "-O3", "-Wno-fatal", "-Wno-lint", "-Wno-style", "--top-module", "bench_mac_array_tb",
               "-Mdir", str(out), "-CFLAGS", "-std=c++20 -O2", "-MAKEFLAGS", "CFG_CXXFLAGS_PCH_I=-include", *srcs]
        r = subprocess.run(cmd, capture_output=True, text=True, env=toolchain.tool_env())
        if r.returncode != 0:
            print(r.stdout[-3000:] + r.stderr[-3000:], file=sys.stderr)
            return 1
    build_s = time.monotonic() - t0
    t0 = time.monotonic()
    r = subprocess.run([str(exe), f"+cycles={args.cycles}"], capture_output=True, text=True)
    run_s = time.monotonic() - t0
    m = re.search(r"BENCH cycles=(\d+) checksum=([0-9a-f]+)", r.stdout)
    if r.returncode != 0 or not m:
        print(r.stdout + r.stderr, file=sys.stderr)
        return 1
    cycles = int(m.group(1))
    res = {"design": "vitaccel_mac_array 32x64 PACK=2 (2048 int8 MACs)", "simulator": f"verilator {v.version}",
           "cycles": cycles, "run_s": round(run_s, 3), "cycles_per_s": round(cycles / run_s),
           "build_s": round(build_s, 1), "checksum": m.group(2)}
    if args.json:
        print(json.dumps(res))
    else:
        print(f"{res['design']}: {res['cycles_per_s']:,} simulated cycles/s ({cycles} cycles in {run_s:.2f} s; "
              f"build {build_s:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
