"""Test data for the generated testbench: a compiled program + memory image + input and the ISA simulator's
expected output and status registers (tb_data/ of a generated project).

The default is m3vit-micro with synthetic integer parameters (vitaccel.compiler.synthetic, no checkpoint
needed), compiled for the project's AcceleratorConfig, task 0.
"""

from __future__ import annotations

import numpy as np

from vitaccel.boards import AcceleratorConfig
from vitaccel.isa import ErrorCode
from vitaccel.isa.regmap import status_word

DEFAULT_MODEL = "m3vit-micro"


def expected_run(cfg: AcceleratorConfig, program: bytes, image: bytes, input_image: np.ndarray,
                 output_bytes: int) -> tuple[bytes, int, int]:
    """(output bytes, STATUS, ERROR_PC) the ISA simulator gives for a program (errors included)."""
    from vitaccel.sim import IsaSimulator, SimError

    try:
        res = IsaSimulator(cfg).run(program, image, input_image, timing=False)
    except SimError as exc:
        pc = exc.index if exc.index >= 0 else 0xFFFFFFFF
        return bytes(output_bytes), status_word(exc.code), pc
    out = res.output.tobytes()
    return out, status_word(ErrorCode.NONE), 0


def tb_files(program: bytes, image: bytes, input_bytes: bytes, expected: bytes, status: int,
             error_pc: int) -> dict[str, bytes]:
    """The tb_data/ files the C++ testbench reads."""
    meta = f"status {status} error_pc {error_pc} output_bytes {len(expected)}\n"
    return {"program.bin": program, "image.bin": image, "input.bin": input_bytes, "expected.bin": expected,
            "expected.txt": meta.encode()}


def default_tb_data(cfg: AcceleratorConfig, model: str = DEFAULT_MODEL, task: int = 0,
                    seed: int = 1) -> dict[str, bytes]:
    """Compile `model` (synthetic parameters) for `cfg` and record the ISA simulator's result."""
    from vitaccel.compiler import compile_model
    from vitaccel.compiler.synthetic import synthetic_qmodel

    qm = synthetic_qmodel(model, seed=seed)
    cp = compile_model(qm, cfg, task)
    m = qm.config
    img = np.random.default_rng(seed).integers(0, 256, (m.in_chans, *m.img_size), dtype=np.uint8)
    out_bytes = int(cp.manifest["output"]["bytes"])
    expected, status, pc = expected_run(cfg, cp.program, cp.image, img, out_bytes)
    return tb_files(cp.program, cp.image, img.tobytes(), expected, status, pc)
