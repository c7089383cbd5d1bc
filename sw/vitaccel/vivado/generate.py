"""Generate the Vivado build for one board (`vitaccel bitstream --board B --out DIR`).

DIR is self-contained (copy it to a machine with Vivado and run `vivado -mode batch -source build.tcl`):

    build.tcl                    the batch script: VA(...) facts from the board config + AcceleratorConfig, then
                                 tcl/vitaccel_bd.tcl and tcl/ps_<ps_type>.tcl (copied from hw/vivado)
    va_isa.tcl                   vitaccel.isa.to_tcl(cfg): CFG_AXI_DATA_BITS, CFG_CONFIG_HASH, register offsets
    rtl/src/*.sv, rtl/gen/*.sv   RTL build: hw/rtl sources + generated packages (vitaccel.rtlgen.params)
    rtl/vitaccel_bd_top.v        RTL build: Verilog shell the block design references (vitaccel.vivado.ports)
    manifest.json                what was generated and the commands to run
After a Vivado run: vitaccel_<board>.bit + vitaccel_<board>.hwh (same stem, PYNQ), vitaccel_<board>.xsa,
vitaccel_<board>.json (board, part, config hash, clock, slack, report paths), timing_summary.rpt,
utilization.rpt, utilization_hier.rpt, address_map.txt, vivado.log, and the project in DIR/vivado_project/.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vitaccel.boards import AcceleratorConfig, BoardConfig, board_dir, derive_accelerator_config, load_board
from vitaccel.errors import ConfigError, VitaccelError
from vitaccel.isa import to_tcl
from vitaccel.toolchain import build_dir, repo_root
from vitaccel.vivado import ports

PROJECT_NAME = "vitaccel_prj"
PROJECT_DIR = "vivado_project"
BD_NAME = "vitaccel_bd"
CONTROL_RANGE = 0x10000  # 64 KiB aperture (>= the 4 KiB minimum; the register map uses 0x100 of it)
ACCELS = ("rtl", "hls")
STOP_AFTER = ("bd", "synth", "impl", "bitstream")


class VivadoRunError(VitaccelError):
    """The Vivado batch run failed (message: the script's VITACCEL-ERROR line or the log path)."""


def vivado_tcl_dir() -> Path:
    """hw/vivado: the tcl helpers and the stub checker."""
    return repo_root() / "hw" / "vivado"


def rtl_source_dir() -> Path:
    return repo_root() / "hw" / "rtl"


def stem(board: str) -> str:
    """File stem of the .bit / .hwh / .json outputs (PYNQ needs .bit and .hwh with the same stem)."""
    return f"vitaccel_{board}"


def hls_ip_vlnv() -> str:
    """VLNV of the IP `vitaccel hls` exports (vitaccel.hlsgen.project constants)."""
    from vitaccel.hlsgen.project import IP_LIBRARY, IP_VENDOR, IP_VERSION, TOP

    return f"{IP_VENDOR}:{IP_LIBRARY}:{TOP}:{IP_VERSION}"


def default_ip_repo(board: str) -> Path:
    """Where `vitaccel hls --board B --run` leaves the exported IP: build/hls/B/<project>/<solution>/impl/ip."""
    from vitaccel.hlsgen.project import PROJECT, SOLUTION

    return build_dir() / "hls" / board / PROJECT / SOLUTION / "impl" / "ip"


@dataclass
class VivadoBuild:
    """A generated build folder and what went into it."""

    out: Path
    board: BoardConfig
    cfg: AcceleratorConfig
    accel: str
    intf: ports.AccelInterface
    jobs: int
    ip_repo: Path | None = None
    rtl_files: list[str] = field(default_factory=list)  # relative to out, in compile order
    rtl_top_present: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def tcl(self) -> Path:
        return self.out / "build.tcl"

    @property
    def stem(self) -> str:
        return stem(self.board.name)

    @property
    def log(self) -> Path:
        return self.out / "vivado.log"

    def command(self) -> list[str]:
        """The Vivado batch command (run in `out`)."""
        return ["vivado", "-mode", "batch", "-source", "build.tcl", "-nojournal", "-log", "vivado.log"]

    def shell_command(self) -> str:
        return f"cd {self.out} && " + " ".join(self.command())


def _tcl_word(s: str) -> str:
    """A tcl word in braces (paths and names here never contain braces or backslashes)."""
    if any(c in s for c in "{}\\"):
        raise ConfigError(f"cannot quote {s!r} for tcl (contains braces or backslashes)")
    return "{" + s + "}"


def _tcl_list(items: list[str]) -> str:
    return "[list " + " ".join(_tcl_word(i) for i in items) + "]" if items else "{}"


def hp_widths(board: BoardConfig) -> list[int]:
    """HP port widths the board's PS ports take: the board schema's hp_ports.width_bits values up to the board's
    hp_ports.width_bits (zcu102 128: 32 64 128; pynq-z2 64: 32 64). Written into build.tcl as VA(hp_widths)."""
    path = board_dir() / "board.schema.json"
    try:
        enum = json.loads(path.read_text())["properties"]["hp_ports"]["properties"]["width_bits"]["enum"]
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read hp_ports.width_bits.enum ({exc})") from None
    return sorted(int(w) for w in enum if int(w) <= board.hp_port_width_bits)


def _build_tcl(b: VivadoBuild) -> str:
    board, cfg = b.board, b.cfg
    board_parts = [board.board_part, *board.board_part_fallbacks]
    rtl = " ".join(f"[file join $here {' '.join(Path(f).parts)}]" for f in b.rtl_files)
    lines = [
        f"# build.tcl: Vivado block design + bitstream for vitaccel on {board.name} ({board.display_name}).",
        f"# GENERATED by vitaccel.vivado (`vitaccel bitstream --board {board.name}`); do not edit, regenerate.",
        "#",
        "#   vivado -mode batch -source build.tcl -nojournal -log vivado.log",
        "#",
        "# Facts below come from board_configs/*.yaml (vitaccel.boards), the AcceleratorConfig derived from it and",
        "# vitaccel.isa.to_tcl (va_isa.tcl); the flow itself is tcl/vitaccel_bd.tcl + tcl/ps_<ps_type>.tcl.",
        "",
        "set here [file dirname [file normalize [info script]]]",
        "source [file join $here va_isa.tcl]",
        "",
        f"set VA(board) {_tcl_word(board.name)}",
        f"set VA(part) {_tcl_word(board.part)}",
        "# preferred board part first, then the fallbacks (board_part, board_part_fallbacks)",
        f"set VA(board_parts) {_tcl_list(board_parts)}",
        f"set VA(family) {board.family}",
        f"set VA(ps_type) {board.ps_type}",
        "# AcceleratorConfig clock (MHz): requested from the PS for its PL clock 0",
        f"set VA(clock_mhz) {cfg.clock_mhz:g}",
        "# HP port data width = the accelerator's AXI master width (AcceleratorConfig.axi_data_bits)",
        "set VA(hp_width) $VA_ISA(CFG_AXI_DATA_BITS)",
        "set VA(config_axi_ports) $VA_ISA(CFG_AXI_PORTS)",
        "# the PS's HP ports (board config hp_ports.count; widths: board schema hp_ports.width_bits up to the board's)",
        f"set VA(hp_ports) {board.hp_port_count}",
        f"set VA(hp_widths) {{{' '.join(str(w) for w in hp_widths(board))}}}",
        "set VA(config_hash) [format 0x%08x $VA_ISA(CFG_CONFIG_HASH)]",
        ("# accelerator interfaces (vitaccel.vivado.ports): masters = the m_axi bundles of hls/src/vitaccel_top.cpp"
         if b.accel == "hls" else
         "# accelerator interfaces (vitaccel.vivado.ports): the ports of hw/rtl/vitaccel_top.sv via rtl/vitaccel_bd_top.v"),
        f"set VA(control) {b.intf.control}",
        f"set VA(masters) {_tcl_list(list(b.intf.masters))}",
        f"set VA(clock) {b.intf.clock}",
        f"set VA(reset) {b.intf.reset}",
        f"set VA(interrupt) {b.intf.interrupt}",
        f"set VA(control_range) 0x{CONTROL_RANGE:08X}",
        f"set VA(accel) {b.accel}",
        f"set VA(rtl_files) [list {rtl}]" if rtl else "set VA(rtl_files) {}",
        f"set VA(shell_module) {ports.SHELL}",
        f"set VA(ip_repo) {_tcl_word(str(b.ip_repo)) if b.ip_repo else '{}'}",
        f"set VA(ip_vlnv) {hls_ip_vlnv()}",
        f"set VA(jobs) {b.jobs}",
        "set VA(stop_after) bitstream",
        "set VA(allow_timing_failure) 0",
        f"set VA(project_name) {PROJECT_NAME}",
        f"set VA(project_dir) [file join $here {PROJECT_DIR}]",
        f"set VA(bd_name) {BD_NAME}",
        "set VA(out_dir) $here",
        f"set VA(stem) {b.stem}",
        "",
        "source [file join $here tcl vitaccel_bd.tcl]",
        f"source [file join $here tcl ps_{board.ps_type}.tcl]",
        "va_main",
        "",
    ]
    return "\n".join(lines)


def _rtl_packages(cfg: AcceleratorConfig, dest: Path) -> list[Path]:
    """The RTL's generated packages for this config (vitaccel.rtlgen.params.generated_sources), copied to dest.

    generated_sources writes under $VITACCEL_BUILD_DIR/rtl/gen; it is pointed at a private folder for the call so
    the simulation build cache in build/rtl/gen is never rewritten with this board's config.
    """
    import tempfile

    from vitaccel.rtlgen.params import generated_sources

    with tempfile.TemporaryDirectory(prefix="vitaccel-rtlgen-") as tmp:
        old = os.environ.get("VITACCEL_BUILD_DIR")
        os.environ["VITACCEL_BUILD_DIR"] = tmp
        try:
            paths = generated_sources(cfg)
        finally:
            if old is None:
                os.environ.pop("VITACCEL_BUILD_DIR", None)
            else:
                os.environ["VITACCEL_BUILD_DIR"] = old
        out = []
        for p in paths:
            shutil.copyfile(p, dest / p.name)
            out.append(dest / p.name)
    return out


def generate_build(board: str | BoardConfig, out: str | os.PathLike[str], accel: str = "rtl",
                   ip_repo: str | os.PathLike[str] | None = None, jobs: int | None = None,
                   overrides: dict[str, Any] | None = None, allow_timing_failure: bool = False,
                   rtl_dir: str | os.PathLike[str] | None = None) -> VivadoBuild:
    """Write the Vivado build for `board` into `out` (created; generated files are overwritten).

    rtl_dir: RTL sources (default hw/rtl); its vitaccel_top.sv defines the RTL accelerator's ports.
    """
    if accel not in ACCELS:
        raise ConfigError(f"--accel {accel!r}: expected one of {', '.join(ACCELS)}")
    b = board if isinstance(board, BoardConfig) else load_board(board)
    cfg = derive_accelerator_config(b, overrides)
    rtl_dir = Path(rtl_dir) if rtl_dir is not None else rtl_source_dir()
    top = rtl_dir / f"{ports.TOP}.sv"
    notes: list[str] = []
    shell_ports: list[ports.Port] = []
    shell_params: dict[str, int] = {}
    if accel == "rtl":
        shell_ports, shell_params, notes = ports.rtl_build_ports(cfg, top)
        intf = ports.interface_of(shell_ports, cfg.axi_data_bits)
    else:
        intf = ports.accel_interface(cfg)
    if len(intf.masters) > b.hp_port_count:
        raise ConfigError(f"board {b.name}: the accelerator has {len(intf.masters)} AXI masters "
                          f"({', '.join(intf.masters)}) but hp_ports.count is {b.hp_port_count}")
    if cfg.axi_data_bits > b.hp_port_width_bits:
        raise ConfigError(f"board {b.name}: axi_data_bits={cfg.axi_data_bits} exceeds the HP port width "
                          f"{b.hp_port_width_bits} (hp_ports.width_bits)")
    jobs = jobs if jobs is not None else max(1, min(8, os.cpu_count() or 1))
    if jobs < 1:
        raise ConfigError(f"--jobs {jobs}: expected a positive integer")
    out = Path(out)
    for src in (vivado_tcl_dir(), rtl_dir):
        if out.resolve() == src.resolve() or src.resolve() in out.resolve().parents:
            raise ConfigError(f"--out {out} is inside the source folder {src}; generated files go to build/")
    out.mkdir(parents=True, exist_ok=True)
    build = VivadoBuild(out=out, board=b, cfg=cfg, accel=accel, intf=intf, jobs=jobs, notes=list(notes))

    tcl_dir = out / "tcl"
    shutil.rmtree(tcl_dir, ignore_errors=True)
    tcl_dir.mkdir()
    for name in ("vitaccel_bd.tcl", f"ps_{b.ps_type}.tcl"):
        src = vivado_tcl_dir() / name
        if not src.is_file():
            raise ConfigError(f"Vivado tcl helper {src} not found")
        shutil.copyfile(src, tcl_dir / name)
    (out / "va_isa.tcl").write_text(to_tcl(cfg))

    shutil.rmtree(out / "rtl", ignore_errors=True)
    if accel == "rtl":
        gen = out / "rtl" / "gen"
        gen.mkdir(parents=True)
        build.rtl_files = [f"rtl/gen/{p.name}" for p in _rtl_packages(cfg, gen)]
        srcdir = out / "rtl" / "src"
        srcdir.mkdir()
        sources = sorted(p for p in rtl_dir.glob("*") if p.suffix in (".sv", ".v"))
        if not sources:
            raise ConfigError(f"no RTL sources (*.sv, *.v) in {rtl_dir}")
        for p in sources:
            shutil.copyfile(p, srcdir / p.name)
            build.rtl_files.append(f"rtl/src/{p.name}")
        (out / "rtl" / f"{ports.SHELL}.v").write_text(ports.verilog_shell(shell_ports, shell_params))
        build.rtl_files.append(f"rtl/{ports.SHELL}.v")
        build.rtl_top_present = top.is_file()
        if not build.rtl_top_present:
            build.notes.append(f"Vivado will stop at the module reference until {top} exists ({ports.SHELL} "
                               f"instantiates {ports.TOP}); use --accel hls meanwhile")
    else:
        build.ip_repo = Path(ip_repo).resolve() if ip_repo else default_ip_repo(b.name).resolve()
        if not (build.ip_repo / "component.xml").is_file():
            build.notes.append(f"HLS IP not found at {build.ip_repo} (no component.xml): run `vitaccel hls --board "
                               f"{b.name} --run` on a machine with Vitis HLS first, or pass --ip-repo.")
    if len(intf.masters) != cfg.axi_ports:
        build.notes.append(f"the accelerator has {len(intf.masters)} AXI masters ({', '.join(intf.masters)}), so "
                           f"{len(intf.masters)} HP ports are used; AcceleratorConfig.axi_ports is {cfg.axi_ports} "
                           f"(the performance model's DMA bandwidth assumes {cfg.axi_ports} ports)")

    text = _build_tcl(build)
    if allow_timing_failure:
        text = text.replace("set VA(allow_timing_failure) 0", "set VA(allow_timing_failure) 1")
    build.tcl.write_text(text)
    manifest = {
        "generator": "vitaccel.vivado",
        "board": b.name,
        "part": b.part,
        "board_parts": [b.board_part, *b.board_part_fallbacks],
        "ps_type": b.ps_type,
        "accel": accel,
        "clock_mhz": cfg.clock_mhz,
        "config_hash": f"0x{cfg.config_hash():08x}",
        "accelerator": cfg.to_dict(),
        "interfaces": {"control": intf.control, "masters": list(intf.masters), "data_bits": intf.data_bits,
                       "clock": intf.clock, "reset": intf.reset, "interrupt": intf.interrupt},
        "hp_ports_used": len(intf.masters),
        "ip_repo": str(build.ip_repo) if build.ip_repo else None,
        "ip_vlnv": hls_ip_vlnv() if accel == "hls" else None,
        "rtl_files": build.rtl_files,
        "rtl_top_present": build.rtl_top_present if accel == "rtl" else None,
        "outputs": {"bit": f"{build.stem}.bit", "hwh": f"{build.stem}.hwh", "xsa": f"{build.stem}.xsa",
                    "manifest": f"{build.stem}.json", "timing_summary": "timing_summary.rpt",
                    "utilization": "utilization.rpt", "log": "vivado.log"},
        "command": build.shell_command(),
        "notes": build.notes,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return build


def find_vivado() -> str | None:
    """Path of `vivado` on PATH, or None."""
    return shutil.which("vivado")


def run_vivado(build: VivadoBuild, echo: bool = True) -> dict[str, Any]:
    """Run the batch script; return the result manifest (<stem>.json). VivadoRunError on failure.

    echo=False keeps Vivado's console output off stdout (it is in vivado.log either way).
    """
    exe = find_vivado()
    if exe is None:
        raise VivadoRunError("vivado not found on PATH")
    if build.accel == "rtl" and not build.rtl_top_present:
        raise VivadoRunError(f"RTL top {rtl_source_dir() / (ports.TOP + '.sv')} does not exist: the RTL accelerator "
                             "cannot be built yet (use --accel hls)")
    cmd = [exe, *build.command()[1:]]
    proc = subprocess.run(cmd, cwd=build.out, check=False, stdout=None if echo else subprocess.DEVNULL)
    result_path = build.out / f"{build.stem}.json"
    errors: list[str] = []
    if build.log.is_file():
        errors = [ln.split("VITACCEL-ERROR:", 1)[1].strip() for ln in build.log.read_text(errors="replace")
                  .splitlines() if ln.startswith("VITACCEL-ERROR:")]
    if proc.returncode != 0 or errors:
        why = errors[0] if errors else f"exit code {proc.returncode}"
        raise VivadoRunError(f"Vivado failed: {why} (log: {build.log})")
    if not result_path.is_file():
        raise VivadoRunError(f"Vivado finished but wrote no {result_path} (log: {build.log})")
    return json.loads(result_path.read_text())


__all__ = [
    "ACCELS",
    "BD_NAME",
    "PROJECT_DIR",
    "PROJECT_NAME",
    "VivadoBuild",
    "VivadoRunError",
    "default_ip_repo",
    "find_vivado",
    "generate_build",
    "hls_ip_vlnv",
    "hp_widths",
    "run_vivado",
    "stem",
    "vivado_tcl_dir",
]
