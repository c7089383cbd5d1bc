"""Emulated devices: the accelerator's s_axilite register file and a DDR address space in Python, executing a
program on ap_start with a reference implementation (the ISA simulator, or any `vitaccel.verify` backend).

The register file behaves like the Vitis HLS control block the HLS and RTL builds share (docs/isa.md §6):
    AP_CTRL  bit0 ap_start (stays 1 while running), bit1 ap_done (clear on read), bit2 ap_idle, bit3 ap_ready
    GIE / IER stored; ISR bit0 set at ap_done when IER bit0 is set, a write toggles the bits written as 1
    argument registers (lo / hi words) read back what was written; read-only registers ignore writes
    ID / ISA_VERSION / CONFIG_HASH: `identity="constant"` (the RTL build: readable at once) or
    `identity="after_run"` (the HLS build: kernel outputs, 0 until the first ap_start has completed)
    STATUS / ERROR_PC / CYCLES / STALL_CYCLES written at ap_done; every output's _CTRL word = ap_vld (clear on read)

Memory: `allocate` maps buffers at increasing 4 KiB-aligned addresses from 0x8_0000_0000 (above 4 GiB, like the
ZCU102 high DDR window) so the HI argument words are exercised. By default the host view and the device's memory
are separate copies (`coherent=False`): the device sees host writes only after `flush()` and the host sees device
writes only after `invalidate()`, as on a Zynq with non-coherent HP ports, so a driver that forgets either
fails here instead of on the board.

On ap_start the device reads the image header at IMAGE_ADDR for the region sizes (image_bytes, input_bytes,
output_bytes; an unreadable header gives the executor just the 64 header bytes, and the executor reports
BAD_IMAGE as the hardware does), INSTR_COUNT instructions at PROGRAM_ADDR, and calls the executor. An executor
error (ProgramError with .code / .index) becomes STATUS / ERROR_PC (index -1 -> 0xFFFFFFFF). An argument address
outside every allocated buffer stops the run with ADDR_RANGE at ERROR_PC 0xFFFFFFFF (real hardware would issue the
AXI access; the emulation refuses it and keeps the reason in `last_fault`). Any other exception of the executor is
a device crash: it is re-raised (as DeviceError) by the next register access, never turned into a result.

`threaded=True` (default) runs the executor in a worker thread so the driver really polls ap_done (timeouts and
busy checks behave as on hardware); `threaded=False` finishes the run inside the AP_CTRL write.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from vitaccel.errors import ProgramError
from vitaccel.isa import spec
from vitaccel.isa.image import HEADER_BYTES, parse_header
from vitaccel.isa.regmap import (
    ADDR_SPACE_BYTES,
    AP_CTRL_AUTO_RESTART,
    AP_CTRL_DONE,
    AP_CTRL_IDLE,
    AP_CTRL_READY,
    AP_CTRL_START,
    ARGS,
    FIELDS,
    IER_ALL,
    IER_AP_DONE,
    ISR_ALL,
    ISR_AP_DONE,
    REGISTERS,
    ErrorCode,
    register_map,
    status_word,
)
from vitaccel.runtime.device import Buffer, Device, DeviceError

DDR_BASE = 0x8_0000_0000
PAGE = 4096


def isa_version_word() -> int:
    return (spec.ISA_MAJOR << 16) | spec.ISA_MINOR


@dataclass
class Execution:
    """What an executor returns: the OUTPUT region bytes and the cycle counters (None = not modelled)."""

    output: np.ndarray
    cycles: int | None = None
    stall_cycles: int | None = None


class Executor(Protocol):
    """Runs one program: raises ProgramError with .code (ErrorCode) and .index (-1 = image) on a bad program."""

    def execute(self, program: bytes, image: np.ndarray, inputs: np.ndarray, output_bytes: int) -> Execution: ...


class IsaExecutor:
    """The ISA simulator (bit-exact reference; cycles from the performance model)."""

    def __init__(self, cfg: Any):
        from vitaccel.sim import IsaSimulator

        self.sim = IsaSimulator(cfg)

    def execute(self, program: bytes, image: np.ndarray, inputs: np.ndarray, output_bytes: int) -> Execution:
        res = self.sim.run(program, image, inputs)
        return Execution(np.asarray(res.output, dtype=np.uint8), res.cycles, res.stall_cycles)


class BackendExecutor:
    """Any `vitaccel.verify` backend: run(program, image, inputs) -> (output bytes or int32 array, cycles)."""

    def __init__(self, backend: Any):
        self.backend = backend

    def execute(self, program: bytes, image: np.ndarray, inputs: np.ndarray, output_bytes: int) -> Execution:
        out, cycles = self.backend.run(program, image.tobytes(), inputs)
        if isinstance(out, (bytes, bytearray, memoryview)):
            raw = np.frombuffer(bytes(out), dtype=np.uint8)
        else:
            arr = np.asarray(out)
            if arr.dtype == np.uint8:
                raw = arr.reshape(-1)
            elif arr.dtype.kind == "i" and arr.dtype.itemsize == 4:
                raw = np.ascontiguousarray(arr.astype("<i4")).reshape(-1).view(np.uint8)
            else:
                raise DeviceError(f"backend {getattr(self.backend, 'name', self.backend)!r} returned dtype "
                                  f"{arr.dtype}; expected OUTPUT bytes (uint8) or int32")
        if raw.size != output_bytes:
            raise DeviceError(f"backend {getattr(self.backend, 'name', self.backend)!r} returned {raw.size} output "
                              f"bytes; the image header says {output_bytes}")
        return Execution(raw, None if not cycles else int(cycles), None)


class _EmuBuffer(Buffer):
    def __init__(self, dev: EmulatedDevice, host: np.ndarray, mem: np.ndarray, addr: int):
        super().__init__(host, addr)
        self._dev, self._mem = dev, mem

    def flush(self) -> None:
        if self._mem is not self.array:
            self._mem[:] = self.array

    def invalidate(self) -> None:
        if self._mem is not self.array:
            self.array[:] = self._mem

    def free(self) -> None:
        self._dev._unmap(self.device_address)


class _Fault(Exception):
    pass


class EmulatedDevice(Device):
    """Register file + DDR model + executor (see the module docstring)."""

    name = "emulated"
    default_timeout_s = 600.0  # the reference model runs in Python: m3vit-tiny takes seconds, not milliseconds

    def __init__(self, executor: Executor, config_hash: int, identity: str = "constant", threaded: bool = True,
                 coherent: bool = False, accel_id: int = spec.ACCEL_ID, isa_version: int | None = None):
        if identity not in ("constant", "after_run"):
            raise ValueError(f"identity must be 'constant' or 'after_run', got {identity!r}")
        self.executor = executor
        self.identity = identity
        self.threaded = threaded
        self.coherent = coherent
        self._ident = {"ID": int(accel_id), "ISA_VERSION": isa_version_word() if isa_version is None else
                       int(isa_version), "CONFIG_HASH": int(config_hash) & 0xFFFFFFFF}
        self._regs: dict[int, int] = {r.offset: 0 for r in register_map()}
        self._access = {r.offset: r.access for r in register_map()}
        self._vld: dict[int, bool] = {}
        self._lock = threading.RLock()
        self._running = False
        self._done = False  # AP_CTRL.ap_done (clear on read)
        self._ready = False
        self._auto_restart = False
        self._thread: threading.Thread | None = None
        self._crash: BaseException | None = None
        self._mem: dict[int, np.ndarray] = {}
        self._next = DDR_BASE
        self.last_fault: str | None = None
        self.runs = 0
        if identity == "constant":
            self._set_identity()

    # ---- registers ---------------------------------------------------------------------------------------
    def _check_offset(self, offset: int) -> None:
        if offset % 4 or not 0 <= offset < ADDR_SPACE_BYTES:
            raise DeviceError(f"register offset 0x{offset:x}: not a word inside the 0x{ADDR_SPACE_BYTES:x}-byte "
                              "control space")

    def _reraise_crash(self) -> None:
        if self._crash is not None:
            exc, self._crash = self._crash, None
            raise DeviceError(f"{self.name} device: the executor crashed: {type(exc).__name__}: {exc}") from exc

    def read32(self, offset: int) -> int:
        self._check_offset(offset)
        with self._lock:
            self._reraise_crash()
            if offset == REGISTERS["AP_CTRL"]:
                val = (AP_CTRL_START if self._running else 0) | (AP_CTRL_DONE if self._done else 0) | \
                      (0 if self._running else AP_CTRL_IDLE) | (AP_CTRL_READY if self._ready else 0) | \
                      (AP_CTRL_AUTO_RESTART if self._auto_restart else 0)
                self._done = False  # clear on read
                self._ready = False
                return val
            if self._access.get(offset) == "cor":  # an output's ap_vld word
                v = self._vld.pop(offset, False)
                return int(v)
            return self._regs.get(offset, 0)

    def write32(self, offset: int, value: int) -> None:
        self._check_offset(offset)
        value = int(value) & 0xFFFFFFFF
        with self._lock:
            self._reraise_crash()
            if offset == REGISTERS["AP_CTRL"]:
                self._auto_restart = bool(value & AP_CTRL_AUTO_RESTART)
                if value & AP_CTRL_START and not self._running:
                    self._start()
                return
            if offset == REGISTERS["ISR"]:
                self._regs[offset] ^= value & ISR_ALL
                return
            if offset in (REGISTERS["GIE"], REGISTERS["IER"]):
                self._regs[offset] = value & (FIELDS["GIE_ENABLE"].mask if offset == REGISTERS["GIE"] else IER_ALL)
                return
            if self._access.get(offset) == "rw":
                self._regs[offset] = value
            # writes to read-only / clear-on-read words are ignored, as by the hardware

    def _arg(self, name: str) -> int:
        return self._regs[REGISTERS[f"{name}_LO"]] | (self._regs[REGISTERS[f"{name}_HI"]] << 32)

    def _set_identity(self) -> None:
        for name, val in self._ident.items():
            self._regs[REGISTERS[name]] = val

    def _set_out(self, name: str, value: int, bits: int) -> None:
        if bits == 32:
            self._regs[REGISTERS[name]] = value & 0xFFFFFFFF
            self._vld[REGISTERS[f"{name}_CTRL"]] = True
        else:
            self._regs[REGISTERS[f"{name}_LO"]] = value & 0xFFFFFFFF
            self._regs[REGISTERS[f"{name}_HI"]] = (value >> 32) & 0xFFFFFFFF
            self._vld[REGISTERS[f"{name}_CTRL"]] = True

    # ---- memory ------------------------------------------------------------------------------------------
    def allocate(self, nbytes: int) -> Buffer:
        nbytes = int(nbytes)
        if nbytes <= 0:
            raise DeviceError(f"allocate: {nbytes} bytes requested; expected a positive size")
        with self._lock:
            addr = self._next
            self._next += -(-nbytes // PAGE) * PAGE
            mem = np.zeros(nbytes, dtype=np.uint8)
            host = mem if self.coherent else np.zeros(nbytes, dtype=np.uint8)
            self._mem[addr] = mem
        return _EmuBuffer(self, host, mem, addr)

    def _unmap(self, addr: int) -> None:
        with self._lock:
            self._mem.pop(addr, None)

    def _region(self, addr: int, nbytes: int, what: str) -> np.ndarray:
        for base, mem in self._mem.items():
            if base <= addr < base + mem.size:
                off = addr - base
                if off + nbytes > mem.size:
                    raise _Fault(f"{what}: {nbytes} bytes at 0x{addr:x} run past the end of the buffer at "
                                 f"0x{base:x} ({mem.size} bytes)")
                return mem[off:off + nbytes]
        raise _Fault(f"{what}: address 0x{addr:x} is not in any allocated buffer")

    # ---- execution ---------------------------------------------------------------------------------------
    def _start(self) -> None:
        self._running, self._done, self._ready = True, False, False
        self._regs[REGISTERS["STATUS"]] = 0  # [9] done since start: cleared by ap_start
        self.runs += 1
        args = {name: self._arg(name) for name, _, d, _ in ARGS if d == "in"}
        if self.threaded:
            self._thread = threading.Thread(target=self._execute, args=(args,), daemon=True,
                                            name=f"{self.name}-device")
            self._thread.start()
        else:
            self._execute(args)

    def _gather(self, a: dict[str, int]) -> tuple[bytes, np.ndarray, np.ndarray, int, int, int]:
        with self._lock:
            hdr_raw = self._region(a["IMAGE_ADDR"], HEADER_BYTES, "IMAGE_ADDR (image header)").copy()
            try:
                hdr = parse_header(hdr_raw, check_crc=False)
                sizes = (hdr.image_bytes, hdr.input_bytes, hdr.output_bytes)
            except ProgramError:
                sizes = (HEADER_BYTES, 0, 0)  # the executor reports BAD_IMAGE, like the hardware
            image = self._region(a["IMAGE_ADDR"], max(sizes[0], HEADER_BYTES), "IMAGE_ADDR").copy()
            count = a["INSTR_COUNT"]
            prog = b""
            if count:
                # the sequencer fetches until END or INSTR_COUNT; the emulation fetches what the buffer holds
                base = next((b for b, m in self._mem.items() if b <= a["PROGRAM_ADDR"] < b + m.size), None)
                if base is None:
                    raise _Fault(f"PROGRAM_ADDR 0x{a['PROGRAM_ADDR']:x} is not in any allocated buffer")
                avail = (self._mem[base].size - (a["PROGRAM_ADDR"] - base)) // spec.INSTR_BYTES
                n = min(count, avail) * spec.INSTR_BYTES
                prog = self._region(a["PROGRAM_ADDR"], n, "PROGRAM_ADDR").tobytes()
            inputs = self._region(a["INPUT_ADDR"], sizes[1], "INPUT_ADDR").copy() if sizes[1] else \
                np.zeros(0, np.uint8)
            if sizes[2]:
                self._region(a["OUTPUT_ADDR"], sizes[2], "OUTPUT_ADDR")  # checked before running
        return prog, image, inputs, sizes[2], a["OUTPUT_ADDR"], count

    def _execute(self, args: dict[str, int]) -> None:
        code, pc, cycles, stall = ErrorCode.NONE, 0, 0, 0
        try:
            try:
                prog, image, inputs, out_bytes, out_addr, _ = self._gather(args)
                res = self.executor.execute(prog, image, inputs, out_bytes)
                with self._lock:
                    if out_bytes:
                        self._region(out_addr, out_bytes, "OUTPUT_ADDR")[:] = np.asarray(res.output, np.uint8)
                cycles, stall = res.cycles or 0, res.stall_cycles or 0
                self.last_fault = None
            except _Fault as exc:
                code, pc, self.last_fault = ErrorCode.ADDR_RANGE, -1, str(exc)
            except ProgramError as exc:
                if getattr(exc, "code", None) is None:
                    raise
                code, pc = ErrorCode(int(exc.code)), int(getattr(exc, "index", -1))  # type: ignore[attr-defined]
                self.last_fault = str(exc)
        except BaseException as exc:  # a crash of the executor: surfaced by the next register access
            with self._lock:
                self._crash = exc
                self._running = False
            return
        with self._lock:
            if self.identity == "after_run":
                self._set_identity()
            self._set_out("STATUS", status_word(code, done=True), 32)
            self._set_out("ERROR_PC", pc & 0xFFFFFFFF if code else 0, 32)
            self._set_out("CYCLES", int(cycles), 64)
            self._set_out("STALL_CYCLES", int(stall), 64)
            for name in ("ID", "ISA_VERSION", "CONFIG_HASH"):
                self._vld[REGISTERS[f"{name}_CTRL"]] = True
            self._running, self._done, self._ready = False, True, True
            if self._regs[REGISTERS["IER"]] & IER_AP_DONE:
                self._regs[REGISTERS["ISR"]] |= ISR_AP_DONE

    def join(self, timeout_s: float | None = None) -> None:
        """Wait for a background run to finish (tests; the driver polls ap_done instead)."""
        t = self._thread
        if t is not None:
            t.join(timeout_s)

    def close(self) -> None:
        self.join(60.0)
        with self._lock:
            self._mem.clear()


class IsaDevice(EmulatedDevice):
    """The `isa` device: the ISA simulator behind the accelerator's register file (RTL-style constant identity
    registers by default). `IsaDevice(cfg)` or `IsaDevice(board="zcu102", overrides={...})`."""

    name = "isa"

    def __init__(self, cfg: Any = None, board: str | None = None, overrides: dict[str, Any] | None = None,
                 **kwargs: Any):
        cfg = _config(cfg, board, overrides)
        self.cfg = cfg
        super().__init__(IsaExecutor(cfg), cfg.config_hash(), **kwargs)

    def describe(self) -> dict[str, Any]:
        return {"device": self.name, "board": self.cfg.board, "config_hash": f"0x{self.cfg.config_hash():08x}"}


class BackendDevice(EmulatedDevice):
    """Adapter: a `vitaccel.verify` backend (run(program, image, inputs) only) behind the same register file, so
    the driver's code path is the one it uses on a board. HLS-style identity registers (valid after a run)."""

    backend_name = ""

    def __init__(self, cfg: Any = None, board: str | None = None, overrides: dict[str, Any] | None = None,
                 backend: str | None = None, **kwargs: Any):
        from vitaccel.verify import get_backend

        cfg = _config(cfg, board, overrides)
        self.cfg = cfg
        self.name = backend or self.backend_name
        kwargs.setdefault("identity", "after_run")
        super().__init__(BackendExecutor(get_backend(self.name, cfg)), cfg.config_hash(), **kwargs)

    def describe(self) -> dict[str, Any]:
        return {"device": self.name, "board": self.cfg.board, "config_hash": f"0x{self.cfg.config_hash():08x}",
                "adapter": "vitaccel.verify backend behind the emulated register file"}


class CsimDevice(BackendDevice):
    """HLS C-simulation library (vitaccel.hlsgen.backend:CsimBackend) behind the register file."""

    backend_name = "csim"


class RtlsimDevice(BackendDevice):
    """Verilator model (vitaccel.verify backend "rtlsim") behind the register file, until the RTL package
    registers a device that drives the model's own s_axilite port (register_device("rtlsim", ...))."""

    backend_name = "rtlsim"


def _config(cfg: Any, board: str | None, overrides: dict[str, Any] | None) -> Any:
    if cfg is not None:
        if board is not None or overrides:
            raise ValueError("give either cfg or board/overrides, not both")
        return cfg
    if board is None:
        raise DeviceError("an emulated device needs the accelerator it emulates: cfg=AcceleratorConfig or "
                          "board='zcu102' (+ overrides)")
    from vitaccel.boards.accel import derive_accelerator_config

    return derive_accelerator_config(board, overrides)


__all__ = [
    "DDR_BASE",
    "BackendDevice",
    "BackendExecutor",
    "CsimDevice",
    "EmulatedDevice",
    "Execution",
    "Executor",
    "IsaDevice",
    "IsaExecutor",
    "RtlsimDevice",
]
