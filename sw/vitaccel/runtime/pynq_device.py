"""The `pynq` device: the accelerator in a bitstream on a PYNQ board (Zynq-7000 / Zynq UltraScale+).

pynq is imported here, lazily, when the device is opened: it is never a host dependency
(`pip install vitaccel[board]` on the board). The device

- checks that `<design>.bit` exists and `<design>.hwh` lies beside it (PYNQ reads the register map and the
  address map from the .hwh);
- defines, once and before the Overlay is built, a `pynq.DefaultIP` subclass bound (`bindto`) to the vitaccel
  IP's VLNVs, so the overlay instantiates it for the accelerator (register_map from the .hwh, read / write);
- finds the accelerator in `overlay.ip_dict` by VLNV (HLS export `vitaccel.org:hls:vitaccel_top:1.0`, or any
  `vitaccel.org:*` IP, e.g. the RTL build) or by `ip_name`, falling back to `pynq.MMIO(phys_addr, addr_range)`
  when the IP was bound to another driver;
- allocates physically contiguous buffers with `pynq.allocate` (.device_address, .flush, .invalidate);
- waits for ap_done by polling AP_CTRL / ISR (default, works inside Jupyter's event loop) or, with
  `use_interrupt=True` and an interrupt wired to the IP, by awaiting `ip.interrupt.wait()` with a timeout.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np

from vitaccel.isa.regmap import ADDR_SPACE_BYTES, REGISTERS
from vitaccel.runtime.device import Buffer, Device, DeviceError

PYNQ_MISSING = "pynq is not installed: this device runs on a PYNQ board (pip install vitaccel[board])"

_DRIVER_CLASS: Any = None


def _import_pynq() -> Any:
    try:
        import pynq  # board-only dependency, imported when the device is opened
    except ImportError as exc:
        raise DeviceError(f"{PYNQ_MISSING} ({exc})") from None
    return pynq


def ip_vlnvs() -> list[str]:
    """VLNVs the driver binds to: the HLS IP export of vitaccel.hlsgen (vendor:library:name:version)."""
    from vitaccel.hlsgen.project import IP_LIBRARY, IP_VENDOR, IP_VERSION, TOP

    return [f"{IP_VENDOR}:{IP_LIBRARY}:{TOP}:{IP_VERSION}"]


def vendor_prefix() -> str:
    from vitaccel.hlsgen.project import IP_VENDOR

    return f"{IP_VENDOR}:"


def driver_class(pynq: Any) -> Any:
    """The DefaultIP subclass for the accelerator, created once (PYNQ registers drivers by `bindto` when the
    class is created, so this must run before the Overlay is instantiated)."""
    global _DRIVER_CLASS
    if _DRIVER_CLASS is None:
        class VitaccelIP(pynq.DefaultIP):  # type: ignore[misc, name-defined]
            """vitaccel accelerator: s_axilite control registers (docs/isa.md §6)."""

            bindto = ip_vlnvs()

            def __init__(self, description: dict[str, Any]):
                super().__init__(description=description)

        _DRIVER_CLASS = VitaccelIP
    return _DRIVER_CLASS


class _PynqBuffer(Buffer):
    def __init__(self, pbuf: Any):
        self._pbuf = pbuf
        super().__init__(np.asarray(pbuf).reshape(-1).view(np.uint8), int(pbuf.device_address))

    def flush(self) -> None:
        self._pbuf.flush()

    def invalidate(self) -> None:
        self._pbuf.invalidate()

    def free(self) -> None:
        free = getattr(self._pbuf, "freebuffer", None) or getattr(self._pbuf, "close", None)
        if free is not None:
            free()


class PynqDevice(Device):
    """PynqDevice(bitfile, ip_name=None, download=True, use_interrupt=False)."""

    name = "pynq"

    def __init__(self, bitfile: str | Path, ip_name: str | None = None, download: bool = True,
                 use_interrupt: bool = False):
        pynq = _import_pynq()
        bit = Path(bitfile)
        if bit.suffix != ".bit":
            raise DeviceError(f"bitstream {bit}: expected a .bit file (with the .hwh of the same name beside it)")
        if not bit.is_file():
            raise DeviceError(f"bitstream {bit}: not found (copy <design>.bit and <design>.hwh from the Vivado "
                              "build, see docs/runtime.md)")
        hwh = bit.with_suffix(".hwh")
        if not hwh.is_file():
            raise DeviceError(f"{hwh}: not found beside {bit.name}; PYNQ needs the hardware handoff file of the "
                              "same name (the Vivado build writes it under .gen/.../hw_handoff)")
        self._pynq = pynq
        cls = driver_class(pynq)
        self.bitfile = bit
        self.overlay = pynq.Overlay(str(bit), download=download)
        self.ip_name, self.ip_type = self._find_ip(ip_name)
        ip = getattr(self.overlay, self.ip_name, None)
        if isinstance(ip, cls) or (ip is not None and hasattr(ip, "read") and hasattr(ip, "write")):
            self.ip = ip
        else:
            desc = self.overlay.ip_dict[self.ip_name]
            self.ip = pynq.MMIO(int(desc["phys_addr"]), int(desc.get("addr_range", ADDR_SPACE_BYTES)))
        self.use_interrupt = bool(use_interrupt and getattr(self.ip, "interrupt", None) is not None)

    def _find_ip(self, ip_name: str | None) -> tuple[str, str]:
        ips: dict[str, Any] = dict(self.overlay.ip_dict)
        if ip_name is not None:
            if ip_name not in ips:
                raise DeviceError(f"{self.bitfile}: no IP named {ip_name!r}; the overlay has {', '.join(sorted(ips))}")
            return ip_name, str(ips[ip_name].get("type", ""))
        exact = [n for n, d in ips.items() if str(d.get("type", "")) in ip_vlnvs()]
        vendor = [n for n, d in ips.items() if str(d.get("type", "")).startswith(vendor_prefix())]
        named = [n for n in ips if "vitaccel" in n.lower()]
        for cands in (exact, vendor, named):
            if len(cands) == 1:
                return cands[0], str(ips[cands[0]].get("type", ""))
            if len(cands) > 1:
                raise DeviceError(f"{self.bitfile}: several vitaccel IPs ({', '.join(sorted(cands))}); pass ip_name=")
        listing = ", ".join(f"{n} ({d.get('type', '?')})" for n, d in sorted(ips.items()))
        raise DeviceError(f"{self.bitfile}: no vitaccel accelerator IP (VLNV {ip_vlnvs()[0]} or vendor "
                          f"{vendor_prefix()[:-1]}) in the overlay; it has: {listing or 'no IPs'}")

    def read32(self, offset: int) -> int:
        return int(self.ip.read(int(offset))) & 0xFFFFFFFF

    def write32(self, offset: int, value: int) -> None:
        self.ip.write(int(offset), int(value) & 0xFFFFFFFF)

    def allocate(self, nbytes: int) -> Buffer:
        return _PynqBuffer(self._pynq.allocate(shape=(int(nbytes),), dtype=np.uint8))

    def wait_interrupt_or_poll(self, timeout_s: float) -> bool:
        if self.use_interrupt:
            try:
                asyncio.get_running_loop()
                in_loop = True
            except RuntimeError:
                in_loop = False
            if not in_loop:  # inside Jupyter's event loop asyncio.run is not allowed: poll instead
                self.write32(REGISTERS["GIE"], 1)
                self.write32(REGISTERS["IER"], 1)

                async def _wait() -> bool:
                    try:
                        await asyncio.wait_for(self.ip.interrupt.wait(), timeout_s)
                        return True
                    except asyncio.TimeoutError:
                        return False

                # after an interrupt timeout, one last look at the registers (a done that raced the wait)
                return asyncio.run(_wait()) or super().wait_interrupt_or_poll(0.0)
        return super().wait_interrupt_or_poll(timeout_s)

    def describe(self) -> dict[str, Any]:
        return {"device": self.name, "bitfile": str(self.bitfile), "ip": self.ip_name, "vlnv": self.ip_type,
                "interrupt": self.use_interrupt}


__all__ = ["PYNQ_MISSING", "PynqDevice", "driver_class", "ip_vlnvs"]
