"""`vitaccel bitstream`: generate the Vivado build for a board; run it when Vivado is on PATH."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import click

from vitaccel.boards.accel import parse_overrides
from vitaccel.errors import ConfigError


@click.command("bitstream")
@click.option("--board", required=True, help="Board name (board_configs/<name>.yaml) or path to a board YAML.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Output folder (default build/bitstream/<board>).")
@click.option("--accel", type=click.Choice(["hls", "rtl"]), default="hls", show_default=True,
              help="Accelerator implementation: the HLS IP (`vitaccel hls --run` exports it) or the RTL module "
                   "accelerator (hw/rtl: every instruction, bit-exact against the ISA simulator in simulation).")
@click.option("--ip-repo", type=click.Path(path_type=Path), default=None,
              help="--accel hls: IP repository holding the exported IP (default build/hls/<board>/vitaccel_hls/"
                   "solution1/impl/ip).")
@click.option("--jobs", type=click.IntRange(min=1), default=None, help="Vivado parallel jobs (default: CPUs, max 8).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="AcceleratorConfig override, e.g. --set clock_mhz=250 (repeatable).")
@click.option("--run/--no-run", "do_run", default=None,
              help="Run Vivado after generating. Default: run when vivado is on PATH. --run without vivado fails; "
                   "--no-run only generates.")
@click.option("--allow-timing-failure", is_flag=True,
              help="Copy the .bit/.hwh even when the routed design has negative slack (default: fail).")
@click.option("--check-tcl/--no-check-tcl", default=True, show_default=True,
              help="Check the generated tcl in tclsh against stub Vivado commands before anything else.")
@click.option("--json", "as_json", is_flag=True, help="JSON summary on stdout.")
def bitstream_cmd(board: str, out_dir: Path | None, accel: str, ip_repo: Path | None, jobs: int | None,
                  overrides: tuple[str, ...], do_run: bool | None, allow_timing_failure: bool, check_tcl: bool,
                  as_json: bool) -> None:
    """Vivado block design + bitstream for a board: writes OUT/build.tcl (+ helpers). With vivado on PATH it runs
    `vivado -mode batch -source build.tcl` and leaves OUT/vitaccel_<board>.bit + .hwh (PYNQ: same stem) and
    OUT/vitaccel_<board>.json. Without vivado it stops after generation and prints the command to run elsewhere."""
    from vitaccel.boards import load_board
    from vitaccel.vivado.generate import find_vivado, generate_build, run_vivado

    b = load_board(board)
    out = out_dir if out_dir is not None else Path("build") / "bitstream" / b.name
    build = generate_build(b, out, accel=accel, ip_repo=ip_repo, jobs=jobs, overrides=parse_overrides(overrides),
                           allow_timing_failure=allow_timing_failure)
    log = sys.stderr if as_json else sys.stdout
    summary: dict[str, object] = {
        "board": b.name, "part": b.part, "board_parts": [b.board_part, *b.board_part_fallbacks],
        "accel": accel, "clock_mhz": build.cfg.clock_mhz, "config_hash": f"0x{build.cfg.config_hash():08x}",
        "masters": list(build.intf.masters), "out": str(build.out), "tcl": str(build.tcl),
        "command": build.shell_command(), "notes": build.notes,
    }
    print(f"generated the Vivado build for {b.name} ({b.part}, {b.ps_type}, {build.cfg.clock_mhz:g} MHz, accelerator "
          f"{accel}, {len(build.intf.masters)} AXI master(s) -> HP ports) in {build.out}", file=log)
    if accel == "rtl":
        build.notes.append("the RTL accelerator is verified in simulation only (cocotb / Verilator harness, "
                           "bit-exact); its fit is a yosys estimate (`vitaccel estimate --board B --rtl`, measured "
                           "for zcu102) and timing closure at the board clock has not been attempted: check "
                           "Vivado's utilization and timing reports before using the bitstream")
    for note in build.notes:
        print(f"note: {note}", file=log)
    if check_tcl and shutil.which("tclsh") is None:
        print("note: tclsh not found: the stub check of build.tcl is skipped", file=log)
    elif check_tcl:
        from vitaccel.vivado.tclcheck import check_build

        stub = {"allow_missing_modules": 1} if accel == "rtl" and not build.rtl_top_present else {}
        res = check_build(build, stub)
        summary["tcl_check"] = {"ok": True, "commands": len(res.calls)}
        print(f"tcl check (tclsh + stub Vivado commands): ok, {len(res.calls)} commands", file=log)
    exe = find_vivado()
    if exe is None or do_run is False:
        summary["ran"] = False
        if exe is None:
            print(f"vivado not found on PATH: stopped after generation. On a machine with Vivado run:\n"
                  f"  {build.shell_command()}\n"
                  f"That run writes {build.out}/{build.stem}.bit + {build.stem}.hwh (+ .xsa, {build.stem}.json); "
                  f"nothing of that exists yet.", file=log)
        else:
            print(f"--no-run: not running {exe}. Run:\n  {build.shell_command()}", file=log)
        if as_json:
            click.echo(json.dumps(summary, indent=2))
        if exe is None and do_run:
            raise ConfigError("--run was requested but vivado is not on PATH (source <Vivado>/settings64.sh); the "
                              f"build is generated in {build.out}")
        return
    print(f"running {exe} in {build.out}; log: {build.log}", file=log)
    result = run_vivado(build, echo=not as_json)
    summary.update(ran=True, result=result)
    print(f"bitstream: {build.out / str(result.get('bit', ''))}\nhwh: {build.out / str(result.get('hwh', ''))}\n"
          f"timing: WNS {result.get('wns_ns')} ns, WHS {result.get('whs_ns')} ns; reports in {build.out}", file=log)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
