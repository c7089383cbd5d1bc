"""ISA simulator: executes a program on a memory image, bit-exactly, one whole instruction at a time (numpy).

Every instruction's arithmetic is a call into vitaccel.golden (gemm, requant_int8, gelu, residual_add,
softmax, layernorm, MoE gate / top-k / queues / combine, patchify); this module only moves bytes between the
modelled memories and checks the program the way the hardware's sequencer does (same ErrorCode, same
instruction index). Cycles come from the performance model (vitaccel.perf.timing) applied to the instructions
actually executed (data-dependent: skipped experts, queue lengths).

Memories: ACT (act_buffer_bytes), two weight-buffer halves (weight_buffer_bytes each), the route queues
(max_experts x max_tokens entries of token index + uint16 gate weight), and three DDR regions addressed relative
to IMAGE_ADDR, INPUT_ADDR, OUTPUT_ADDR (bounded by the sizes in the image header).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from vitaccel import isa
from vitaccel.boards.accel import AcceleratorConfig
from vitaccel.errors import ProgramError
from vitaccel.golden.fixedpoint import (
    GATE_BITS,
    MAX_SHIFT,
    PROB_BITS,
    RESIDUAL_BITS,
    SM_Z_BITS,
    requantize,
    saturate,
)
from vitaccel.golden.moe import combine_terms, expert_queues, topk_lower_index
from vitaccel.golden.ops import (
    LayerNormParams,
    gelu,
    gemm,
    layernorm,
    patchify_u8,
    requant_int8,
    residual_add,
)
from vitaccel.golden.softmax import SoftmaxParams, scores_to_z, softmax_z
from vitaccel.isa import BSrc, DdrBase, Epilogue, ErrorCode, Instruction, Opcode, Space, uarch
from vitaccel.isa.image import parse_header

INT64 = np.int64


class SimError(ProgramError):
    """An invalid program: `code` (ErrorCode, as in the STATUS register) at instruction `index` (ERROR_PC)."""

    def __init__(self, code: ErrorCode, index: int, reason: str):
        self.code = ErrorCode(code)
        self.index = int(index)
        self.reason = reason
        where = "memory image" if index < 0 else f"instruction {index}"
        super().__init__(f"{where}: {self.code.name}: {reason}")


@dataclass
class Executed:
    """One executed (or skipped) instruction: the effective row count for data-dependent GEMMs."""

    index: int
    ins: Instruction
    m: int = 0
    skipped: bool = False


@dataclass
class SimResult:
    """Output bytes (int32 head accumulators, row-major), the executed trace and the modelled cycles."""

    output: np.ndarray
    executed: list[Executed]
    queue_lengths: list[list[int]]
    cycles: int | None = None
    stall_cycles: int | None = None
    timing: Any = None
    snapshots: dict[str, np.ndarray] = field(default_factory=dict)

    def output_int32(self, rows: int | None = None) -> np.ndarray:
        out = self.output.view("<i4").astype(np.int64)
        return out.reshape(rows, -1) if rows else out


def _blas_single_thread() -> Any:
    try:
        from threadpoolctl import threadpool_limits

        return threadpool_limits(limits=1, user_api="blas")
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn; optional on boards
        import contextlib

        return contextlib.nullcontext()


class IsaSimulator:
    """The `isa` device: `run(program, image, input_image)`."""

    def __init__(self, cfg: AcceleratorConfig):
        self.cfg = cfg
        self.rows, self.cols = cfg.array_rows, cfg.array_cols

    # ---------------------------------------------------------------------------------------------------------
    def run(self, program: bytes | list[Instruction], image: bytes | np.ndarray, input_image: np.ndarray,
            timing: bool = True, snapshot: dict[int, tuple[str, int, int, int, str]] | None = None) -> SimResult:
        """See _run. BLAS runs single-threaded here: the matrices are small and a multi-threaded BLAS on a busy
        machine is 10-30x slower (spinning threads), single-threaded it is never slower than ~1.5x."""
        with _blas_single_thread():
            return self._run(program, image, input_image, timing, snapshot)

    def _run(self, program: bytes | list[Instruction], image: bytes | np.ndarray, input_image: np.ndarray,
             timing: bool = True, snapshot: dict[int, tuple[str, int, int, int, str]] | None = None) -> SimResult:
        """Execute until END. program: binary or decoded; image: memory-image bytes; input_image: uint8 (C,H,W).

        snapshot: {instruction index: (name, act_addr, rows, cols, dtype)} copies that ACT tensor after the
        instruction (debugging / per-layer comparison). Raises SimError on an invalid program."""
        cfg = self.cfg
        img = np.frombuffer(image, dtype=np.uint8) if isinstance(image, (bytes, bytearray)) else np.asarray(
            image, dtype=np.uint8)
        try:
            hdr = parse_header(img, expect_hash=cfg.config_hash(), check_crc=False)
        except ProgramError as exc:
            raise SimError(ErrorCode.BAD_IMAGE, -1, str(exc)) from None
        if img.size < hdr.image_bytes:
            raise SimError(ErrorCode.BAD_IMAGE, -1, f"image is {img.size} bytes, header says {hdr.image_bytes}")
        inp = np.ascontiguousarray(input_image, dtype=np.uint8).reshape(-1)
        if inp.size < hdr.input_bytes:
            raise SimError(ErrorCode.BAD_IMAGE, -1, f"input is {inp.size} bytes, header says {hdr.input_bytes}")
        self.ddr = {DdrBase.IMAGE: img[:hdr.image_bytes], DdrBase.INPUT: inp[:hdr.input_bytes],
                    DdrBase.OUTPUT: np.zeros(hdr.output_bytes, dtype=np.uint8)}
        self.act = np.zeros(cfg.act_buffer_bytes, dtype=np.uint8)
        self.wbuf = [np.zeros(cfg.weight_buffer_bytes, dtype=np.uint8) for _ in range(2)]
        self.loaded = [False, False]
        self.queues: list[tuple[np.ndarray, np.ndarray]] | None = None
        self.queue_lengths: list[list[int]] = []
        raw = program if isinstance(program, (bytes, bytearray)) else None
        instrs = None if raw is not None else list(program)
        count = len(raw) // isa.INSTR_BYTES if raw is not None else len(instrs or [])
        executed: list[Executed] = []
        snaps: dict[str, np.ndarray] = {}
        pc = 0
        while True:
            if pc >= count:
                raise SimError(ErrorCode.NO_END, pc, f"ran past the last instruction ({count}) without END")
            if raw is not None:
                chunk = bytes(raw[pc * isa.INSTR_BYTES:(pc + 1) * isa.INSTR_BYTES])
                try:
                    ins = isa.decode(chunk, pc)
                except ProgramError:
                    raise SimError(ErrorCode.ILLEGAL_OPCODE, pc, f"illegal opcode 0x{chunk[0]:02x}") from None
            else:
                ins = instrs[pc]  # type: ignore[index]
                try:
                    chunk = isa.encode(ins)
                except ProgramError as exc:
                    raise SimError(ErrorCode.BAD_FIELD, pc, str(exc)) from None
            if ins.get("version") != isa.ISA_MAJOR:
                raise SimError(ErrorCode.BAD_VERSION, pc, f"version field {ins.get('version')}, expected "
                                                          f"{isa.ISA_MAJOR}")
            bad = isa.check_reserved(chunk)
            if bad:
                raise SimError(ErrorCode.BAD_FIELD, pc, bad)
            rec = Executed(pc, ins)
            if ins.op == Opcode.END:
                executed.append(rec)
                break
            self._step(pc, ins, rec)
            executed.append(rec)
            if snapshot and pc in snapshot:
                name, addr, rows, cols_, dt = snapshot[pc]
                es = np.dtype(dt).itemsize
                snaps[name] = self.act[addr:addr + rows * cols_ * es].view(dt).reshape(rows, cols_).astype(INT64)
            pc += 1
        res = SimResult(self.ddr[DdrBase.OUTPUT].copy(), executed, self.queue_lengths, snapshots=snaps)
        if timing:
            from vitaccel.perf.timing import schedule

            tm = schedule(executed, cfg)
            res.cycles, res.stall_cycles, res.timing = tm.total_cycles, tm.stall_cycles, tm
        return res

    # ---------------------------------------------------------------------------------------------------------
    def _err(self, code: ErrorCode, pc: int, reason: str) -> SimError:
        return SimError(code, pc, reason)

    def _span(self, pc: int, what: str, size: int, addr: int, rows: int, row_bytes: int, pitch: int,
              align: int = 1) -> None:
        """Check an (addr, rows, row_bytes, pitch) operand against a memory of `size` bytes."""
        if rows <= 0 or row_bytes <= 0:
            raise self._err(ErrorCode.BAD_FIELD, pc, f"{what}: empty operand ({rows} rows x {row_bytes} bytes)")
        if rows > 1 and pitch < row_bytes:
            raise self._err(ErrorCode.BAD_FIELD, pc, f"{what}: pitch {pitch} < row bytes {row_bytes}")
        if align > 1 and (addr % align or (rows > 1 and pitch % align)):
            raise self._err(ErrorCode.BAD_FIELD, pc, f"{what}: address 0x{addr:x} / pitch {pitch} not "
                                                     f"{align}-byte aligned")
        if addr >= size:
            raise self._err(ErrorCode.ADDR_RANGE, pc, f"{what}: address 0x{addr:x} outside the {size}-byte memory")
        end = addr + (rows - 1) * pitch + row_bytes
        if end > size:
            raise self._err(ErrorCode.BUF_OVERFLOW, pc, f"{what}: 0x{addr:x}..0x{end:x} runs past the end of the "
                                                        f"{size}-byte memory")

    @staticmethod
    def _rd(mem: np.ndarray, addr: int, rows: int, row_bytes: int, pitch: int) -> np.ndarray:
        if rows == 1 or pitch == row_bytes:
            return mem[addr:addr + rows * row_bytes].reshape(rows, row_bytes).copy()
        return as_strided(mem[addr:], shape=(rows, row_bytes), strides=(pitch, 1)).copy()

    @staticmethod
    def _wr(mem: np.ndarray, addr: int, pitch: int, data: np.ndarray) -> None:
        rows, row_bytes = data.shape
        if rows == 1 or pitch == row_bytes:
            mem[addr:addr + rows * row_bytes] = data.reshape(-1)
        else:
            view = as_strided(mem[addr:], shape=(rows, row_bytes), strides=(pitch, 1), writeable=True)
            view[...] = data

    def _act_tensor(self, pc: int, what: str, addr: int, rows: int, cols: int, pitch: int, dtype: str,
                    row_index: np.ndarray | None = None) -> np.ndarray:
        """Read a (rows, cols) tensor of `dtype` from ACT (optionally rows selected by row_index)."""
        es = np.dtype(dtype).itemsize
        if row_index is not None:
            nmax = int(row_index.max()) + 1 if row_index.size else 1
            self._span(pc, what, self.act.size, addr, nmax, cols * es, pitch, isa.ACT_ALIGN)
            idx = addr + row_index[:, None] * pitch + np.arange(cols * es)[None, :]
            raw = self.act[idx]
        else:
            self._span(pc, what, self.act.size, addr, rows, cols * es, pitch, isa.ACT_ALIGN)
            raw = self._rd(self.act, addr, rows, cols * es, pitch)
        return np.ascontiguousarray(raw).view(dtype).astype(INT64).reshape(raw.shape[0], cols)

    def _act_write(self, pc: int, what: str, addr: int, pitch: int, values: np.ndarray, dtype: str,
                   row_index: np.ndarray | None = None) -> None:
        es = np.dtype(dtype).itemsize
        rows, cols = values.shape
        data = np.ascontiguousarray(values.astype(dtype)).view(np.uint8).reshape(rows, cols * es)
        if row_index is not None:
            nmax = int(row_index.max()) + 1 if row_index.size else 1
            self._span(pc, what, self.act.size, addr, nmax, cols * es, pitch, isa.ACT_ALIGN)
            idx = addr + row_index[:, None] * pitch + np.arange(cols * es)[None, :]
            self.act[idx] = data
        else:
            self._span(pc, what, self.act.size, addr, rows, cols * es, pitch, isa.ACT_ALIGN)
            self._wr(self.act, addr, pitch, data)

    def _need_half(self, pc: int, ins: Instruction) -> np.ndarray:
        h = ins.get("wbuf")
        if not self.loaded[h]:
            raise self._err(ErrorCode.WBUF_STATE, pc, f"reads weight-buffer half {h}, which holds no loaded "
                                                      "segment (missing LOAD, or already released)")
        return self.wbuf[h]

    def _record(self, pc: int, ins: Instruction, kind: str, n: int) -> dict[str, np.ndarray]:
        buf = self._need_half(pc, ins)
        off = ins.get("param")
        size = isa.record_bytes(kind, n)
        self._span(pc, f"{kind} record", buf.size, off, 1, size, size, isa.WBUF_ALIGN)
        return isa.unpack_record(kind, n, buf, off)

    def _queue(self, pc: int, ins: Instruction) -> tuple[np.ndarray, np.ndarray]:
        if self.queues is None:
            raise self._err(ErrorCode.BAD_FIELD, pc, "uses an expert queue before any ROUTE")
        e = ins.get("expert")
        if e >= len(self.queues):
            raise self._err(ErrorCode.BAD_FIELD, pc, f"expert {e} but the last ROUTE had {len(self.queues)} experts")
        return self.queues[e]

    # ---------------------------------------------------------------------------------------------------------
    def _step(self, pc: int, ins: Instruction, rec: Executed) -> None:
        op = ins.op
        if ins.get("cond"):
            tok, _ = self._queue(pc, ins)
            if tok.size == 0:
                rec.skipped = True
                return
        if op in (Opcode.NOP, Opcode.SYNC):
            return
        if op == Opcode.LOAD:
            self._load(pc, ins)
        elif op == Opcode.STORE:
            self._store(pc, ins)
        elif op == Opcode.IM2COL:
            self._im2col(pc, ins)
        elif op == Opcode.LAYERNORM:
            self._layernorm(pc, ins)
        elif op == Opcode.GEMM:
            rec.m = self._gemm(pc, ins)
        elif op == Opcode.ROUTE:
            self._route(pc, ins)
        else:  # pragma: no cover - decode rejects unknown opcodes
            raise self._err(ErrorCode.ILLEGAL_OPCODE, pc, f"opcode {op}")
        if ins.get("release") and op != Opcode.LOAD:
            self.loaded[ins.get("wbuf")] = False

    def _ddr(self, pc: int, ins: Instruction) -> np.ndarray:
        base = ins.get("ddr_base")
        if base not in (0, 1, 2):
            raise self._err(ErrorCode.BAD_FIELD, pc, f"ddr_base {base} undefined")
        return self.ddr[DdrBase(base)]

    def _load(self, pc: int, ins: Instruction) -> None:
        src = self._ddr(pc, ins)
        rows, rb, stride = ins.get("rows"), ins.get("row_bytes"), ins.get("src_stride")
        self._span(pc, "LOAD source", src.size if src.size else 0, ins.get("ddr_off"), rows, rb,
                   stride if rows > 1 else rb)
        data = self._rd(src, ins.get("ddr_off"), rows, rb, stride if rows > 1 else rb)
        space = ins.get("space")
        if space == Space.WBUF:
            h = ins.get("wbuf")
            if self.loaded[h]:
                raise self._err(ErrorCode.WBUF_STATE, pc, f"LOAD into weight-buffer half {h} before the segment "
                                                          "in it was released")
            if rows != 1:
                raise self._err(ErrorCode.BAD_FIELD, pc, "LOAD to WBUF must be contiguous (rows = 1)")
            self._span(pc, "LOAD destination", self.wbuf[h].size, ins.get("dst"), 1, rb, rb, isa.WBUF_ALIGN)
            self.wbuf[h][ins.get("dst"):ins.get("dst") + rb] = data.reshape(-1)
            self.loaded[h] = True
        elif space == Space.ACT:
            pitch = ins.get("dst_pitch") if rows > 1 else rb
            self._span(pc, "LOAD destination", self.act.size, ins.get("dst"), rows, rb, pitch, isa.ACT_ALIGN)
            self._wr(self.act, ins.get("dst"), pitch, data)
        else:
            raise self._err(ErrorCode.BAD_FIELD, pc, f"LOAD space {space} undefined")

    def _store(self, pc: int, ins: Instruction) -> None:
        dst = self._ddr(pc, ins)
        if ins.get("ddr_base") != DdrBase.OUTPUT:
            raise self._err(ErrorCode.BAD_FIELD, pc, "STORE writes only the OUTPUT region")
        rows, rb = ins.get("rows"), ins.get("row_bytes")
        pitch = ins.get("src_pitch") if rows > 1 else rb
        stride = ins.get("dst_stride") if rows > 1 else rb
        self._span(pc, "STORE source", self.act.size, ins.get("src"), rows, rb, pitch, isa.ACT_ALIGN)
        self._span(pc, "STORE destination", dst.size, ins.get("ddr_off"), rows, rb, stride)
        data = self._rd(self.act, ins.get("src"), rows, rb, pitch)
        self._wr(dst, ins.get("ddr_off"), stride, data)

    def _im2col(self, pc: int, ins: Instruction) -> None:
        src = self._ddr(pc, ins)
        c, h, w, p = ins.get("chans"), ins.get("height"), ins.get("width"), ins.get("patch")
        if min(c, h, w, p) == 0 or h % p or w % p:
            raise self._err(ErrorCode.BAD_FIELD, pc, f"IM2COL: C={c} H={h} W={w} P={p} (P must divide H and W)")
        n = c * h * w
        self._span(pc, "IM2COL source", src.size, ins.get("ddr_off"), 1, n, n)
        image = src[ins.get("ddr_off"):ins.get("ddr_off") + n].reshape(c, h, w)
        patches = patchify_u8(image, p)
        self._act_write(pc, "IM2COL destination", ins.get("dst"), ins.get("dst_pitch"), patches, "i1")

    def _layernorm(self, pc: int, ins: Instruction) -> None:
        rows, cols = ins.get("rows"), ins.get("cols")
        if cols > uarch.LN_MAX_COLS:
            raise self._err(ErrorCode.UNSUPPORTED, pc, f"LAYERNORM over {cols} channels exceeds the unit's "
                                                       f"{uarch.LN_MAX_COLS}")
        x = self._act_tensor(pc, "LAYERNORM source", ins.get("src"), rows, cols, ins.get("src_pitch"), "<i2")
        r = self._record(pc, ins, "layernorm", cols)
        p = LayerNormParams(gamma_mult=r["gamma"], beta=r["beta"], out_shift=int(r["out_shift"][0]),
                            eps=int(r["eps"][0]))
        if not 0 <= p.out_shift <= MAX_SHIFT:
            raise self._err(ErrorCode.BAD_FIELD, pc, f"LayerNorm out_shift {p.out_shift} outside 0..{MAX_SHIFT}")
        y = layernorm(x, p)
        self._act_write(pc, "LAYERNORM destination", ins.get("dst"), ins.get("dst_pitch"), y, "i1")

    def _route(self, pc: int, ins: Instruction) -> None:
        t, e, k = ins.get("tokens"), ins.get("experts"), ins.get("topk")
        if t < 1 or e < 1 or not 1 <= k <= e:
            raise self._err(ErrorCode.BAD_FIELD, pc, f"ROUTE tokens={t} experts={e} topk={k}")
        if t > self.cfg.max_tokens or e > self.cfg.max_experts:
            raise self._err(ErrorCode.UNSUPPORTED, pc, f"ROUTE {t} tokens x {e} experts exceeds max_tokens "
                                                       f"{self.cfg.max_tokens} / max_experts {self.cfg.max_experts}")
        if k > self.cfg.max_topk:
            raise self._err(ErrorCode.UNSUPPORTED, pc, f"ROUTE top-{k} exceeds the router's max_topk "
                                                       f"{self.cfg.max_topk}")
        logits = self._act_tensor(pc, "ROUTE source", ins.get("src"), t, e, ins.get("src_pitch"), "<i4")
        r = self._record(pc, ins, "route", e)
        if r["shift"].max() > MAX_SHIFT:
            raise self._err(ErrorCode.BAD_FIELD, pc, f"ROUTE shift outside 0..{MAX_SHIFT}")
        z = requantize(logits, r["mult"][None, :], r["shift"][None, :], bits=SM_Z_BITS, signed=True)
        gw = softmax_z(z, GATE_BITS)
        topk = topk_lower_index(z, k)
        qs = expert_queues(topk, e)
        self.queues = [(q.astype(INT64), gw[q, j]) for j, q in enumerate(qs)]
        self.queue_lengths.append([int(q.size) for q in qs])

    def _gemm(self, pc: int, ins: Instruction) -> int:
        epi_v, bsrc = ins.get("epi"), ins.get("bsrc")
        try:
            epi = Epilogue(epi_v)
        except ValueError:
            raise self._err(ErrorCode.BAD_FIELD, pc, f"epilogue {epi_v} undefined") from None
        m, n, k = ins.get("m"), ins.get("n"), ins.get("k")
        pimm, trans = ins.get("pimm"), ins.get("trans")
        if n == 0 or k == 0 or (m == 0 and not ins.get("qrows")):
            raise self._err(ErrorCode.BAD_FIELD, pc, f"GEMM with m={m} n={n} k={k}")
        if epi == Epilogue.SOFTMAX and not (pimm and trans):
            raise self._err(ErrorCode.BAD_FIELD, pc, "SOFTMAX needs pimm=1 and trans=1")
        if epi in (Epilogue.GELU8, Epilogue.MOE_COMBINE, Epilogue.ACC32) and pimm:
            raise self._err(ErrorCode.BAD_FIELD, pc, f"{epi.name} takes its parameters from a record (pimm=0)")
        if epi == Epilogue.MOE_COMBINE and (not ins.get("qrows") or trans):
            raise self._err(ErrorCode.BAD_FIELD, pc, "MOE_COMBINE needs qrows=1 and trans=0")
        if epi in (Epilogue.RESADD,) and trans:
            raise self._err(ErrorCode.BAD_FIELD, pc, "RESADD cannot be written transposed")
        if epi == Epilogue.SOFTMAX and m > self.cfg.max_tokens:
            raise self._err(ErrorCode.UNSUPPORTED, pc, f"softmax over {m} rows exceeds max_tokens")
        rows_idx = None
        gw = None
        if ins.get("qrows") or ins.get("gather"):
            tok, gw = self._queue(pc, ins)
            if ins.get("qrows"):
                if tok.size > m:
                    raise self._err(ErrorCode.BUF_OVERFLOW, pc, f"queue of expert {ins.get('expert')} holds "
                                                                f"{tok.size} tokens but m = {m} rows are allocated")
                m = int(tok.size)
            if ins.get("gather"):
                rows_idx = tok[:m]
        if m == 0:
            return 0
        a_dt = "u1" if ins.get("a_u8") else "i1"
        a = self._act_tensor(pc, "GEMM operand A", ins.get("a"), m, k, ins.get("a_pitch"), a_dt, rows_idx)
        if bsrc == BSrc.WBUF:
            buf = self._need_half(pc, ins)
            nbytes = isa.b_tiles_bytes(k, n, self.cols)
            self._span(pc, "GEMM operand B", buf.size, ins.get("b"), 1, nbytes, nbytes, isa.WBUF_ALIGN)
            b = isa.unpack_b_tiles(buf[ins.get("b"):ins.get("b") + nbytes], k, n, self.cols)
        else:
            b = self._act_tensor(pc, "GEMM operand B", ins.get("b"), k, n, ins.get("b_pitch"), "i1")
            if not uarch.b_operand_fits(k, n, self.cols, self.cfg.max_tokens):
                raise self._err(ErrorCode.UNSUPPORTED, pc, f"B from ACT ({k} x {n}) exceeds the B-operand buffer "
                                                           f"({self.cfg.max_tokens} words of "
                                                           f"{uarch.act_word_bytes(self.cols)} bytes)")
        rec = None
        if not pimm:
            rec = self._record(pc, ins, isa.EPI_RECORD[epi], n)
        bias = rec["bias"] if rec is not None else None
        acc = gemm(a, b.T, bias, x_signed=not ins.get("a_u8"), name=f"instruction {pc}")
        dst, dp = ins.get("dst"), ins.get("dst_pitch")
        if pimm:
            mult, shift = ins.get("mult"), ins.get("shift")
        elif rec is not None and "mult" in rec:
            mult, shift = rec["mult"], rec["shift"]
            if shift.size and shift.max() > MAX_SHIFT:
                raise self._err(ErrorCode.BAD_FIELD, pc, f"requantization shift outside 0..{MAX_SHIFT}")
        if epi == Epilogue.ACC32:
            self._out(pc, dst, dp, acc, "<i4", trans)
        elif epi == Epilogue.REQ8:
            self._out(pc, dst, dp, requant_int8(acc, mult, shift), "i1", trans)
        elif epi == Epilogue.GELU8:
            assert rec is not None
            self._out(pc, dst, dp, gelu(requant_int8(acc, mult, shift), rec["table"]), "i1", trans)
        elif epi == Epilogue.RESADD:
            r = self._act_tensor(pc, "RESADD residual", dst, m, n, dp, "<i2")
            self._out(pc, dst, dp, residual_add(r, acc, mult, shift), "<i2", False)
        elif epi == Epilogue.SOFTMAX:
            z = scores_to_z(acc, SoftmaxParams(mult=np.asarray(mult, dtype=INT64),
                                               shift=np.asarray(shift, dtype=INT64), out_bits=PROB_BITS))
            probs_nm = softmax_z(z.T, PROB_BITS)  # (N, M): row n = softmax over m
            self._out(pc, dst, dp, probs_nm.T, "u1", True)
        elif epi == Epilogue.MOE_COMBINE:
            assert rec is not None and gw is not None
            if rec["cshift"].size and rec["cshift"].max() > MAX_SHIFT:
                raise self._err(ErrorCode.BAD_FIELD, pc, f"combine shift outside 0..{MAX_SHIFT}")
            tok = self._queue(pc, ins)[0][:m]
            c = combine_terms(acc, gw[:m], rec["cmult"], rec["cshift"], name=f"instruction {pc}")
            r = self._act_tensor(pc, "MOE_COMBINE residual", dst, m, n, dp, "<i2", tok)
            self._act_write(pc, "MOE_COMBINE destination", dst, dp, saturate(r + c, RESIDUAL_BITS, True), "<i2",
                            tok)
        return m

    def _out(self, pc: int, dst: int, pitch: int, values: np.ndarray, dtype: str, trans: int) -> None:
        vals = values.T if trans else values
        self._act_write(pc, "GEMM destination", dst, pitch, np.ascontiguousarray(vals), dtype)


__all__ = ["Executed", "IsaSimulator", "SimError", "SimResult"]
