"""The router's top-k capacity AcceleratorConfig.max_topk: ROUTE with topk > max_topk is UNSUPPORTED (after the
BAD_FIELD check of 1 <= topk <= experts), config validation, the compiler's fit check, the random program
generator and every consumer reading the one field (HLS header, RTL top parameters, resource estimate)."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest

from vitaccel import isa, toolchain
from vitaccel.boards.accel import derive_accelerator_config
from vitaccel.compiler import compile_model
from vitaccel.compiler.synthetic import synthetic_qmodel
from vitaccel.errors import ConfigError, FitError
from vitaccel.golden.fixedpoint import GATE_BITS, SM_Z_BITS, requantize
from vitaccel.golden.moe import expert_queues, topk_lower_index
from vitaccel.golden.softmax import softmax_z
from vitaccel.isa import ErrorCode
from vitaccel.sim import IsaSimulator, SimError

CFG = derive_accelerator_config("zcu102", {"array_rows": 5, "array_cols": 16, "act_buffer_bytes": 1 << 14,
                                           "weight_buffer_bytes": 1 << 12, "max_tokens": 64, "max_experts": 8,
                                           "max_topk": 3})


def _route(t: int, e: int, k: int, seed: int = 0):  # type: ignore[no-untyped-def]
    """Run one ROUTE on a simulator prepared by hand; returns (simulator, logits, mult, shift) or raises SimError."""
    rng = np.random.default_rng(seed)
    logits = rng.integers(-30000, 30000, (t, e))
    mult, shift = rng.integers(1 << 15, 1 << 16, e), rng.integers(10, 20, e)
    sim = IsaSimulator(CFG)  # the state _run sets up (as sim/tb_route_seq.py does)
    sim.act = np.zeros(CFG.act_buffer_bytes, np.uint8)
    sim.wbuf = [np.zeros(CFG.weight_buffer_bytes, np.uint8) for _ in range(2)]
    sim.queues, sim.queue_lengths = None, []
    pitch = -(-4 * e // 16) * 16
    for i in range(t):
        sim.act[i * pitch:i * pitch + 4 * e] = logits[i].astype("<i4").view(np.uint8)
    rec = np.frombuffer(isa.pack_record("route", e, mult=mult, shift=shift), np.uint8)
    sim.wbuf[0][:rec.size] = rec
    sim.loaded = [True, False]
    sim._route(7, isa.make("ROUTE", src=0, src_pitch=pitch, tokens=t, experts=e, topk=k, param=0, wbuf=0))
    return sim, logits, mult, shift


def test_route_at_max_topk_runs_and_one_more_is_unsupported() -> None:
    t, e, k = 20, 6, CFG.max_topk
    sim, logits, mult, shift = _route(t, e, k)
    z = requantize(logits, mult[None], shift[None], bits=SM_Z_BITS, signed=True)
    gw = softmax_z(z, GATE_BITS)
    want = expert_queues(topk_lower_index(z, k), e)
    assert sum(q.size for q in want) == t * k
    for j, (tok, w) in enumerate(sim.queues):
        assert np.array_equal(tok, want[j]) and np.array_equal(w, gw[want[j], j])
    with pytest.raises(SimError, match="max_topk 3") as ei:
        _route(t, e, k + 1)
    assert (ei.value.code, ei.value.index) == (ErrorCode.UNSUPPORTED, 7)


def test_route_check_order() -> None:
    """BAD_FIELD (topk > experts) comes before UNSUPPORTED (topk > max_topk); tokens / experts beyond the build's
    limits are UNSUPPORTED whatever topk is."""
    with pytest.raises(SimError) as ei:
        _route(4, 2, CFG.max_topk + 1)
    assert ei.value.code == ErrorCode.BAD_FIELD
    with pytest.raises(SimError) as ei:
        _route(4, 3, 0)
    assert ei.value.code == ErrorCode.BAD_FIELD
    with pytest.raises(SimError, match="max_experts") as ei:
        _route(4, CFG.max_experts + 1, CFG.max_topk + 1)
    assert ei.value.code == ErrorCode.UNSUPPORTED


def test_program_with_too_large_topk_stops_at_its_route() -> None:
    """A whole program: the ROUTE's index and UNSUPPORTED reach the error report; its queues are never used."""
    b = isa.ImageBuilder(CFG.axi_data_bits)
    b.begin_weights()
    off, n = b.add(isa.pack_record("route", 5, mult=[1] * 5, shift=[0] * 5))
    prog = [isa.make("LOAD", ddr_base=isa.DdrBase.IMAGE, space=isa.Space.WBUF, wbuf=0, ddr_off=off, row_bytes=n,
                     rows=1),
            isa.make("ROUTE", src=0, src_pitch=32, tokens=3, experts=5, topk=4, param=0, wbuf=0, release=1),
            isa.make("END")]
    img = b.finish(CFG.config_hash(), 0, 0, isa.encode_program(prog))
    with pytest.raises(SimError) as ei:
        IsaSimulator(CFG).run(isa.encode_program(prog), img, np.zeros(0, np.uint8))
    assert (ei.value.code, ei.value.index) == (ErrorCode.UNSUPPORTED, 1)
    cfg4 = replace(CFG, max_topk=4)
    img = b.finish(cfg4.config_hash(), 0, 0, isa.encode_program(prog))
    IsaSimulator(cfg4).run(isa.encode_program(prog), img, np.zeros(0, np.uint8))


def test_config_validation() -> None:
    assert derive_accelerator_config("zcu102").max_topk == 4
    assert derive_accelerator_config("zcu102", {"max_topk": 32}).max_topk == 32
    with pytest.raises(ConfigError, match=r"max_topk=33: expected 1 <= max_topk <= max_experts \(32\)"):
        derive_accelerator_config("zcu102", {"max_topk": 33})
    with pytest.raises(ConfigError, match=r"max_topk=4: expected 1 <= max_topk <= max_experts \(2\)"):
        derive_accelerator_config("zcu102", {"max_experts": 2})
    with pytest.raises(ConfigError, match="max_topk=0: expected a positive integer"):
        derive_accelerator_config("zcu102", {"max_topk": 0})


def test_compiler_refuses_top_k_beyond_max_topk() -> None:
    qm = synthetic_qmodel("m3vit-micro", seed=3)
    k = qm.config.top_k
    assert k >= 2
    compile_model(qm, derive_accelerator_config("zcu102", {"max_topk": k}), 0)
    with pytest.raises(FitError, match=rf"model {qm.config.name}: top_k = {k} .* max_topk = {k - 1}"):
        compile_model(qm, derive_accelerator_config("zcu102", {"max_topk": k - 1}), 0)


@pytest.mark.parametrize("max_topk", [1, 2])
def test_random_programs_respect_max_topk(max_topk: int) -> None:
    from vitaccel.sim.randprog import random_program

    cfg = replace(CFG, max_topk=max_topk)
    ks = []
    for seed in range(6):
        rp = random_program(cfg, seed, n_ops=6, max_dim=16)
        ks += [ins.get("topk") for ins in rp.instructions if ins.op == isa.Opcode.ROUTE]
        out = IsaSimulator(cfg).run(rp.program, rp.image, rp.input).output
        assert out.tobytes() == rp.expected, rp.ops
    assert ks and max(ks) == max_topk


def test_consumers_read_max_topk() -> None:
    """HLS header, RTL top parameters (and the top's declaration), the router's estimate parameter."""
    from vitaccel.hlsgen.headers import params_header
    from vitaccel.rtlgen.estimate import block_specs
    from vitaccel.rtlgen.params import TOP_PARAM_SOURCES, top_parameters

    cfg = derive_accelerator_config("zcu102", {"max_topk": 3})
    assert "#define VA_MAX_TOPK 3\n" in params_header(cfg)
    assert top_parameters(cfg)["MAX_TOPK"] == 3 and TOP_PARAM_SOURCES["MAX_TOPK"] == "max_topk"
    top = (toolchain.rtl_dir() / "vitaccel_top.sv").read_text()
    assert re.search(r"parameter int\s+MAX_TOPK\s*=\s*\d+,?\s*// AcceleratorConfig.max_topk", top)
    router = [s for s in block_specs(cfg) if s.name == "moe_router"]
    assert router and router[0].params["TOPK_MAX"] == 3


def test_hls_csim_kernel_route_topk_errors() -> None:
    """The HLS kernel (C simulation, max_topk from the generated va_params.h) stops at the same ROUTE with the same
    code as the ISA simulator: topk = max_topk runs, max_topk + 1 is UNSUPPORTED, > experts BAD_FIELD."""
    import vitaccel.hlsgen.kernel_sim as ks
    from vitaccel.isa.regmap import status_word

    cfg = derive_accelerator_config("zcu102", {"max_topk": 2})
    qm = synthetic_qmodel("m3vit-micro", seed=1)
    cp = compile_model(qm, cfg, 0)
    m = qm.config
    img = np.random.default_rng(1).integers(0, 256, (m.in_chans, *m.img_size), dtype=np.uint8)
    out_bytes = cp.manifest["output"]["bytes"]
    ri = next(i for i, ins in enumerate(cp.instructions) if ins.op == isa.Opcode.ROUTE)
    assert cp.instructions[ri].get("topk") == 2 and cp.instructions[ri].get("experts") == 4
    kern = ks.kernel_library(cfg)
    from vitaccel.isa.spec import fields_of

    lo = next(f.lo for f in fields_of(isa.Opcode.ROUTE) if f.name == "topk")
    for k, want in ((2, ErrorCode.NONE), (3, ErrorCode.UNSUPPORTED), (5, ErrorCode.BAD_FIELD)):
        p = bytearray(cp.program)
        word = int.from_bytes(p[ri * 32:(ri + 1) * 32], "little")
        word = (word & ~(0xFF << lo)) | (k << lo)
        p[ri * 32:(ri + 1) * 32] = word.to_bytes(32, "little")
        try:
            res = IsaSimulator(cfg).run(bytes(p), cp.image, img, timing=False)
            code, pc, out = ErrorCode.NONE, None, res.output.tobytes()
        except SimError as exc:
            code, pc, out = exc.code, exc.index, None
        assert code == want
        got = kern.run(bytes(p), cp.image, img.tobytes(), out_bytes)
        assert got.regs["STATUS"] == status_word(code), (k, hex(got.regs["STATUS"]))
        if pc is not None:
            assert pc == ri and got.error_pc == ri
        else:
            assert got.output == out
