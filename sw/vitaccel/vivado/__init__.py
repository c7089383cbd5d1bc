"""Vivado block design + bitstream generation (`vitaccel bitstream`).

`generate.generate_build(board, out, accel)` writes a self-contained batch build (build.tcl + helpers from
hw/vivado); `tclcheck.check_build` runs it in tclsh against stub Vivado commands; `generate.run_vivado` runs the
real tool when `vivado` is on PATH. The accelerator's interface (port list) is `ports`. docs/bitstream.md.
"""

from __future__ import annotations
