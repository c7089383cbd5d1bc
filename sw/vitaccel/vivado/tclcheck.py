"""Check a generated build.tcl without Vivado: run it in tclsh against stub Vivado commands.

hw/vivado/vivado_stubs.tcl defines every Vivado command the flow uses. Each stub validates its options and the
design against an expectation file written here from the board config (`expect`: part, board parts, PS type, PL
clock, HP width, number of accelerator masters, HLS IP VLNV), and the simulated tool's behaviour is set with
`stub` keys:

    board_parts_installed  board parts get_board_parts knows (default: the board config's; [] = board files
                           missing -> the script must fall back to the bare part)
    parts_installed        parts get_parts knows (default: the board config's part)
    wns, whs, tns          slack the implementation run reports (ns)
    run_fail               "synth_1" / "impl_1": that run ends in an error
    hwh_layout             gen (2020.2+) | srcs (older releases) | none: where the .hwh appears
    act_mhz                PL clock the PS really generates (default: the requested one)
    hls_width              data width of the HLS IP's masters (default: the board's)
    allow_missing_modules  1: the RTL shell may instantiate a module no source defines (RTL top not written yet)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vitaccel.errors import VitaccelError
from vitaccel.vivado.generate import VivadoBuild, hls_ip_vlnv, vivado_tcl_dir


class TclCheckError(VitaccelError):
    """The generated tcl failed the stub check (message from the stub)."""


@dataclass(frozen=True)
class TclCall:
    name: str
    args: str


@dataclass
class StubResult:
    """Outcome of one stub run: accepted calls, the script's exit code (None: ran to the end), log lines."""

    calls: list[TclCall]
    exit_code: int | None
    lines: list[str] = field(default_factory=list)
    error: str | None = None  # STUB-ERROR message (a violation found by the stubs)

    def names(self) -> list[str]:
        return [c.name for c in self.calls]

    def messages(self) -> list[str]:
        """Lines the script printed itself (vitaccel: ... and VITACCEL-ERROR: ...)."""
        return [ln for ln in self.lines if ln.startswith(("vitaccel:", "VITACCEL-ERROR:"))]


def _tcl_value(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return "[list " + " ".join("{" + str(x) + "}" for x in v) + "]"
    return "{" + str(v) + "}"


def write_expect(path: Path, expect: dict[str, Any], stub: dict[str, Any] | None = None) -> Path:
    lines = [f"set ::expect({k}) {_tcl_value(v)}" for k, v in expect.items()]
    lines += [f"set ::stub({k}) {_tcl_value(v)}" for k, v in (stub or {}).items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def run_stubs(tcl: Path, expect: dict[str, Any], stub: dict[str, Any] | None = None,
              timeout: float = 60, env: dict[str, str] | None = None) -> StubResult:
    """Run `tcl` under the stubs; never raises for a violation (see StubResult.error). `env`: extra environment
    variables for the script (VITACCEL_JOBS, VITACCEL_STOP_AFTER, VITACCEL_IP_REPO, VITACCEL_BOARD_REPO)."""
    tclsh = shutil.which("tclsh")
    if tclsh is None:
        raise TclCheckError("tclsh not found on PATH (apt-get install tcl)")
    exp = write_expect(tcl.parent / ".stub_expect.tcl", expect, stub)
    stubs = vivado_tcl_dir() / "vivado_stubs.tcl"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("VITACCEL_")}
    full_env.update(env or {})
    proc = subprocess.run([tclsh, str(stubs), str(tcl.resolve()), str(exp.resolve())], capture_output=True,
                          text=True, cwd=tcl.parent, check=False, timeout=timeout, env=full_env)
    lines = proc.stdout.splitlines()
    errors = [ln[len("STUB-ERROR "):] for ln in lines if ln.startswith("STUB-ERROR ")]
    exits = [int(ln.split()[1]) for ln in lines if ln.startswith("STUB-EXIT ")]
    calls = []
    for ln in lines:
        if ln.startswith("CMD "):
            name, _, args = ln[4:].partition(" ")
            calls.append(TclCall(name, args))
    ok = any(ln.startswith("STUB-OK") for ln in lines)
    if not errors and not ok and not exits:
        errors = [proc.stderr.strip() or f"tclsh exit code {proc.returncode}"]
    return StubResult(calls=calls, exit_code=exits[0] if exits else None, lines=lines,
                      error=errors[0] if errors else None)


def expectations(build: VivadoBuild) -> dict[str, Any]:
    """What the board config says the design must be (for the stubs)."""
    b = build.board
    exp: dict[str, Any] = {
        "part": b.part,
        "board_parts": [b.board_part, *b.board_part_fallbacks],
        "ps_type": b.ps_type,
        "clock_mhz": f"{build.cfg.clock_mhz:g}",
        "hp_width": build.cfg.axi_data_bits,
        "n_masters": len(build.intf.masters),
        "accel": build.accel,
    }
    if build.accel == "hls":
        exp["ip_vlnv"] = hls_ip_vlnv()
        exp["hls_masters"] = list(build.intf.masters)
    return exp


def check_build(build: VivadoBuild, stub: dict[str, Any] | None = None) -> StubResult:
    """Stub-check a generated build; TclCheckError on a violation or a failing script.

    The stub run stops after the block design when no HLS IP repository exists yet (--accel hls before
    `vitaccel hls --run`): the check then uses a placeholder repository folder so the rest of the flow is checked.
    """
    env: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="vitaccel-stub-ip-") as tmp, \
            tempfile.TemporaryDirectory(prefix="vitaccel-stub-run-") as scratch:
        if build.accel == "hls" and (build.ip_repo is None or not (build.ip_repo / "component.xml").is_file()):
            (Path(tmp) / "component.xml").write_text("<placeholder for the tcl check/>\n")
            env["VITACCEL_IP_REPO"] = tmp
        # The stubs create what a real run leaves behind (an empty .bit, a status JSON, reports): run them on a
        # scratch copy of the build folder (build.tcl locates everything relative to itself), so the user's
        # --out never holds a fake bitstream.
        run_dir = Path(scratch) / build.tcl.parent.name
        shutil.copytree(build.tcl.parent, run_dir)
        res = run_stubs(run_dir / build.tcl.name, expectations(build), stub, env=env)
    if res.error:
        raise TclCheckError(f"{build.tcl}: {res.error}")
    if res.exit_code not in (None, 0):
        errs = [m for m in res.messages() if m.startswith("VITACCEL-ERROR:")]
        raise TclCheckError(f"{build.tcl}: script exited with {res.exit_code}: {errs[0] if errs else ''}")
    return res


__all__ = ["StubResult", "TclCall", "TclCheckError", "check_build", "expectations", "run_stubs", "write_expect"]
