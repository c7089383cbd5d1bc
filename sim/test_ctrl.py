"""Block regression: vitaccel_ctrl (AXI4-Lite control slave) on Icarus and Verilator via cocotbext-axi."""

from __future__ import annotations

import pytest

from harness import SIMULATORS, Block, run
from vitaccel.boards.accel import derive_accelerator_config

pytestmark = pytest.mark.sim


@pytest.mark.parametrize("sim", SIMULATORS)
def test_ctrl_quick(sim, request):
    h = derive_accelerator_config("zcu102").config_hash()
    run(Block("vitaccel_ctrl", ["vitaccel_ctrl.sv"], {"CONFIG_HASH": f"32'h{h:08x}"}), sim, "tb_ctrl",
        {"config_hash": h}, seed=2, record=request)
