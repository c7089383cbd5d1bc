"""Block regression: vitaccel_ln_seq (LAYERNORM engine) on Icarus and Verilator vs IsaSimulator._layernorm."""

from __future__ import annotations

import pytest

from harness import SIMULATORS, Block, run

pytestmark = pytest.mark.sim


def _block(**p) -> Block:
    return Block("vitaccel_ln_seq", ["vitaccel_layernorm.sv", "vitaccel_ln_seq.sv"], p)


@pytest.mark.parametrize("sim", SIMULATORS)
def test_ln_seq_quick(sim, request):
    """COLS=16, LANES=4: W = 32 bytes, 4 beats per ACT window, every check once."""
    run(_block(COLS=16, LANES=4, ACT_BYTES=8192, WBUF_BYTES=2048, MAX_COLS=64), sim, "tb_ln_seq",
        {"n_random": 10, "shapes": [[5, 64], [1, 1], [3, 5]]}, seed=11, record=request)


@pytest.mark.parametrize("sim", SIMULATORS)
def test_ln_seq_quick_full_window(sim, request):
    """COLS=16, LANES=16 = COLS: one beat per ACT window (GC = COLS/2 gammas, BC = COLS/4 betas per weight window);
    cols not a multiple of the lanes (5, 17, 47), gamma / beta load longer than the first row for cols > 99."""
    run(_block(COLS=16, LANES=16, ACT_BYTES=8192, WBUF_BYTES=2048, MAX_COLS=128), sim, "tb_ln_seq",
        {"n_random": 6, "shapes": [[4, 47], [1, 17], [3, 5], [2, 128]]}, seed=3, record=request)


@pytest.mark.parametrize("sim", SIMULATORS)
def test_ln_seq_quick_narrow(sim, request):
    """COLS=16, LANES=2 (fewer lanes than one 16-byte ACT bank of outputs: byte-enabled writes at offsets 2..14),
    cols not a multiple of the lanes."""
    run(_block(COLS=16, LANES=2, ACT_BYTES=4096, WBUF_BYTES=1024, MAX_COLS=32), sim, "tb_ln_seq",
        {"n_random": 4, "n_error_rounds": 0, "shapes": [[3, 31], [2, 1], [1, 32]]}, seed=17, record=request)


@pytest.mark.slow
@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("lanes", [16, 64])
def test_ln_seq_rate(sim, lanes, request):
    """COLS=64 (zcu102): LANES=16 (the derived ln_lanes) and 64; dim 192 x 129 tokens at one row per 192/L clocks,
    plus random instructions."""
    run(_block(COLS=64, LANES=lanes, ACT_BYTES=131072, WBUF_BYTES=4096, MAX_COLS=256), sim, "tb_ln_seq",
        {"n_random": 12, "shapes": [[129, 192], [40, 255], [2, 256]]}, seed=23, record=request)


@pytest.mark.slow
@pytest.mark.parametrize("sim", SIMULATORS)
def test_ln_seq_random(sim, request):
    """COLS=16, LANES=16 (one beat per ACT window, gamma / beta load longer than the first row for cols > 99),
    more random instructions and three rounds of every corruption."""
    run(_block(COLS=16, LANES=16, ACT_BYTES=16384, WBUF_BYTES=4096, MAX_COLS=128), sim, "tb_ln_seq",
        {"n_random": 40, "n_error_rounds": 3, "shapes": [[6, 128], [2, 113], [9, 100]]}, seed=5, record=request)


@pytest.mark.slow
@pytest.mark.parametrize("sim", SIMULATORS)
def test_ln_seq_one_lane(sim, request):
    """COLS=16, LANES=1: the smallest lane count (one channel per clock)."""
    run(_block(COLS=16, LANES=1, ACT_BYTES=4096, WBUF_BYTES=1024, MAX_COLS=32), sim, "tb_ln_seq",
        {"n_random": 4, "shapes": [[3, 31], [1, 1], [2, 16]]}, seed=29, record=request)
