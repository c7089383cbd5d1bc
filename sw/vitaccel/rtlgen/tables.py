"""Table files for the RTL: GELU tables (.mem, loaded at run time) and the softmax exp2 constants (package).

Contents come from the golden builders (`vitaccel.golden.ops.gelu_table`, `vitaccel.golden.softmax.exp2_tables`);
nothing is retyped. `.mem` files are `$readmemh` format: one hexadecimal word per line, address 0 first.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vitaccel.rtlgen.params import gen_dir, write_if_changed


def mem_text(values: np.ndarray, width: int) -> str:
    """$readmemh text of `values` as `width`-bit two's-complement words."""
    mask = (1 << width) - 1
    digits = (width + 3) // 4
    return "".join(f"{int(v) & mask:0{digits}x}\n" for v in np.asarray(values).ravel())


def read_mem(path: Path, width: int, signed: bool = True) -> np.ndarray:
    """Inverse of mem_text (used by testbenches to load a table through a write port)."""
    vals = [int(line, 16) for line in Path(path).read_text().split() if line and not line.startswith("//")]
    out = np.array(vals, dtype=np.int64)
    if signed:
        out = np.where(out >= (1 << (width - 1)), out - (1 << width), out)
    return out


def gelu_mem(in_scale: float, out_scale: float, path: Path | None = None) -> Path:
    """Write the 256-entry int8 GELU table of one layer (golden gelu_table; address = input code + 128)."""
    from vitaccel.golden.ops import gelu_table

    table = gelu_table(in_scale, out_scale)
    if path is None:
        path = gen_dir() / "tables" / f"gelu_{in_scale:.6g}_{out_scale:.6g}.mem"
    return write_if_changed(Path(path), mem_text(table, 8))


def softmax_table_params() -> dict[str, tuple[int, int]]:
    """name -> (packed value, total bits) of the exp2 tables, entry i at bits [16 i +: 16]."""
    from vitaccel.golden.softmax import exp2_tables

    hi, lo = exp2_tables()
    out = {}
    for name, t in (("SM_T_HI", hi), ("SM_T_LO", lo)):
        word = 0
        for i, v in enumerate(t.tolist()):
            assert 0 <= v < (1 << 16)
            word |= int(v) << (16 * i)
        out[name] = (word, 16 * len(t))
    return out
