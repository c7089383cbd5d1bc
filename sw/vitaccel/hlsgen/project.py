"""Generate a complete Vitis HLS project for one board (`vitaccel hls --board B --out DIR`).

The output folder is self-contained (copy it to a machine with Vitis HLS and run it there):

    run_hls.tcl          vitis_hls -f run_hls.tcl  /  vitis-run --mode hls --tcl run_hls.tcl
    hls_config.cfg       Vitis 2023.1+ unified flow (v++ -c --mode hls / vitis-run --mode hls --csim ...)
    src/                 kernel top (synthesized)          <- hls/src
    include/             HLS function headers              <- hls/include
    generated/           va_params.h, va_tables.h, va_isa.h  (from vitaccel.golden / boards / isa)
    tb/                  C++ testbench (csim and cosim)    <- hls/tb
    tb_data/             test program, memory image, input and expected output for the testbench
    manifest.json        board, AcceleratorConfig, file list, commands

Part, clock period and top name come from the board config and the generator, never from hand-written tcl.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vitaccel.boards import AcceleratorConfig, BoardConfig, derive_accelerator_config, load_board
from vitaccel.errors import ConfigError
from vitaccel.hlsgen.headers import DEPTHS_HEADER, depths_header, generated_headers
from vitaccel.hlsgen.toolchain import hls_source_dir

TOP = "vitaccel_top"
PROJECT = "vitaccel_hls"
SOLUTION = "solution1"
IP_VENDOR = "vitaccel.org"
IP_LIBRARY = "hls"
IP_VERSION = "1.0"
CFLAGS = "-std=c++14"
VENDOR_TOOLS = ("vitis_hls", "vitis-run")


def clock_period_ns(clock_mhz: float) -> str:
    """Clock period in ns as written into the tcl (3 decimals, trailing zeros dropped): 300 MHz -> 3.333."""
    text = f"{1000.0 / clock_mhz:.3f}".rstrip("0").rstrip(".")
    return text


@dataclass
class HlsProject:
    """A generated project: its folder and what went into it."""

    out: Path
    board: BoardConfig
    cfg: AcceleratorConfig
    syn_files: list[str] = field(default_factory=list)  # relative to out
    tb_files: list[str] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)
    generated: list[str] = field(default_factory=list)
    tb_data: list[str] = field(default_factory=list)

    @property
    def tcl(self) -> Path:
        return self.out / "run_hls.tcl"

    @property
    def config_file(self) -> Path:
        return self.out / "hls_config.cfg"

    def commands(self) -> dict[str, str]:
        """The exact shell commands that run the vendor flow (in the project folder)."""
        d = str(self.out)
        return {
            "vitis_hls": f"cd {d} && vitis_hls -f run_hls.tcl",
            "vitis-run": f"cd {d} && vitis-run --mode hls --tcl run_hls.tcl",
            "v++ (2023.1+ config flow)": f"cd {d} && v++ -c --mode hls --config hls_config.cfg --work_dir {PROJECT}",
        }


def _subst(template: str, values: dict[str, str]) -> str:
    def rep(m: re.Match[str]) -> str:
        key = m.group(1)
        if key not in values:
            raise KeyError(f"template placeholder @{key}@ has no value")
        return values[key]

    return re.sub(r"@([A-Z_]+)@", rep, template)


def _copy_tree(src: Path, dst: Path, suffixes: tuple[str, ...]) -> list[Path]:
    out = []
    if not src.is_dir():
        return out
    for p in sorted(src.rglob("*")):
        if p.is_file() and p.suffix in suffixes:
            target = dst / p.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(p, target)
            out.append(target)
    return out


def _tcl_quote(path: str) -> str:
    return "[file join $here " + " ".join(Path(path).parts) + "]"


def generate_project(board: str | BoardConfig, out: str | os.PathLike[str],
                     overrides: dict[str, Any] | None = None, tb_data: dict[str, bytes] | None = None) -> HlsProject:
    """Write the project for `board` into `out` (created; generated files are overwritten).

    tb_data: file name -> bytes for tb_data/ (program.bin, image.bin, input.bin, expected.bin); default: the
    built-in self-check program of vitaccel.hlsgen.testprog when the kernel top is present.
    """
    b = board if isinstance(board, BoardConfig) else load_board(board)
    cfg = derive_accelerator_config(b, overrides)
    out = Path(out)
    src = hls_source_dir()
    if out.resolve() == src.resolve() or src.resolve() in out.resolve().parents:
        raise ConfigError(f"--out {out} is inside the source folder {src}; generated files go to build/")
    out.mkdir(parents=True, exist_ok=True)
    for sub in ("src", "include", "generated", "tb", "tb_data"):
        shutil.rmtree(out / sub, ignore_errors=True)
    proj = HlsProject(out=out, board=b, cfg=cfg)
    proj.headers = [str(p.relative_to(out)) for p in _copy_tree(src / "include", out / "include", (".h",))]
    proj.syn_files = [str(p.relative_to(out)) for p in _copy_tree(src / "src", out / "src", (".cpp", ".h"))
                      if p.suffix == ".cpp"]
    proj.tb_files = [str(p.relative_to(out)) for p in _copy_tree(src / "tb", out / "tb", (".cpp", ".h"))
                     if p.suffix == ".cpp"]
    if not proj.syn_files:
        raise ConfigError(f"no kernel sources found in {src / 'src'}")
    gen = out / "generated"
    gen.mkdir(parents=True, exist_ok=True)
    for name, text in generated_headers(cfg).items():
        (gen / name).write_text(text)
        proj.generated.append(f"generated/{name}")
    (out / "tb_data").mkdir(exist_ok=True)
    if tb_data is None:
        from vitaccel.hlsgen.testprog import default_tb_data

        tb_data = default_tb_data(cfg)
    for name, data in tb_data.items():
        (out / "tb_data" / name).write_bytes(data)
        proj.tb_data.append(f"tb_data/{name}")
    # m_axi depths for co-simulation: what the testbench passes (at least one AXI word each)
    (gen / DEPTHS_HEADER).write_text(depths_header(
        cfg.axi_data_bits, len(tb_data.get("program.bin", b"")), len(tb_data.get("image.bin", b"")),
        len(tb_data.get("input.bin", b"")), len(tb_data.get("expected.bin", b""))))
    proj.generated.append(f"generated/{DEPTHS_HEADER}")

    values = {
        "BOARD": b.name,
        "PART": b.part,
        "CLOCK_MHZ": f"{cfg.clock_mhz:g}",
        "PERIOD_NS": clock_period_ns(cfg.clock_mhz),
        "TOP": TOP,
        "PROJECT": PROJECT,
        "SOLUTION": SOLUTION,
        "CFLAGS": CFLAGS,
        "IP_VENDOR": IP_VENDOR,
        "IP_LIBRARY": IP_LIBRARY,
        "IP_VERSION": IP_VERSION,
        "IP_DESCRIPTION": f"vitaccel ViT/MoE accelerator {cfg.array_rows}x{cfg.array_cols} for {b.name}",
    }
    add = [f"add_files {_tcl_quote(f)} -cflags $cflags" for f in proj.syn_files]
    add += [f"add_files -tb {_tcl_quote(f)} -cflags $cflags" for f in proj.tb_files]
    add += ["add_files -tb [file join $here tb_data]"]
    tcl = _subst((src / "tcl" / "run_hls.tcl.in").read_text(), {**values, "ADD_FILES": "\n".join(add)})
    proj.tcl.write_text(tcl)
    cfg_text = _subst((src / "tcl" / "hls_config.cfg.in").read_text(), {
        **values,
        "SYN_FILES": "\n".join(f"syn.file={f}" for f in proj.syn_files),
        "TB_FILES": "\n".join([*(f"tb.file={f}" for f in proj.tb_files), "tb.file=tb_data"]),
    })
    proj.config_file.write_text(cfg_text)
    manifest = {
        "generator": "vitaccel.hlsgen",
        "board": b.name,
        "part": b.part,
        "clock_mhz": cfg.clock_mhz,
        "clock_period_ns": values["PERIOD_NS"],
        "top": TOP,
        "accelerator": cfg.to_dict(),
        "config_hash": f"0x{cfg.config_hash():08x}",
        "files": {"syn": proj.syn_files, "tb": proj.tb_files, "include": proj.headers,
                  "generated": proj.generated, "tb_data": proj.tb_data},
        "commands": proj.commands(),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return proj


def find_vendor_tool() -> tuple[str, str] | None:
    """(name, path) of the first Vitis HLS front end on PATH, or None."""
    for name in VENDOR_TOOLS:
        path = shutil.which(name)
        if path:
            return name, path
    return None


def run_vendor_flow(proj: HlsProject, steps: str | None = None) -> int:
    """Run the tcl with vitis_hls (or vitis-run --mode hls --tcl); returns the exit code. Output goes to
    vitis_hls.log in the project folder as well as to the terminal."""
    tool = find_vendor_tool()
    if tool is None:
        raise ConfigError("neither vitis_hls nor vitis-run is on PATH")
    name, path = tool
    cmd = [path, "-f", "run_hls.tcl"] if name == "vitis_hls" else [path, "--mode", "hls", "--tcl", "run_hls.tcl"]
    env = dict(os.environ)
    if steps:
        env["VITACCEL_HLS_STEPS"] = steps
    with open(proj.out / "vitis_hls.log", "w") as log:
        proc = subprocess.run(cmd, cwd=proj.out, env=env, stdout=log, stderr=subprocess.STDOUT, check=False)
    return proc.returncode
