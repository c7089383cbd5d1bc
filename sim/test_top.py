"""System level (control path): vitaccel_top vs the ISA simulator's decode-time errors, both simulators."""

from __future__ import annotations

import pytest

from harness import SIMULATORS, Block, run
from vitaccel.boards.accel import derive_accelerator_config
from vitaccel.rtlgen.params import top_parameters, top_sources

pytestmark = pytest.mark.sim

SOURCES = top_sources()


@pytest.mark.parametrize("sim", SIMULATORS)
def test_top_control_quick(sim, request):
    # zcu102's AXI width and buffers with a 4 x 8 MAC array (the control path does not depend on the array; the
    # full 33 x 64 array would dominate build and simulation time)
    cfg = derive_accelerator_config("zcu102", {"array_rows": 4, "array_cols": 16})
    params = top_parameters(cfg, addr_w=40)
    run(Block("vitaccel_top", SOURCES, params), sim, "tb_top",
        {"board": "zcu102", "array_rows": 4, "array_cols": 16, "n_random": 8}, seed=21, record=request)
