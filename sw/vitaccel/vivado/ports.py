"""The accelerator's top-level interface as the block design sees it (one place for the port list).

Both builds expose the same interfaces, so one block design serves either:

| interface          | kind                          | clock / width                                              |
|--------------------|-------------------------------|------------------------------------------------------------|
| `s_axi_control`    | AXI4-Lite slave (Vitis HLS s_axilite layout, `vitaccel.isa.regmap`) | 32-bit data, address bits = log2(`regmap.ADDR_SPACE_BYTES`) |
| `m_axi_<bundle>`   | AXI4 master to DDR, one per bundle of the HLS top (`hls/src/vitaccel_top.cpp`) | `AcceleratorConfig.axi_data_bits` data, 64-bit address |
| `ap_clk`           | clock, associated with every AXI interface | the PS PL clock (`AcceleratorConfig.clock_mhz`)  |
| `ap_rst_n`         | reset, active low, synchronous |                                                           |
| `interrupt`        | level-high interrupt (GIE & ISR) |                                                         |

HLS build: the master bundles are read from the `#pragma HLS INTERFACE mode = m_axi ... bundle = X` lines of the
HLS top (hls/src/vitaccel_top.cpp), in order of first appearance.
RTL build: the ports are read from hw/rtl/vitaccel_top.sv when it exists (`rtl_top_ports`: clock, reset,
interrupt, a complete s_axi_control and at least one complete m_axi_* master of the configured width are required;
the parameters CONFIG_HASH and DATA_W are set from the AcceleratorConfig). Until it exists, the expected list is
`rtl_ports(accel_interface(cfg))`: the HLS names with Vitis HLS signal naming (`m_axi_<bundle>_ARADDR`, upper-case
AXI signal suffix, as vitaccel_ctrl.sv does for `s_axi_control_*`).
The block design code is generic in the masters: one SmartConnect + HP port per master, whatever the build has.

Vivado's module-reference feature does not accept SystemVerilog for the referenced top (UG994, "Limitations of the
Module Reference Feature"), so the block design references a generated Verilog-2001 shell `vitaccel_bd_top`
(`verilog_shell`) that instantiates the SystemVerilog `vitaccel_top` port for port and carries the
X_INTERFACE_INFO attributes (clock/reset/interrupt association, AXI interface inference).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from vitaccel.errors import ConfigError
from vitaccel.isa import regmap

CONTROL = "s_axi_control"
CLOCK = "ap_clk"
RESET = "ap_rst_n"
INTERRUPT = "interrupt"
TOP = "vitaccel_top"  # RTL and HLS top name
SHELL = "vitaccel_bd_top"  # generated Verilog shell referenced by the block design (RTL build)
M_AXI_ADDR_BITS = 64  # the register map carries 64-bit addresses; HLS: config_interface -m_axi_addr64=true
CONTROL_DATA_BITS = 32


@dataclass(frozen=True)
class Port:
    """One top-level port: name, direction (in/out, from the accelerator's side), width in bits, interface."""

    name: str
    direction: str
    width: int
    interface: str = ""  # "" for clock / reset / interrupt
    logical: str = ""  # AXI signal name (ARADDR, ...)


@dataclass(frozen=True)
class AccelInterface:
    """Interfaces of the accelerator top: AXI4-Lite control slave, AXI4 masters, clock, reset, interrupt."""

    control: str
    masters: tuple[str, ...]  # interface names, e.g. ("m_axi_gmem_prog", ...)
    data_bits: int
    control_addr_bits: int
    clock: str = CLOCK
    reset: str = RESET
    interrupt: str = INTERRUPT


_BUNDLE_RE = re.compile(r"#pragma\s+HLS\s+INTERFACE\b[^\n]*\bm_axi\b[^\n]*\bbundle\s*=\s*(\w+)", re.IGNORECASE)


def hls_top_source() -> Path:
    """The HLS top function source (hls/src/vitaccel_top.cpp)."""
    from vitaccel.hlsgen.toolchain import hls_source_dir

    return hls_source_dir() / "src" / f"{TOP}.cpp"


def hls_master_bundles(source: Path | None = None) -> tuple[str, ...]:
    """m_axi bundle names of the HLS top, in order of first appearance."""
    path = source or hls_top_source()
    if not path.is_file():
        raise ConfigError(f"HLS top source not found at {path}: it defines the accelerator's AXI master bundles")
    seen: list[str] = []
    for m in _BUNDLE_RE.finditer(path.read_text()):
        if m.group(1) not in seen:
            seen.append(m.group(1))
    if not seen:
        raise ConfigError(f"{path}: no '#pragma HLS INTERFACE mode = m_axi ... bundle = NAME' line found")
    return tuple(seen)


def control_addr_bits() -> int:
    """Address bits of s_axi_control: log2 of the register map's address space."""
    return max(1, (regmap.ADDR_SPACE_BYTES - 1).bit_length())


def accel_interface(cfg, source: Path | None = None) -> AccelInterface:
    """The accelerator's interfaces for an AcceleratorConfig (masters from the HLS top's bundles)."""
    return AccelInterface(
        control=CONTROL,
        masters=tuple(f"m_axi_{b}" for b in hls_master_bundles(source)),
        data_bits=int(cfg.axi_data_bits),
        control_addr_bits=control_addr_bits(),
    )


def _axi_lite_slave(prefix: str, addr: int, data: int) -> list[Port]:
    sig = [("AWADDR", "in", addr), ("AWVALID", "in", 1), ("AWREADY", "out", 1),
           ("WDATA", "in", data), ("WSTRB", "in", data // 8), ("WVALID", "in", 1), ("WREADY", "out", 1),
           ("BRESP", "out", 2), ("BVALID", "out", 1), ("BREADY", "in", 1),
           ("ARADDR", "in", addr), ("ARVALID", "in", 1), ("ARREADY", "out", 1),
           ("RDATA", "out", data), ("RRESP", "out", 2), ("RVALID", "out", 1), ("RREADY", "in", 1)]
    return [Port(f"{prefix}_{s}", d, w, prefix, s) for s, d, w in sig]


def _axi4_master(prefix: str, addr: int, data: int) -> list[Port]:
    """AXI4 master without ID / USER / REGION signals (single-ID masters)."""
    def addr_channel(c: str) -> list[tuple[str, str, int]]:
        return [(f"{c}ADDR", "out", addr), (f"{c}LEN", "out", 8), (f"{c}SIZE", "out", 3), (f"{c}BURST", "out", 2),
                (f"{c}LOCK", "out", 1), (f"{c}CACHE", "out", 4), (f"{c}PROT", "out", 3), (f"{c}QOS", "out", 4),
                (f"{c}VALID", "out", 1), (f"{c}READY", "in", 1)]

    sig = [*addr_channel("AW"),
           ("WDATA", "out", data), ("WSTRB", "out", data // 8), ("WLAST", "out", 1), ("WVALID", "out", 1),
           ("WREADY", "in", 1), ("BRESP", "in", 2), ("BVALID", "in", 1), ("BREADY", "out", 1),
           *addr_channel("AR"),
           ("RDATA", "in", data), ("RRESP", "in", 2), ("RLAST", "in", 1), ("RVALID", "in", 1), ("RREADY", "out", 1)]
    return [Port(f"{prefix}_{s}", d, w, prefix, s) for s, d, w in sig]


def rtl_ports(intf: AccelInterface) -> list[Port]:
    """The port list the RTL top `vitaccel_top` must have (and the Verilog shell has), in declaration order."""
    ports = [Port(intf.clock, "in", 1), Port(intf.reset, "in", 1)]
    ports += _axi_lite_slave(intf.control, intf.control_addr_bits, CONTROL_DATA_BITS)
    for m in intf.masters:
        ports += _axi4_master(m, M_AXI_ADDR_BITS, intf.data_bits)
    ports.append(Port(intf.interrupt, "out", 1))
    return ports


_SV_LITERAL_RE = re.compile(r"(\d*)'([sS]?)([hHdDbBoO])([0-9a-fA-F_xXzZ]+)")


def _sv_int(expr: str, params: dict[str, int]) -> int:
    """Evaluate a constant SV expression of integers, parameters and + - * / ( ) (integer division)."""
    def lit(m: re.Match[str]) -> str:
        base = {"h": 16, "d": 10, "b": 2, "o": 8}[m.group(3).lower()]
        return str(int(m.group(4).replace("_", ""), base))

    text = _SV_LITERAL_RE.sub(lit, expr)
    text = re.sub(r"\b[A-Za-z_]\w*\b", lambda m: str(params[m.group(0)]) if m.group(0) in params else m.group(0), text)
    if not re.fullmatch(r"[\d\s+\-*/()]+", text):
        raise ConfigError(f"cannot evaluate the SystemVerilog expression {expr!r} (got {text!r})")
    return int(eval(text.replace("/", "//"), {"__builtins__": {}}, {}))


@dataclass(frozen=True)
class SvModule:
    """Header of a SystemVerilog module: parameters (name -> default expression) and ANSI ports."""

    name: str
    params: dict[str, str]
    ports: list[tuple[str, str, str | None]]  # (direction input/output, range text "[A:B]" or None, name)

    def widths(self, overrides: dict[str, int] | None = None) -> dict[str, int]:
        """Port name -> width in bits with the parameter defaults (and `overrides`) applied."""
        vals: dict[str, int] = {}
        for k, v in self.params.items():
            vals[k] = _sv_int(v, vals)
        vals.update(overrides or {})
        out = {}
        for _, rng, name in self.ports:
            if rng is None:
                out[name] = 1
            else:
                hi, lo = rng.strip()[1:-1].split(":")
                out[name] = abs(_sv_int(hi, vals) - _sv_int(lo, vals)) + 1
        return out


def parse_sv_module(text: str, module: str = TOP) -> SvModule:
    """Parameters and ANSI ports of `module` (comments removed; one declaration per port)."""
    text = re.sub(r"//[^\n]*", "", re.sub(r"/\*.*?\*/", "", text, flags=re.DOTALL))
    m = re.search(rf"\bmodule\s+{module}\b", text)
    if not m:
        raise ConfigError(f"module {module} not found")
    rest = text[m.end():]
    params: dict[str, str] = {}
    pm = re.match(r"\s*#\s*\(", rest)
    if pm:
        depth, i = 1, pm.end()
        while depth and i < len(rest):
            depth += {"(": 1, ")": -1}.get(rest[i], 0)
            i += 1
        for d in re.finditer(r"parameter\s+(?:[\w\s]*?(?:\[[^\]]*\])?\s*)?([A-Za-z_]\w*)\s*=\s*([^,]+)",
                             rest[pm.end():i - 1]):
            params[d.group(1)] = d.group(2).strip()
        rest = rest[i:]
    depth, i = 0, rest.index("(")
    for i in range(rest.index("("), len(rest)):
        depth += {"(": 1, ")": -1}.get(rest[i], 0)
        if depth == 0:
            break
    header = rest[rest.index("(") + 1:i]
    ports = []
    for item in header.split(","):
        d = re.match(r"\s*(input|output|inout)\s+(?:wire\s+|logic\s+|reg\s+|var\s+logic\s+)?(?:signed\s+)?"
                     r"(\[[^\]]*\])?\s*([A-Za-z_]\w*)\s*$", item)
        if d:
            ports.append((d.group(1), d.group(2), d.group(3)))
    return SvModule(module, params, ports)


_INTF_RE = re.compile(r"^([sm]_axi_\w+?)_([A-Z]+)$")
REQUIRED_AXI = ("AWADDR", "AWVALID", "AWREADY", "WDATA", "WSTRB", "WVALID", "WREADY", "BRESP", "BVALID", "BREADY",
                "ARADDR", "ARVALID", "ARREADY", "RDATA", "RRESP", "RVALID", "RREADY")
REQUIRED_AXI4_MASTER = (*REQUIRED_AXI, "AWLEN", "AWSIZE", "AWBURST", "WLAST", "ARLEN", "ARSIZE", "ARBURST", "RLAST")
# RTL top parameters the shell sets from the AcceleratorConfig (others keep their defaults)
def _rtl_param_values(cfg) -> dict[str, int]:
    """Every vitaccel_top parameter from the AcceleratorConfig (one source: vitaccel.rtlgen.params.top_parameters;
    the block design uses 64-bit AXI addresses), as integers."""
    from vitaccel.rtlgen.params import top_parameters

    vals: dict[str, int] = {}
    for k, v in top_parameters(cfg, addr_w=64).items():
        vals[k] = int(v.split("'h", 1)[1], 16) if isinstance(v, str) and "'h" in v else int(v)  # 32'hXXXXXXXX
    return vals


def rtl_top_ports(mod: SvModule, cfg) -> tuple[list[Port], dict[str, int], list[str]]:
    """(ports with widths, parameter overrides, notes) of an existing RTL top; ConfigError when it cannot be
    connected (missing clock/reset/interrupt, incomplete AXI interface, wrong master width)."""
    overrides = {k: v for k, v in _rtl_param_values(cfg).items() if k in mod.params}
    notes = [f"RTL top parameter {k} not found: {k}={v} from the AcceleratorConfig is not applied"
             for k, v in _rtl_param_values(cfg).items() if k not in mod.params]
    widths = mod.widths(overrides)
    ports: list[Port] = []
    for direction, _, name in mod.ports:
        d = {"input": "in", "output": "out"}.get(direction)
        if d is None:
            raise ConfigError(f"{mod.name}: inout port {name} cannot be connected in the block design")
        mi = _INTF_RE.match(name)
        if mi:
            ports.append(Port(name, d, widths[name], mi.group(1), mi.group(2)))
        else:
            ports.append(Port(name, d, widths[name]))
    names = {p.name: p for p in ports}
    problems = [f"no {want} port {n}" for n, want in ((CLOCK, "clock"), (RESET, "reset"), (INTERRUPT, "interrupt"))
                if n not in names]
    intfs: dict[str, dict[str, Port]] = {}
    for p in ports:
        if p.interface:
            intfs.setdefault(p.interface, {})[p.logical] = p
        elif p.name not in (CLOCK, RESET, INTERRUPT):
            problems.append(f"port {p.name} belongs to no interface (the block design would leave it open)")
    if CONTROL not in intfs:
        problems.append(f"no {CONTROL}_* AXI4-Lite slave")
    masters = [i for i in intfs if i.startswith("m_axi_")]
    if not masters:
        problems.append("no m_axi_* AXI4 master")
    for i, sigs in intfs.items():
        missing = [s for s in (REQUIRED_AXI4_MASTER if i in masters else REQUIRED_AXI) if s not in sigs]
        if missing:
            problems.append(f"interface {i} lacks {', '.join(missing)}")
        if i in masters and "WDATA" in sigs and sigs["WDATA"].width != cfg.axi_data_bits:
            problems.append(f"{i}_WDATA is {sigs['WDATA'].width} bits, the board config gives {cfg.axi_data_bits}")
    if problems:
        raise ConfigError(f"RTL top {mod.name}: " + "; ".join(problems))
    return ports, overrides, notes


def check_rtl_top(path: Path, intf: AccelInterface) -> list[str]:
    """Differences between an RTL top's port names/directions and the expected list (empty when they match)."""
    try:
        mod = parse_sv_module(path.read_text())
    except ConfigError as exc:
        return [f"{path}: {exc}"]
    got = {name: {"input": "in", "output": "out"}.get(d, d) for d, _, name in mod.ports}
    want = {p.name: p.direction for p in rtl_ports(intf)}
    problems = [f"missing port {n} ({d})" for n, d in want.items() if n not in got]
    problems += [f"port {n} is {got[n]}, expected {d}" for n, d in want.items() if n in got and got[n] != d]
    problems += [f"extra port {n}" for n in got if n not in want]
    return problems


def interface_of(ports_: list[Port], data_bits: int) -> AccelInterface:
    """The AccelInterface a port list implements."""
    masters: list[str] = []
    ctrl_addr = 0
    for p in ports_:
        if p.interface.startswith("m_axi_") and p.interface not in masters:
            masters.append(p.interface)
        if p.interface == CONTROL and p.logical == "AWADDR":
            ctrl_addr = p.width
    return AccelInterface(control=CONTROL, masters=tuple(masters), data_bits=data_bits,
                          control_addr_bits=ctrl_addr or control_addr_bits())


def _range(width: int) -> str:
    return f"[{width - 1}:0] " if width > 1 else ""


def verilog_shell(ports_: list[Port], params: dict[str, int] | None = None) -> str:
    """Verilog-2001 module `vitaccel_bd_top` (the block design's module reference) wrapping `vitaccel_top`."""
    intf_names: list[str] = []
    for p in ports_:
        if p.interface and p.interface not in intf_names:
            intf_names.append(p.interface)
    data_bits = {p.interface: p.width for p in ports_ if p.logical == "WDATA"}
    addr_bits = {p.interface: p.width for p in ports_ if p.logical == "AWADDR"}
    lines = [
        "// Generated by vitaccel.vivado.ports -- do not edit. Verilog shell for the Vivado module reference:",
        "// module references must be Verilog or VHDL (UG994), the accelerator top vitaccel_top is SystemVerilog.",
        "`timescale 1ns / 1ps",
        f"module {SHELL} (",
    ]
    decl: list[str] = []
    seen: set[str] = set()
    for p in ports_:
        attrs: list[str] = []
        if p.name == CLOCK:
            attrs.append(f'(* X_INTERFACE_PARAMETER = "ASSOCIATED_BUSIF {":".join(intf_names)}, '
                         f'ASSOCIATED_RESET {RESET}" *)')
            attrs.append(f'(* X_INTERFACE_INFO = "xilinx.com:signal:clock:1.0 {CLOCK} CLK" *)')
        elif p.name == RESET:
            attrs.append('(* X_INTERFACE_PARAMETER = "POLARITY ACTIVE_LOW" *)')
            attrs.append(f'(* X_INTERFACE_INFO = "xilinx.com:signal:reset:1.0 {RESET} RST" *)')
        elif p.name == INTERRUPT:
            attrs.append('(* X_INTERFACE_PARAMETER = "SENSITIVITY LEVEL_HIGH" *)')
            attrs.append(f'(* X_INTERFACE_INFO = "xilinx.com:signal:interrupt:1.0 {INTERRUPT} INTERRUPT" *)')
        elif p.interface:
            if p.interface not in seen:
                seen.add(p.interface)
                proto = "AXI4LITE" if p.interface == CONTROL else "AXI4"
                mode = "slave" if p.interface.startswith("s_axi_") else "master"
                attrs.append(f'(* X_INTERFACE_MODE = "{mode}" *)')
                attrs.append(f'(* X_INTERFACE_PARAMETER = "XIL_INTERFACENAME {p.interface}, PROTOCOL {proto}, '
                             f'DATA_WIDTH {data_bits.get(p.interface, 32)}, ADDR_WIDTH '
                             f'{addr_bits.get(p.interface, 32)}" *)')
            attrs.append(f'(* X_INTERFACE_INFO = "xilinx.com:interface:aximm:1.0 {p.interface} {p.logical}" *)')
        kind = "input " if p.direction == "in" else "output"
        decl.append("".join(f"    {a}\n" for a in attrs) + f"    {kind} wire {_range(p.width)}{p.name}")
    lines.append(",\n".join(decl))
    lines.append(");")
    if params:
        plist = ", ".join(f".{k}(32'h{v:08X})" if k == "CONFIG_HASH" else f".{k}({v})" for k, v in params.items())
        lines.append(f"    {TOP} #({plist}) u_top (")
    else:
        lines.append(f"    {TOP} u_top (")
    lines.append(",\n".join(f"        .{p.name}({p.name})" for p in ports_))
    lines.append("    );")
    lines.append("endmodule")
    lines.append("")
    return "\n".join(lines)


def rtl_build_ports(cfg, top: Path | None) -> tuple[list[Port], dict[str, int], list[str]]:
    """Ports of the RTL accelerator for the shell: the real top's when `top` exists, else the expected list
    (`rtl_ports`, HLS names) with a note."""
    if top is not None and top.is_file():
        return rtl_top_ports(parse_sv_module(top.read_text()), cfg)
    return rtl_ports(accel_interface(cfg)), {}, [
        f"RTL top {top} not found: the shell uses the expected port list (docs/bitstream.md)"]


__all__ = [
    "CLOCK",
    "CONTROL",
    "INTERRUPT",
    "M_AXI_ADDR_BITS",
    "RESET",
    "SHELL",
    "TOP",
    "AccelInterface",
    "Port",
    "SvModule",
    "accel_interface",
    "check_rtl_top",
    "control_addr_bits",
    "hls_master_bundles",
    "interface_of",
    "parse_sv_module",
    "rtl_build_ports",
    "rtl_ports",
    "rtl_top_ports",
    "verilog_shell",
]
