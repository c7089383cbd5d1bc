"""The accelerator driver: one code path for every device (isa, csim, rtlsim, pynq).

    from vitaccel.runtime import Accelerator
    with Accelerator("build/bundle", device="isa") as acc:        # or device=PynqDevice("vitaccel.bit")
        y = acc.predict(images_u8, task="segment")                 # (B, C, H, W) uint8 -> float32, model layout
        r = acc.run(image_u8)                                      # one image: .int32, .output, .cycles, .seconds
        acc.throughput_test(batch=16)                              # FINN-style figures

Per run (docs/runtime.md): check the input (uint8, exact shape; nothing is cast or resized); require ap_idle;
copy it into the INPUT buffer and flush; fill the OUTPUT buffer with a fill pattern and flush; write the five
64-bit argument registers; clear ISR; ap_start; wait for ap_done (interrupt or poll) with a timeout; read STATUS
and ERROR_PC and raise DeviceProgramError (a vitaccel.errors.ProgramError) on an error; invalidate and read the
OUTPUT buffer as little-endian int32 of the manifest's exact shape, refusing a buffer that still holds only the
fill pattern (the accelerator reported success but wrote nothing); dequantize with the bundle's scales; report
CYCLES / STALL_CYCLES (None when the build does not count: the HLS build's CYCLES reads 0).

Before the first run (and whenever a task is loaded) the driver reads ID, ISA_VERSION and CONFIG_HASH and refuses a
device whose values differ from the memory-image header. An HLS build only writes these output registers when the
kernel runs, so when ID reads 0 the driver first starts one probe run with a 64-byte all-zero image header: the
kernel writes its identity and stops at once with BAD_IMAGE before touching the input or output.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vitaccel.errors import ConfigError, InputError, ProgramError
from vitaccel.isa import spec
from vitaccel.isa.regmap import (
    AP_CTRL_IDLE,
    AP_CTRL_START,
    FIELDS,
    IER_AP_DONE,
    ISR_ALL,
    REGISTERS,
    ErrorCode,
    decode_isa_version,
    decode_status,
    error_name,
    status_fields,
)
from vitaccel.runtime.bundle import Bundle, CompiledTask
from vitaccel.runtime.device import AcceleratorTimeout, Buffer, Device, DeviceError, open_device

FILL_BYTE = 0xA5  # OUTPUT buffer fill before every run (int32 0xA5A5A5A5 = -1515870811)


class DeviceProgramError(ProgramError):
    """The accelerator stopped with an error: `code` (STATUS[7:0]) at instruction `index` (ERROR_PC; -1 = image
    header), `layer` from the manifest when known."""

    def __init__(self, code: ErrorCode, index: int, status: int, device: str, layer: str | None = None):
        self.code, self.index, self.status, self.layer = ErrorCode(code), int(index), int(status), layer
        where = "the memory image header (ERROR_PC 0xFFFFFFFF)" if self.index < 0 else \
            f"instruction {self.index}" + (f" (layer {layer})" if layer else "")
        hint = f" ({self.code.doc})" if self.code == ErrorCode.AXI_ERROR else ""
        super().__init__(f"{device}: accelerator stopped with {self.code.name} (code {int(self.code)}) at {where}"
                         f"{hint}; STATUS=0x{self.status:08x}")


class IdentityMismatch(ProgramError):
    """The device is not the accelerator the bundle was compiled for (ID, ISA version or config hash)."""


@dataclass
class RunResult:
    """One image: int32 head accumulators (rows, n), float output (model layout) or None, cycles (None when the
    device does not count), wall-clock seconds of start..done."""

    task: str
    int32: np.ndarray
    output: np.ndarray | None
    cycles: int | None
    stall_cycles: int | None
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Loaded:
    task: CompiledTask
    program: Buffer
    image: Buffer
    inp: Buffer
    out: Buffer


def _addr_words(dev: Device, name: str, value: int) -> None:
    dev.write32(REGISTERS[f"{name}_LO"], value & 0xFFFFFFFF)
    dev.write32(REGISTERS[f"{name}_HI"], (value >> 32) & 0xFFFFFFFF)


def _read64(dev: Device, name: str) -> int:
    return dev.read32(REGISTERS[f"{name}_LO"]) | (dev.read32(REGISTERS[f"{name}_HI"]) << 32)


class Accelerator:
    """Driver for one device and one bundle (see the module docstring).

    bundle: directory (or Bundle); device: a Device or a registered name ("isa", "csim", "rtlsim", "pynq").
    With a name, emulated devices are built for `board` (default: the bundle's board) with `overrides`
    (the accelerator the hardware would be generated for), the pynq device from `bitfile`.
    timeout_s: ap_done wait per run (default: the device's default_timeout_s, 10 s on a board, 600 s emulated).
    Not thread-safe: one Accelerator per device, runs one after another.
    """

    def __init__(self, bundle: str | Path | Bundle, device: Device | str = "isa", *, board: str | None = None,
                 overrides: dict[str, Any] | None = None, bitfile: str | Path | None = None,
                 qmodel: Any = None, timeout_s: float | None = None, **device_kwargs: Any):
        if timeout_s is not None and not float(timeout_s) > 0:  # also NaN
            raise ConfigError(f"timeout_s={timeout_s!r}: expected a positive number of seconds")
        self.bundle = bundle if isinstance(bundle, Bundle) else Bundle.load(bundle, qmodel=qmodel)
        if isinstance(bundle, Bundle) and qmodel is not None:
            self.bundle.attach_qmodel(qmodel)
        self._owns_device = not isinstance(device, Device)
        if isinstance(device, Device):
            self.device = device
        elif device == "pynq":
            if bitfile is None:
                raise ConfigError("device 'pynq' needs the bitstream: give `vitaccel run --bitfile PATH/design.bit` "
                                  "(Python: Accelerator(..., bitfile=PATH/design.bit)), with design.hwh beside it")
            self.device = open_device("pynq", bitfile=bitfile, **device_kwargs)
        else:
            self.device = open_device(device, board=board or self.bundle.board, overrides=overrides,
                                      **device_kwargs)
        self.timeout_s = float(timeout_s if timeout_s is not None else self.device.default_timeout_s)
        self._loaded: dict[str, _Loaded] = {}
        self.identity: dict[str, int] | None = None
        # ISR.ap_done = sticky done flag (GIE stays as the device set it)
        self.device.write32(REGISTERS["IER"], IER_AP_DONE)

    # ---- identity ---------------------------------------------------------------------------------------------
    def read_identity(self) -> dict[str, int]:
        """ID, ISA_VERSION, CONFIG_HASH as the hardware reports them (probe run first on an HLS build)."""
        dev = self.device
        ident = {k: dev.read32(REGISTERS[k]) for k in ("ID", "ISA_VERSION", "CONFIG_HASH")}
        if ident["ID"] == 0:
            self._probe()
            ident = {k: dev.read32(REGISTERS[k]) for k in ("ID", "ISA_VERSION", "CONFIG_HASH")}
        self.identity = ident
        return ident

    def _probe(self) -> None:
        """Start the kernel once on an all-zero 64-byte image header (magic 0 -> BAD_IMAGE at once): an HLS build
        writes ID / ISA_VERSION / CONFIG_HASH on every run. Needs no input or output memory."""
        dev = self.device
        self._require_idle()
        buf = dev.allocate(4096)
        try:
            buf.array[:] = 0
            buf.flush()
            for name in ("PROGRAM_ADDR", "IMAGE_ADDR", "INPUT_ADDR", "OUTPUT_ADDR"):
                _addr_words(dev, name, buf.device_address)
            _addr_words(dev, "INSTR_COUNT", 0)
            self._clear_isr()
            dev.write32(REGISTERS["AP_CTRL"], AP_CTRL_START)
            if not dev.wait_interrupt_or_poll(self.timeout_s):
                raise self._timeout("identity probe run (all-zero image header)")
            self._clear_isr()
        finally:
            buf.free()

    def check_identity(self, task: CompiledTask) -> None:
        """IdentityMismatch unless the device's ID, ISA major (and minor >= the image's) and config hash match."""
        ident = self.identity or self.read_identity()
        hdr = task.header
        where = f"{self.device.name} device vs bundle {task.directory}"
        if ident["ID"] != spec.ACCEL_ID:
            raise IdentityMismatch(f"{where}: ID register 0x{ident['ID']:08x}, expected 0x{spec.ACCEL_ID:08x} ('VTA1'): "
                                   "this IP is not a vitaccel accelerator (or the bitstream is not loaded)")
        hw_major, hw_minor = decode_isa_version(ident["ISA_VERSION"])
        if hw_major != hdr.isa_major or hw_minor < hdr.isa_minor:
            raise IdentityMismatch(f"{where}: hardware ISA version {hw_major}.{hw_minor}, the program needs "
                                   f"{hdr.isa_major}.{hdr.isa_minor} (same major, minor at least)")
        if ident["CONFIG_HASH"] != hdr.config_hash:
            raise IdentityMismatch(
                f"{where}: hardware CONFIG_HASH 0x{ident['CONFIG_HASH']:08x} but the program was compiled for config "
                f"hash 0x{hdr.config_hash:08x} (board {task.manifest.get('board')!r}); recompile for this "
                "accelerator (`vitaccel compile --board ... --set ...` with the bitstream's settings) or load the "
                "matching bitstream")

    # ---- buffers ----------------------------------------------------------------------------------------------
    def load(self, task: int | str | None = None) -> CompiledTask:
        """Check identity and place the task's program and memory image in device memory (once per task)."""
        t = self.bundle.task(task)
        if t.task in self._loaded:
            return t
        self.check_identity(t)
        dev = self.device
        prog = dev.allocate(len(t.program))
        img = dev.allocate(len(t.image))
        inp = dev.allocate(t.header.input_bytes)
        out = dev.allocate(t.header.output_bytes)
        for b, align, what in ((prog, spec.INSTR_BYTES, "program"), (img, 64, "memory image")):
            if b.device_address % align:
                raise DeviceError(f"{dev.name}: {what} buffer at 0x{b.device_address:x} is not {align}-byte aligned")
        prog.write(t.program)
        prog.flush()
        img.write(t.image)
        img.flush()
        self._loaded[t.task] = _Loaded(t, prog, img, inp, out)
        return t

    # ---- one run ----------------------------------------------------------------------------------------------
    def _check_image(self, t: CompiledTask, image: Any) -> np.ndarray:
        shape = t.input_shape
        expected = f"a uint8 numpy array of shape {shape} (C, H, W)"
        if not isinstance(image, np.ndarray):
            raise InputError(f"task {t.task!r}: expected {expected}, got {type(image).__name__}")
        if image.dtype != np.uint8:
            raise InputError(f"task {t.task!r}: expected {expected}, got dtype {image.dtype} (convert explicitly; "
                             "the driver never casts)")
        if image.shape != shape:
            raise InputError(f"task {t.task!r}: expected {expected}, got shape {image.shape}")
        return np.ascontiguousarray(image)

    def _clear_isr(self) -> None:
        isr = self.device.read32(REGISTERS["ISR"])
        if isr & ISR_ALL:
            self.device.write32(REGISTERS["ISR"], isr & ISR_ALL)  # toggle-on-write clears the set bits

    def _require_idle(self) -> None:
        ctrl = self.device.read32(REGISTERS["AP_CTRL"])
        if not ctrl & AP_CTRL_IDLE:
            raise DeviceError(f"{self.device.name}: accelerator busy (AP_CTRL=0x{ctrl:02x}, ap_idle=0): a previous "
                              "run has not finished (after a timeout, wait or reload the bitstream)")

    def _timeout(self, what: str) -> AcceleratorTimeout:
        dev = self.device
        ctrl = dev.read32(REGISTERS["AP_CTRL"])
        status = dev.read32(REGISTERS["STATUS"])
        epc = dev.read32(REGISTERS["ERROR_PC"])
        raw, err, done = status_fields(status)
        return AcceleratorTimeout(
            f"{dev.name}: no ap_done within {self.timeout_s:g} s for {what}: AP_CTRL=0x{ctrl:02x} "
            f"(ap_start={FIELDS['AP_CTRL_START'].get(ctrl)}, ap_idle={FIELDS['AP_CTRL_IDLE'].get(ctrl)}), "
            f"STATUS=0x{status:08x} (code {raw} {error_name(raw)}, error={int(err)}, done={int(done)}), "
            f"ERROR_PC=0x{epc:08x}", ctrl, status, epc)

    def run(self, image: np.ndarray, task: int | str | None = None, output: str = "float") -> RunResult:
        """Run one uint8 image (C, H, W). output: "float" (dequantized, needs scales), "int32" (float None)."""
        if output not in ("float", "int32"):
            raise ConfigError(f"output={output!r}: expected 'float' or 'int32'")
        t = self.load(task)
        if output == "float":
            t.require_scales()
        img = self._check_image(t, image)
        ld = self._loaded[t.task]
        dev = self.device
        self._require_idle()
        ld.inp.write(img)
        ld.inp.flush()
        ld.out.array[:] = FILL_BYTE
        ld.out.flush()
        _addr_words(dev, "PROGRAM_ADDR", ld.program.device_address)
        _addr_words(dev, "INSTR_COUNT", t.instructions)
        _addr_words(dev, "IMAGE_ADDR", ld.image.device_address)
        _addr_words(dev, "INPUT_ADDR", ld.inp.device_address)
        _addr_words(dev, "OUTPUT_ADDR", ld.out.device_address)
        self._clear_isr()
        t0 = time.perf_counter()
        dev.write32(REGISTERS["AP_CTRL"], AP_CTRL_START)
        if not dev.wait_interrupt_or_poll(self.timeout_s):
            raise self._timeout(f"task {t.task!r} ({t.instructions} instructions)")
        seconds = time.perf_counter() - t0
        self._clear_isr()
        status = dev.read32(REGISTERS["STATUS"])
        try:
            code, err, done = decode_status(status)
        except ValueError:
            raise DeviceError(f"{dev.name}: STATUS=0x{status:08x} holds an unknown error code "
                              f"{status_fields(status)[0]}") from None
        if err or code != ErrorCode.NONE:
            epc = dev.read32(REGISTERS["ERROR_PC"])
            index = -1 if epc == 0xFFFFFFFF else epc
            raise DeviceProgramError(code, index, status, dev.name, t.layer_at(index) if index >= 0 else None)
        if not done:
            raise DeviceError(f"{dev.name}: ap_done without STATUS.done (STATUS=0x{status:08x}); the accelerator did "
                              "not finish the program")
        ld.out.invalidate()
        raw = ld.out.array
        if raw.size != 4 * t.output_shape[0] * t.output_shape[1]:  # pragma: no cover - buffers sized at load
            raise DeviceError(f"{dev.name}: OUTPUT buffer {raw.size} bytes for int32 {t.output_shape}")
        if np.all(raw == FILL_BYTE):
            raise DeviceError(f"{dev.name}: the accelerator reported success but the OUTPUT buffer at "
                              f"0x{ld.out.device_address:x} still holds only the fill pattern 0x{FILL_BYTE:02X}: "
                              "nothing was written (wrong OUTPUT_ADDR, a cache not invalidated, or a broken "
                              "STORE path); refusing to return it")
        acc = raw.view("<i4").reshape(t.output_shape).astype(np.int32, copy=True)
        cycles = _read64(dev, "CYCLES") or None
        stall = _read64(dev, "STALL_CYCLES") if cycles else None
        out = t.dequantize(acc[None])[0] if output == "float" else None
        return RunResult(t.task, acc, out, cycles, stall, seconds)

    # ---- batch API --------------------------------------------------------------------------------------------
    def _batch(self, images: Any, t: CompiledTask) -> np.ndarray:
        if isinstance(images, np.ndarray) and images.ndim == len(t.input_shape):
            images = images[None]
        if not isinstance(images, np.ndarray) or images.ndim != 4:
            got = images.shape if isinstance(images, np.ndarray) else type(images).__name__
            raise InputError(f"task {t.task!r}: expected a uint8 batch (B, {', '.join(map(str, t.input_shape))}), "
                             f"got {got}")
        if images.shape[0] == 0:
            raise InputError(f"task {t.task!r}: empty batch {images.shape} (0 images), expected at least one image "
                             f"(B, {', '.join(map(str, t.input_shape))}) with B >= 1")
        return images

    def predict(self, images: np.ndarray, task: int | str | None = None, output: str = "float") -> np.ndarray:
        """Batch inference like hls4ml's / FINN's drivers: (B, C, H, W) uint8 -> float32 in the float model's
        layout (classify (B, classes); segment / depth (B, ch, H, W)), or output="int32": (B, rows, n)."""
        t = self.load(task)
        batch = self._batch(images, t)
        results = [self.run(img, t.task, output) for img in batch]
        if output == "int32":
            return np.stack([r.int32 for r in results])
        return np.stack([r.output for r in results])  # type: ignore[misc]

    execute = predict  # FINN's name

    def run_batch(self, images: np.ndarray, task: int | str | None = None, output: str = "float") -> list[RunResult]:
        """Like predict, keeping the per-image cycles and timings."""
        t = self.load(task)
        return [self.run(img, t.task, output) for img in self._batch(images, t)]

    def throughput_test(self, batch: int = 8, task: int | str | None = None, seed: int = 0) -> dict[str, Any]:
        """FINN-style figures over `batch` random images: wall-clock runtime, images/s, DRAM traffic and, when
        the device counts cycles, the accelerator-only latency at the bundle's clock."""
        if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
            raise ConfigError(f"throughput_test batch={batch!r}: expected an integer >= 1")
        t = self.load(task)
        rng = np.random.default_rng(seed)
        imgs = rng.integers(0, 256, size=(batch, *t.input_shape), dtype=np.uint8)
        t0 = time.perf_counter()
        res = [self.run(img, t.task, "int32") for img in imgs]
        total = time.perf_counter() - t0
        clock = float(t.manifest.get("accelerator", {}).get("clock_mhz", 0.0)) or None
        cycles = [r.cycles for r in res if r.cycles]
        hw_ms = (float(np.mean(cycles)) / (clock * 1e3)) if cycles and clock else None
        in_b, out_b = t.header.input_bytes, t.header.output_bytes
        return {
            "device": self.device.name, "task": t.task, "batch": batch,
            "runtime_ms": total * 1e3, "throughput_images_per_s": batch / total if total > 0 else None,
            "latency_ms_mean": float(np.mean([r.seconds for r in res])) * 1e3,
            "dram_in_bytes_per_image": in_b, "dram_out_bytes_per_image": out_b,
            "dram_in_MBps": batch * in_b / total / 1e6 if total > 0 else None,
            "dram_out_MBps": batch * out_b / total / 1e6 if total > 0 else None,
            "weights_bytes_per_image": t.header.weights_bytes,
            "cycles_mean": float(np.mean(cycles)) if cycles else None,
            "clock_mhz": clock,
            "accelerator_latency_ms": hw_ms,
            "accelerator_throughput_images_per_s": 1e3 / hw_ms if hw_ms else None,
            "wall_clock_note": "emulated devices run the reference model in Python: their wall-clock time is not "
                               "hardware time" if self.device.name != "pynq" else "",
        }

    # ---- lifetime ---------------------------------------------------------------------------------------------
    def close(self) -> None:
        for ld in self._loaded.values():
            for b in (ld.program, ld.image, ld.inp, ld.out):
                b.free()
        self._loaded.clear()
        if self._owns_device:
            self.device.close()

    def __enter__(self) -> Accelerator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["Accelerator", "DeviceProgramError", "IdentityMismatch", "RunResult"]
