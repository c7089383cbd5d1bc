"""Register-level device abstraction: what the driver needs from an accelerator, real or simulated.

A device is the s_axilite control interface (32-bit register words at byte offsets, `vitaccel.isa.REGISTERS`)
plus a physical address space the accelerator's AXI masters read and write (DDR on a board):

    read32(offset) -> int            write32(offset, value)
    allocate(nbytes) -> Buffer       contiguous device memory: .device_address, .array (uint8 host view),
                                     .flush() (host writes -> device), .invalidate() (device writes -> host)
    wait_interrupt_or_poll(timeout_s) -> bool   True once the run that was started has raised ap_done
    close()

Devices are registered by name as "module:Class" strings and imported lazily (`register_device`,
`open_device`), so the HLS (csim) and RTL (rtlsim) packages plug in without this package importing them, and
a board without a simulator never imports one. A device class is constructed as `Class(**kwargs)`;
emulated devices take `cfg` (AcceleratorConfig), the pynq device takes `bitfile`.

Board-side module: standard library + numpy only (no pynq, no torch at import time).
"""

from __future__ import annotations

import importlib
import time
from typing import Any

import numpy as np

from vitaccel.errors import ConfigError, VitaccelError
from vitaccel.isa.regmap import AP_CTRL_DONE, ISR_AP_DONE, REGISTERS


class DeviceError(VitaccelError):
    """A device cannot be opened or misbehaved (missing pynq / bitstream, no ap_done, no output written)."""


class AcceleratorTimeout(DeviceError):
    """ap_done did not arrive within the timeout; the message carries AP_CTRL, STATUS and ERROR_PC."""

    def __init__(self, message: str, ap_ctrl: int, status: int, error_pc: int):
        super().__init__(message)
        self.ap_ctrl, self.status, self.error_pc = ap_ctrl, status, error_pc


class Buffer:
    """Contiguous device memory with a host view (uint8, 1-D). The base class is cache-coherent: flush and
    invalidate do nothing. Subclasses model (emulated devices) or perform (pynq) the cache maintenance."""

    def __init__(self, array: np.ndarray, device_address: int):
        if array.dtype != np.uint8 or array.ndim != 1:
            raise DeviceError(f"buffer host view must be a 1-D uint8 array, got {array.dtype} {array.shape}")
        self.array = array
        self.device_address = int(device_address)

    @property
    def nbytes(self) -> int:
        return int(self.array.size)

    def view(self, dtype: Any) -> np.ndarray:
        """The host view reinterpreted as `dtype` (little-endian types; no copy)."""
        return self.array.view(dtype)

    def write(self, data: bytes | np.ndarray, offset: int = 0) -> None:
        """Copy bytes into the host view at `offset` (call flush() before the device reads them)."""
        raw = np.frombuffer(data, dtype=np.uint8) if isinstance(data, (bytes, bytearray, memoryview)) else \
            np.ascontiguousarray(data).reshape(-1).view(np.uint8)
        if offset < 0 or offset + raw.size > self.nbytes:
            raise DeviceError(f"buffer write of {raw.size} bytes at offset {offset} exceeds the {self.nbytes}-byte "
                              "buffer")
        self.array[offset:offset + raw.size] = raw

    def flush(self) -> None:
        """Make host writes visible to the device (clean the CPU cache for this range)."""

    def invalidate(self) -> None:
        """Make device writes visible to the host (invalidate the CPU cache for this range)."""

    def free(self) -> None:
        """Release the memory (the buffer must not be used afterwards)."""


class Device:
    """Base class of every device. Subclasses implement read32 / write32 / allocate; the default
    wait_interrupt_or_poll polls AP_CTRL.ap_done (clear on read) and ISR bit 0 (sticky when IER bit 0 is set)."""

    name = "device"
    default_timeout_s = 10.0  # ap_done wait per run when the driver is not given one (hardware: milliseconds)
    poll_interval_s = 1e-4  # first poll delay; doubles up to max_poll_interval_s
    max_poll_interval_s = 2e-3

    def read32(self, offset: int) -> int:
        raise NotImplementedError

    def write32(self, offset: int, value: int) -> None:
        raise NotImplementedError

    def allocate(self, nbytes: int) -> Buffer:
        raise NotImplementedError

    def wait_interrupt_or_poll(self, timeout_s: float) -> bool:
        """Wait until the started run raises ap_done; False after `timeout_s` seconds (never blocks longer)."""
        deadline = time.monotonic() + max(float(timeout_s), 0.0)
        delay = self.poll_interval_s
        while True:
            if self.read32(REGISTERS["AP_CTRL"]) & AP_CTRL_DONE or self.read32(REGISTERS["ISR"]) & ISR_AP_DONE:
                return True
            now = time.monotonic()
            if now >= deadline:
                return False
            time.sleep(min(delay, deadline - now))
            delay = min(delay * 2, self.max_poll_interval_s)

    def describe(self) -> dict[str, Any]:
        """Facts for reports (name, kind, and whatever the device knows: board, bitfile, IP name)."""
        return {"device": self.name}

    def close(self) -> None:
        """Release the device (buffers, threads, overlay handles)."""

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---- registry --------------------------------------------------------------------------------------------------
# name -> "module:Class". csim / rtlsim default to the adapter over the verify backend of the same name
# (vitaccel.verify.BACKENDS); the HLS / RTL packages may register a register-level device class instead.
DEVICES: dict[str, str] = {
    "isa": "vitaccel.runtime.emulated:IsaDevice",
    "csim": "vitaccel.runtime.emulated:CsimDevice",
    "rtlsim": "vitaccel.runtime.emulated:RtlsimDevice",
    "pynq": "vitaccel.runtime.pynq_device:PynqDevice",
}


def register_device(name: str, target: str) -> None:
    """Register (or replace) device `name` as "module:Class" (a Device subclass)."""
    if ":" not in target:
        raise ConfigError(f"device {name!r}: target {target!r} must be 'module:Class'")
    DEVICES[name] = target


def device_class(name: str) -> type[Device]:
    """The Device class registered as `name` (imported now). ConfigError if unknown or not importable."""
    if name not in DEVICES:
        raise ConfigError(f"unknown device {name!r}; known: {', '.join(sorted(DEVICES))}")
    mod_name, cls_name = DEVICES[name].split(":")
    try:
        cls = getattr(importlib.import_module(mod_name), cls_name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"device {name!r} ({DEVICES[name]}) is not available: {exc}") from None
    return cls  # type: ignore[no-any-return]


def open_device(name: str, **kwargs: Any) -> Device:
    """Instantiate device `name` with keyword arguments (emulated: cfg=AcceleratorConfig; pynq: bitfile=...)."""
    return device_class(name)(**kwargs)


__all__ = [
    "DEVICES",
    "AcceleratorTimeout",
    "Buffer",
    "Device",
    "DeviceError",
    "device_class",
    "open_device",
    "register_device",
]
