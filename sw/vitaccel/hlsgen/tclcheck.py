"""Check a generated run_hls.tcl without Vitis HLS: run it in tclsh against stub commands.

hls/tcl/vitis_hls_stubs.tcl defines every Vitis HLS command the script uses; each stub validates its options
and the project's expectations (part from the board config, top name, clock period, files that exist, legal
order) and logs the call. `check_tcl` returns the logged calls or raises TclCheckError with the stub's message.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from vitaccel.errors import VitaccelError
from vitaccel.hlsgen.project import TOP, HlsProject, clock_period_ns
from vitaccel.hlsgen.toolchain import hls_source_dir


class TclCheckError(VitaccelError):
    """The generated tcl failed the stub check (message from the stub)."""


@dataclass(frozen=True)
class TclCall:
    name: str
    args: str


def run_stub_check(tcl: Path, part: str, top: str, period_ns: str) -> list[TclCall]:
    """Run `tcl` under the stubs; return the accepted calls in order (TclCheckError on any violation)."""
    tclsh = shutil.which("tclsh")
    if tclsh is None:
        raise TclCheckError("tclsh not found on PATH (apt-get install tcl)")
    stubs = hls_source_dir() / "tcl" / "vitis_hls_stubs.tcl"
    proc = subprocess.run([tclsh, str(stubs), str(tcl.resolve()), part, top, period_ns], capture_output=True, text=True,
                          cwd=tcl.parent, check=False, timeout=60)
    lines = proc.stdout.splitlines()
    errors = [ln[len("STUB-ERROR "):] for ln in lines if ln.startswith("STUB-ERROR ")]
    if proc.returncode != 0 or errors or not any(ln.startswith("STUB-OK") for ln in lines):
        msg = errors[0] if errors else (proc.stderr.strip() or f"tclsh exit code {proc.returncode}")
        raise TclCheckError(f"{tcl}: {msg}")
    calls = []
    for ln in lines:
        if ln.startswith("CMD "):
            name, _, args = ln[4:].partition(" ")
            calls.append(TclCall(name, args))
    return calls


def check_tcl(proj: HlsProject) -> list[TclCall]:
    """Stub-check a generated project's run_hls.tcl against its board config."""
    return run_stub_check(proj.tcl, proj.board.part, TOP, clock_period_ns(proj.cfg.clock_mhz))
