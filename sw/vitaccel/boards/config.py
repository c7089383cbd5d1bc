"""Loading and validating board_configs/<name>.yaml (contract 3)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from vitaccel.errors import ConfigError

BYTES_PER_BRAM36 = 4096  # 36 Kb BRAM used as 4096 x 8 bit data (parity bits unused)
BYTES_PER_URAM = 36864  # 288 Kb UltraRAM, 4096 x 72 bit


def board_dir() -> Path:
    """Directory holding the board YAML files: $VITACCEL_BOARD_DIR, else the repository's board_configs/."""
    env = os.environ.get("VITACCEL_BOARD_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "board_configs"


def _schema() -> dict[str, Any]:
    path = board_dir() / "board.schema.json"
    if not path.is_file():
        raise ConfigError(f"board schema not found at {path} (set VITACCEL_BOARD_DIR to the board_configs folder)")
    return json.loads(path.read_text())


def max_clock_mhz() -> float:
    """The highest PL clock (MHz) the board schema allows (pl_clock_mhz.maximum); overrides share the cap."""
    prop = _schema().get("properties", {}).get("pl_clock_mhz", {})
    if "maximum" not in prop:
        raise ConfigError(f"{board_dir() / 'board.schema.json'}: pl_clock_mhz has no 'maximum' (expected the clock cap)")
    return float(prop["maximum"])


@dataclass(frozen=True)
class BoardConfig:
    """One validated board: part, PS, clock target (MHz), resources, DDR (peak GB/s) and HP ports."""

    name: str
    display_name: str
    part: str
    board_part: str
    family: str  # zynquplus | zynq
    ps_type: str  # zynq_ultra_ps_e | processing_system7
    dsp_type: str  # DSP48E2 | DSP48E1
    pl_clock_mhz: float
    lut: int
    ff: int
    dsp: int
    bram36: int
    uram: int
    ddr_type: str
    ddr_size_mb: int
    ddr_width_bits: int
    ddr_mts: int
    ddr_peak_gbps: float
    hp_port_count: int
    hp_port_width_bits: int
    board_part_fallbacks: tuple[str, ...] = ()
    pynq_image: str = ""
    notes: str = ""
    source: str = ""  # the file it was read from
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def onchip_bytes(self) -> int:
        """Total block RAM + UltraRAM capacity in bytes (8-bit data use of BRAM)."""
        return self.bram36 * BYTES_PER_BRAM36 + self.uram * BYTES_PER_URAM

    @property
    def macs_per_dsp(self) -> int:
        """int8 multiplies one DSP slice packs: 2 on DSP48E2 (27x18, shared operand), 1 on DSP48E1."""
        return 2 if self.dsp_type == "DSP48E2" else 1

    @property
    def hp_peak_gbps(self) -> float:
        """Peak bandwidth of all HP ports at the PL clock, GB/s."""
        return self.hp_port_count * self.hp_port_width_bits / 8 * self.pl_clock_mhz / 1000.0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.raw)


def _path_str(path: Any) -> str:
    parts = [str(p) for p in path]
    return ".".join(parts) if parts else "<top level>"


def _validate(data: Any, source: str) -> None:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a YAML mapping of board fields, got {type(data).__name__}")
    validator = jsonschema.Draft202012Validator(_schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        field_name = _path_str(err.absolute_path)
        schema = err.schema if isinstance(err.schema, dict) else {}
        allowed = ""
        if "enum" in schema:
            allowed = f"; allowed: {', '.join(map(str, schema['enum']))}"
        elif "pattern" in schema and err.validator != "pattern":
            allowed = f"; expected to match {schema['pattern']}"
        elif "type" in schema and err.validator == "type":
            allowed = f"; expected type {schema['type']}"
        if err.validator == "additionalProperties":
            allowed = f"; allowed fields: {', '.join(sorted(schema.get('properties', {})))}"
        raise ConfigError(f"{source}: field '{field_name}': {err.message}{allowed}")
    # Semantic checks the schema cannot express (field consistency first, the file-name rule last, so a broken
    # field is reported even in a file whose name differs from its 'name').
    fam_ps = {"zynquplus": ("zynq_ultra_ps_e", "DSP48E2"), "zynq": ("processing_system7", "DSP48E1")}
    ps, dsp = fam_ps[data["family"]]
    if data["ps_type"] != ps:
        raise ConfigError(f"{source}: field 'ps_type' is {data['ps_type']!r}; family {data['family']} needs {ps!r}")
    if data["dsp_type"] != dsp:
        raise ConfigError(f"{source}: field 'dsp_type' is {data['dsp_type']!r}; family {data['family']} needs {dsp!r}")
    ddr = data["ddr"]
    expected = ddr["width_bits"] / 8 * ddr["mts"] / 1000.0
    if abs(ddr["peak_gbps"] - expected) > 0.05 * expected:
        raise ConfigError(
            f"{source}: field 'ddr.peak_gbps' is {ddr['peak_gbps']} but width_bits/8 * mts / 1000 = {expected:.2f}"
        )
    stem = Path(source).stem
    if Path(source).suffix in (".yaml", ".yml") and data["name"] != stem:
        raise ConfigError(f"{source}: field 'name' is {data['name']!r} but must equal the file name {stem!r}")


def _from_dict(data: dict[str, Any], source: str) -> BoardConfig:
    _validate(data, source)
    r, ddr, hp = data["resources"], data["ddr"], data["hp_ports"]
    return BoardConfig(
        name=data["name"],
        display_name=data["display_name"],
        part=data["part"],
        board_part=data["board_part"],
        family=data["family"],
        ps_type=data["ps_type"],
        dsp_type=data["dsp_type"],
        pl_clock_mhz=float(data["pl_clock_mhz"]),
        lut=r["lut"],
        ff=r["ff"],
        dsp=r["dsp"],
        bram36=r["bram36"],
        uram=r["uram"],
        ddr_type=ddr["type"],
        ddr_size_mb=ddr["size_mb"],
        ddr_width_bits=ddr["width_bits"],
        ddr_mts=ddr["mts"],
        ddr_peak_gbps=float(ddr["peak_gbps"]),
        hp_port_count=hp["count"],
        hp_port_width_bits=hp["width_bits"],
        board_part_fallbacks=tuple(data.get("board_part_fallbacks", ())),
        pynq_image=data.get("pynq_image", ""),
        notes=data.get("notes", ""),
        source=source,
        raw=data,
    )


def list_boards() -> list[str]:
    """Names of the boards in board_configs/, sorted."""
    d = board_dir()
    if not d.is_dir():
        raise ConfigError(f"board config folder not found: {d} (set VITACCEL_BOARD_DIR)")
    return sorted(p.stem for p in d.glob("*.yaml"))


def load_board(name_or_path: str | os.PathLike[str]) -> BoardConfig:
    """Load a board by name (board_configs/<name>.yaml) or by path to a YAML file (custom boards)."""
    text = str(name_or_path)
    path = Path(text)
    if not (text.endswith((".yaml", ".yml")) or path.is_file()):
        path = board_dir() / f"{text}.yaml"
        if not path.is_file():
            known = ", ".join(list_boards())
            raise ConfigError(f"unknown board {text!r}; known boards: {known} (or give a path to a board YAML file)")
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"board config file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return _from_dict(data, str(path))
