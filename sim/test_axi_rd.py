"""Block regression: vitaccel_axi_rd (AXI4 read master) vs cocotbext-axi AxiRamRead, both simulators."""

from __future__ import annotations

import pytest

from harness import SIMULATORS, Block, run

pytestmark = pytest.mark.sim


@pytest.mark.parametrize("sim", SIMULATORS)
def test_axi_rd_quick(sim, request):
    run(Block("vitaccel_axi_rd", ["vitaccel_axi_rd.sv"], {"ADDR_W": 32, "DATA_W": 128, "MAX_OUTSTANDING": 4}), sim,
        "tb_axi_rd", {}, seed=4, record=request)


@pytest.mark.slow
@pytest.mark.parametrize("sim", SIMULATORS)
def test_axi_rd_narrow(sim, request):
    run(Block("vitaccel_axi_rd", ["vitaccel_axi_rd.sv"], {"ADDR_W": 32, "DATA_W": 64, "MAX_BURST": 16,
                                                          "MAX_OUTSTANDING": 1}), sim, "tb_axi_rd", {}, seed=9,
        record=request)
