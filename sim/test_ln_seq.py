"""Block regression: vitaccel_ln_seq (LAYERNORM engine) on Icarus and Verilator vs IsaSimulator._layernorm."""

from __future__ import annotations

import pytest

from harness import SIMULATORS, Block, run

pytestmark = pytest.mark.sim


def _block(**p) -> Block:
    return Block("vitaccel_ln_seq", ["vitaccel_layernorm.sv", "vitaccel_ln_seq.sv"], p)


@pytest.mark.parametrize("sim", SIMULATORS)
def test_ln_seq_quick(sim, request):
    """ROWS=4, COLS=16: W = 32 bytes, L = 4 lanes (4 beats per ACT window), every check once."""
    run(_block(ROWS=4, COLS=16, ACT_BYTES=8192, WBUF_BYTES=2048, MAX_COLS=64), sim, "tb_ln_seq",
        {"n_random": 10, "shapes": [[5, 64], [1, 1], [3, 5]]}, seed=11, record=request)


@pytest.mark.slow
@pytest.mark.parametrize("sim", SIMULATORS)
def test_ln_seq_rate(sim, request):
    """ROWS=33, COLS=64 (L = 64): dim 192 x 129 tokens at one row per 3 clocks, plus random instructions."""
    run(_block(ROWS=33, COLS=64, ACT_BYTES=131072, WBUF_BYTES=4096, MAX_COLS=256), sim, "tb_ln_seq",
        {"n_random": 12, "shapes": [[129, 192], [40, 255], [2, 256]]}, seed=23, record=request)


@pytest.mark.slow
@pytest.mark.parametrize("sim", SIMULATORS)
def test_ln_seq_random(sim, request):
    """ROWS=8, COLS=16 (L = 16 = COLS: one beat per ACT window, gamma / beta load longer than the first row for
    cols > 99), more random instructions and three rounds of every corruption."""
    run(_block(ROWS=8, COLS=16, ACT_BYTES=16384, WBUF_BYTES=4096, MAX_COLS=128), sim, "tb_ln_seq",
        {"n_random": 40, "n_error_rounds": 3, "shapes": [[6, 128], [2, 113], [9, 100]]}, seed=5, record=request)
