"""Performance model: closed-form costs vs hand computation, schedule overlap, targets, estimate command."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest

from vitaccel import isa
from vitaccel.boards.accel import derive_accelerator_config
from vitaccel.boards.config import list_boards
from vitaccel.cli import main
from vitaccel.isa import BSrc, Epilogue
from vitaccel.perf.model import estimate
from vitaccel.perf.timing import balanced_queues, dma_cycles, gemm_cycles, resolve_static, schedule

Z = derive_accelerator_config("zcu102")


def test_gemm_cycles_by_hand() -> None:
    # qkv of m3vit-tiny on 33x64 (req record in the weight buffer): setup 3 + shift check of 9 windows (+1),
    # first A fill 33, 9 column tiles x 4 row tiles x K = 192 clocks (K dominates the 33-row drain at two epilogue
    # slices per row, 66, and the 33 * ceil(192/128) = 66-clock A fill), 7 record windows per column tile, last
    # drain 33 rows x 2 slices (epilogue_lanes = 32), pipeline 12
    assert Z.epilogue_lanes == 32
    assert gemm_cycles(Z, 129, 576, 192, Epilogue.REQ8, BSrc.WBUF) == 3 + (9 + 1) + 33 + 9 * 4 * 192 + 9 * 7 + 66 + 12
    # the whole 64-lane epilogue: one row per clock
    z64 = replace(Z, epilogue_lanes=64)
    assert gemm_cycles(z64, 129, 576, 192, Epilogue.REQ8, BSrc.WBUF) == 3 + (9 + 1) + 33 + 9 * 4 * 192 + 9 * 7 + 33 + 12
    # int16 residual add: one W-byte window per row (W = 2C), so max(K = 64, 33 x 2 slices) per tile
    assert gemm_cycles(Z, 33, 64, 64, Epilogue.RESADD, BSrc.WBUF) == 3 + (1 + 1) + 33 + 66 + 7 + 66 + 12
    assert gemm_cycles(z64, 33, 64, 64, Epilogue.RESADD, BSrc.WBUF) == 3 + (1 + 1) + 33 + 64 + 7 + 33 + 12
    # Q.K^T with the softmax (immediates): B (Q^T, 64 x 129) copied into the B-operand buffer in 64 * 2 windows;
    # 3 column tiles x 4 row tiles x K = 64; each tile's second pass hides under the next tile's k-steps, the last
    # tile's tail shows: (129 - 1) % 33 + 34, then its 129 rows (128 + 1) and its one P window (1 column)
    # (one softmax lane and one epilogue lane per column: softmax_lanes = epilogue_lanes = 64; the shared datapath
    # is in tests/test_softmax_lanes.py)
    z64 = replace(Z, softmax_lanes=64, epilogue_lanes=64)
    assert gemm_cycles(z64, 129, 129, 64, Epilogue.SOFTMAX, BSrc.ACT, pimm=True, trans=True) == (
        3 + (64 * 2 + 1) + 33 + 3 * 4 * 64 + 1 + 29 + 34 + (128 + 1 + 1))  # 1127 (RTL: 1126 before the DSP
    # accumulator added its clock; sim/test_gemm_seq.py m3vit shapes: every GEMM + 1 on the RTL)


def test_dma_cycles_by_hand() -> None:
    # zcu102: 4 x 128-bit ports = 64 B/clock, DDR 19.2 GB/s * 0.9 / 300 MHz = 57.6 B/clock -> DDR-bound
    lat = math.ceil(250e-9 * 300e6)
    assert dma_cycles(Z, 57600) == 8 + lat + 1000
    p = derive_accelerator_config("pynq-z2")  # 4 x 64-bit at 125 MHz = 32 B/clock, DDR 2.1 * .9 / .125 = 15.12
    assert dma_cycles(p, 15120) == 8 + math.ceil(250e-9 * 125e6) + 1000


def _prog(load_bytes: int, gemm_k: int, n_seg: int) -> list[isa.Instruction]:
    out = []
    for j in range(n_seg):
        out.append(isa.make("LOAD", space=isa.Space.WBUF, wbuf=j % 2, row_bytes=load_bytes, rows=1))
        if j >= 1:
            out.append(isa.make("GEMM", epi=Epilogue.REQ8, wbuf=(j - 1) % 2, release=1, m=33, n=64, k=gemm_k))
    out.append(isa.make("GEMM", epi=Epilogue.REQ8, wbuf=(n_seg - 1) % 2, release=1, m=33, n=64, k=gemm_k))
    out.append(isa.make("END"))
    return out


def test_double_buffering_overlaps_loads_with_compute() -> None:
    prog = _prog(57600, 2000, 8)
    tm = schedule(resolve_static(prog), Z)
    load = dma_cycles(Z, 57600)
    comp = gemm_cycles(Z, 33, 64, 2000, Epilogue.REQ8, BSrc.WBUF)
    # every load after the first hides behind a GEMM: first load + 8 GEMMs (+ the program-start latency)
    assert 8 * comp + load <= tm.total_cycles <= 8 * comp + load + 100
    assert tm.stall_cycles >= load - 2  # the first GEMM waits for the first load (dispatched 2 clocks later)


def test_memory_bound_schedule_is_dma_limited() -> None:
    prog = _prog(576000, 100, 6)
    tm = schedule(resolve_static(prog), Z)
    load = dma_cycles(Z, 576000)
    streamed = load - math.ceil(250e-9 * 300e6)  # back-to-back loads pay the DDR latency once
    gemm = gemm_cycles(Z, 33, 64, 100, Epilogue.REQ8, BSrc.WBUF)
    assert load + 5 * streamed <= tm.total_cycles <= load + 5 * streamed + 2 * gemm + 120
    assert tm.stall_cycles > 4 * streamed


def test_balanced_queues() -> None:
    q = balanced_queues(129, 16, 2)
    assert sum(q) == 258 and max(q) - min(q) <= 1
    assert balanced_queues(3, 8, 1) == [1, 1, 1, 0, 0, 0, 0, 0]


@pytest.fixture(scope="module")
def m3vit_zcu102() -> dict:
    return estimate("m3vit-tiny", "zcu102")


def test_m3vit_tiny_zcu102_targets(m3vit_zcu102: dict) -> None:
    r = m3vit_zcu102
    assert r["latency_ms"] <= 3.0
    assert r["roofline_efficiency"] >= 0.6  # the cycle model follows the RTL (docs/isa.md section 7)
    assert r["resources"]["fits"] and r["resources"]["dsp_fraction"] < 0.7 and r["resources"]["bram_fraction"] < 0.8
    # floors recomputed independently from the report's own counts
    assert r["compute_floor_ms"] == pytest.approx(r["useful_macs"] / 2112 / 300e6 * 1e3, rel=1e-3)
    assert r["memory_floor_ms"] == pytest.approx(r["dram_bytes"] / 19.2e9 * 1e3, rel=1e-3)
    # the useful MACs are the model's analytic count (vitaccel.models.config.macs_per_image)
    from vitaccel.models.config import get_config, macs_per_image

    assert r["useful_macs"] == macs_per_image(get_config("m3vit-tiny"), 0)
    assert 17e6 < r["dram_bytes"] < 21e6  # ~18 MB of int8 weights read once + image + output
    assert sum(x["cycles"] for x in r["layers"]) <= r["cycles"]
    moe = [x for x in r["layers"] if x["layer"].endswith("moe.experts")]
    assert len(moe) == 6 and all(x["bound"] == "memory" for x in moe)


@pytest.mark.parametrize("board", list_boards())
@pytest.mark.parametrize("model", ["m3vit-tiny", "vit-tiny"])
def test_every_board_reports(board: str, model: str) -> None:
    r = estimate(model, board)
    for key in ("board", "model", "clock_mhz", "cycles", "latency_ms", "useful_macs", "mac_utilization",
                "compute_floor_ms", "memory_floor_ms", "roofline_efficiency", "layers"):
        assert key in r
    assert 0 < r["roofline_efficiency"] <= 1 and 0 < r["mac_utilization"] <= 1
    assert r["resources"]["fits"]
    for lay in r["layers"]:
        assert set(lay) >= {"layer", "cycles", "macs", "bytes", "bound"}


def test_estimate_command_json_and_plots(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["estimate", "--board", "zcu102", "--model", "m3vit-micro", "--json", "--plot", str(tmp_path)]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["model"] == "m3vit-micro" and r["cycles"] > 0
    for f in ("roofline.png", "layers.png"):
        assert (tmp_path / f).read_bytes()[:4] == b"\x89PNG"
    assert main(["estimate", "--board", "zcu102", "--model", "vit-tiny", "--trace", str(tmp_path / "t.csv")]) == 0
    assert "roofline efficiency" in capsys.readouterr().out
    rows = (tmp_path / "t.csv").read_text().splitlines()
    assert rows[0].startswith("index,op,layer") and rows[-1].split(",")[1] == "END"
