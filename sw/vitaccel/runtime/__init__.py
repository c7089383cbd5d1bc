"""Host / board runtime: one driver (`Accelerator`), the same code path on every device.

Devices (registered by name, imported lazily; docs/runtime.md):
    isa     the ISA simulator behind an emulated register file and DDR (bit-exact reference)
    csim    the HLS C-simulation library (vitaccel.hlsgen) behind the same register file
    rtlsim  the Verilator model (vitaccel.rtlgen) behind the same register file
    pynq    the bitstream on a PYNQ board (pynq imported only when this device is opened)

Board-side package: imports numpy / yaml / click only; never torch, never pynq at import time.
"""

from __future__ import annotations

from vitaccel.runtime.bundle import Bundle, CompiledTask, load_task
from vitaccel.runtime.device import (
    DEVICES,
    AcceleratorTimeout,
    Buffer,
    Device,
    DeviceError,
    device_class,
    open_device,
    register_device,
)
from vitaccel.runtime.driver import Accelerator, DeviceProgramError, IdentityMismatch, RunResult
from vitaccel.runtime.emulated import BackendDevice, EmulatedDevice, IsaDevice

__all__ = [
    "DEVICES",
    "Accelerator",
    "AcceleratorTimeout",
    "BackendDevice",
    "Buffer",
    "Bundle",
    "CompiledTask",
    "Device",
    "DeviceError",
    "DeviceProgramError",
    "EmulatedDevice",
    "IdentityMismatch",
    "IsaDevice",
    "RunResult",
    "device_class",
    "load_task",
    "open_device",
    "register_device",
]
