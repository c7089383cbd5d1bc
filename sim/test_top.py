"""System level (control path): vitaccel_top vs the ISA simulator's decode-time errors, both simulators."""

from __future__ import annotations

import pytest

from harness import SIMULATORS, Block, run
from vitaccel.boards.accel import derive_accelerator_config

pytestmark = pytest.mark.sim

SOURCES = ["vitaccel_ctrl.sv", "vitaccel_axi_rd.sv", "vitaccel_top.sv"]


@pytest.mark.parametrize("sim", SIMULATORS)
def test_top_control_quick(sim, request):
    cfg = derive_accelerator_config("zcu102")
    params = {"CONFIG_HASH": f"32'h{cfg.config_hash():08x}", "DATA_W": cfg.axi_data_bits, "ADDR_W": 40}
    run(Block("vitaccel_top", SOURCES, params), sim, "tb_top", {"board": "zcu102", "n_random": 8}, seed=21,
        record=request)
