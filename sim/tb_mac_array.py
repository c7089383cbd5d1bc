"""cocotb testbench: vitaccel_mac_array vs an int64 numpy matrix product (int32 accumulators)."""

from __future__ import annotations

import cocotb
import numpy as np

import tbutil
from tbutil import Sink, Source, pack, unpack


def _tiles(gen: np.random.Generator, rows: int, cols: int, n_random: int) -> list[tuple[np.ndarray, np.ndarray, bool]]:
    """(A[R,K], B[K,C], a_unsigned) tiles: corners first, then random ones."""
    t: list[tuple[np.ndarray, np.ndarray, bool]] = []
    k = 40
    # most-negative inputs: (-128) * (-128) summed K times is the largest positive accumulator
    t.append((np.full((rows, k), -128), np.full((k, cols), -128), False))
    t.append((np.full((rows, k), -128), np.full((k, cols), 127), False))
    t.append((np.full((rows, k), 255), np.full((k, cols), -128), True))  # uint8 probabilities x most-negative
    t.append((np.full((rows, 1), 127), np.full((1, cols), -128), False))  # K = 1
    alt = np.where((np.arange(rows)[:, None] + np.arange(k)) % 2 == 0, -128, 127)
    t.append((alt, np.where((np.arange(k)[:, None] + np.arange(cols)) % 3 == 0, -128, 127), False))
    for _ in range(n_random):
        kk = int(gen.integers(1, 48))
        uns = bool(gen.integers(0, 2))
        a = gen.integers(0, 256, (rows, kk)) if uns else gen.integers(-128, 128, (rows, kk))
        t.append((a, gen.integers(-128, 128, (kk, cols)), uns))
    return t


def _wrap32(x: np.ndarray) -> np.ndarray:
    return ((x.astype(np.int64) + (1 << 31)) % (1 << 32)) - (1 << 31)


@cocotb.test()
async def mac_array_random_and_corners(dut):
    c = tbutil.cfg()
    rows, cols = int(dut.ROWS.value), int(dut.COLS.value)
    gen = tbutil.rng()
    await tbutil.start(dut)
    for p_valid, p_ready in tbutil.backpressure_modes():
        tiles = _tiles(gen, rows, cols, int(c.get("n_random", 8)))
        beats = []
        expect = []
        for a, b, uns in tiles:
            kk = a.shape[1]
            for k in range(kk):
                beats.append({"in_a": pack(a[:, k], 8), "in_b": pack(b[k, :], 8), "in_a_unsigned": int(uns),
                              "in_first": int(k == 0), "in_last": int(k == kk - 1)})
            expect.append(_wrap32(a.astype(np.int64) @ b.astype(np.int64)))
        src = Source(dut, "in_valid", "in_ready", p_valid, gen)
        snk = Sink(dut, "out_valid", "out_ready", p_ready, gen)
        cocotb.start_soon(src.send(beats))
        got = await snk.collect(len(tiles) * rows, ["out_acc", "out_last"])
        for t, exp in enumerate(expect):
            for r in range(rows):
                beat = got[t * rows + r]
                row = unpack(beat["out_acc"], cols, 32)
                assert beat["out_last"] == int(r == rows - 1), f"tile {t} row {r}: out_last={beat['out_last']}"
                if not np.array_equal(row, exp[r]):
                    raise AssertionError(
                        f"backpressure ({p_valid},{p_ready}) tile {t} row {r}: got {row.tolist()} "
                        f"expected {exp[r].tolist()}"
                    )
        dut._log.info("%d tiles bit-exact at p_valid=%.2f p_ready=%.2f", len(tiles), p_valid, p_ready)


@cocotb.test()
async def mac_array_long_k(dut):
    """Tiles as deep as the ISA allows (k field: 16 bit): the packed DSP's P register wraps (|S1| * 2^18 >= 2^47
    from K ~ 16,450 at |B * A| = 32,640) and the low-field carry counter reaches its largest magnitude
    (K = 65,535: |S0| = 2,139,062,400, just below 2^31). Skipped unless the config names the K values."""
    ks = [int(k) for k in tbutil.cfg().get("long_k", [])]
    if not ks:
        dut._log.info("mac_array_long_k: no long_k in the config, nothing to run (sim/test_mac_array.py -m slow)")
        return
    rows, cols = int(dut.ROWS.value), int(dut.COLS.value)
    gen = tbutil.rng()
    await tbutil.start(dut)
    # per K: uint8 255 x int8 -128 / 127 (the largest product magnitudes, both signs, per column pair), then random
    b_row = np.array([-128 if c % 2 == 0 else 127 for c in range(cols)])
    b_row2 = np.array([127 if c % 2 == 0 else -128 for c in range(cols)])
    tiles = []
    for kk in ks:
        tiles.append((np.full((rows, kk), 255), np.tile(b_row, (kk, 1)), True))
        tiles.append((np.full((rows, kk), 255), np.tile(b_row2, (kk, 1)), True))
        tiles.append((gen.integers(0, 256, (rows, kk)), gen.integers(-128, 128, (kk, cols)), True))
    beats, expect = [], []
    for a, b, uns in tiles:
        kk = a.shape[1]
        for k in range(kk):
            beats.append({"in_a": pack(a[:, k], 8), "in_b": pack(b[k, :], 8), "in_a_unsigned": int(uns),
                          "in_first": int(k == 0), "in_last": int(k == kk - 1)})
        expect.append(a.astype(np.int64) @ b.astype(np.int64))
    for e in expect:  # the sums themselves never leave int32 (the ISA bound): nothing here relies on a wrap
        assert np.all(np.abs(e) < (1 << 31))
    src = Source(dut, "in_valid", "in_ready", 1.0, gen)
    snk = Sink(dut, "out_valid", "out_ready", 1.0, gen)
    cocotb.start_soon(src.send(beats))
    got = await snk.collect(len(tiles) * rows, ["out_acc"])
    for t, exp in enumerate(expect):
        for r in range(rows):
            row = unpack(got[t * rows + r]["out_acc"], cols, 32)
            if not np.array_equal(row, exp[r]):
                raise AssertionError(f"K = {tiles[t][0].shape[1]} tile {t} row {r}: got {row.tolist()} "
                                     f"expected {exp[r].tolist()}")
    dut._log.info("long-K tiles %s bit-exact", ks)
