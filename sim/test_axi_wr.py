"""Block regression: vitaccel_axi_wr (AXI4 write master) vs cocotbext-axi AxiRamWrite, both simulators."""

from __future__ import annotations

import pytest

from harness import SIMULATORS, Block, run

pytestmark = pytest.mark.sim


@pytest.mark.parametrize("sim", SIMULATORS)
def test_axi_wr_quick(sim, request):
    run(Block("vitaccel_axi_wr", ["vitaccel_axi_wr.sv"], {"ADDR_W": 32, "DATA_W": 128, "MAX_OUTSTANDING": 4}), sim,
        "tb_axi_wr", {}, seed=6, record=request)


@pytest.mark.slow
@pytest.mark.parametrize("sim", SIMULATORS)
def test_axi_wr_narrow(sim, request):
    run(Block("vitaccel_axi_wr", ["vitaccel_axi_wr.sv"], {"ADDR_W": 32, "DATA_W": 64, "MAX_BURST": 16,
                                                          "MAX_OUTSTANDING": 1}), sim, "tb_axi_wr", {}, seed=8,
        record=request)
