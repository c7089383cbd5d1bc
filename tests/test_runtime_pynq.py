"""The pynq device: the PYNQ glue (bindto driver class, IP discovery by VLNV, pynq.allocate buffers, .hwh check)
against a small stand-in for the pynq API backed by the emulated register file, and the real board test.

The stand-in only mimics the documented pynq calls the device makes (Overlay(bitfile, download) with ip_dict and
attribute access to IPs, DefaultIP subclasses registered by `bindto`, allocate(shape, dtype) buffers with
device_address / flush / invalidate / freebuffer, MMIO). Passing here shows the driver's code path is wired the
same way on every device; it is not evidence about a real board: that is `test_real_board` (marker `board`).
"""

from __future__ import annotations

import asyncio
import os
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from vitaccel.boards.accel import derive_accelerator_config
from vitaccel.compiler import compile_model
from vitaccel.compiler.cli import write_outputs
from vitaccel.compiler.synthetic import synthetic_qmodel
from vitaccel.isa.regmap import REGISTERS
from vitaccel.runtime import Accelerator, DeviceError, IsaDevice
from vitaccel.runtime import pynq_device as pd

HLS_VLNV = "vitaccel.org:hls:vitaccel_top:1.0"


def _fake_pynq(dev, ips: dict) -> types.ModuleType:  # type: ignore[no-untyped-def, type-arg]
    mod = types.ModuleType("pynq")
    registry: dict[str, type] = {}

    class _Interrupt:
        """pynq.Interrupt: `await wait()` returns once the IP's interrupt line is high (GIE and ISR)."""

        async def wait(self):  # type: ignore[no-untyped-def]
            while not (dev.read32(REGISTERS["GIE"]) & 1 and dev.read32(REGISTERS["ISR"]) & 1):
                await asyncio.sleep(0.001)

    class DefaultIP:
        def __init_subclass__(cls, **kw):  # type: ignore[no-untyped-def]
            super().__init_subclass__(**kw)
            for v in getattr(cls, "bindto", []):
                registry[v] = cls

        def __init__(self, description):  # type: ignore[no-untyped-def]
            self.description = description
            if description.get("interrupt"):
                self.interrupt = _Interrupt()

        def read(self, offset):  # type: ignore[no-untyped-def]
            return dev.read32(offset)

        def write(self, offset, value):  # type: ignore[no-untyped-def]
            dev.write32(offset, value)

    class Overlay:
        def __init__(self, bitfile, download=True):  # type: ignore[no-untyped-def]
            self.bitfile, self.download, self.ip_dict = bitfile, download, ips

        def __getattr__(self, name):  # type: ignore[no-untyped-def]
            if name in self.ip_dict:
                return registry.get(self.ip_dict[name]["type"], DefaultIP)(self.ip_dict[name])
            raise AttributeError(name)

    class Buf(np.ndarray):
        pass

    def allocate(shape, dtype):  # type: ignore[no-untyped-def]
        assert np.dtype(dtype) == np.uint8 and len(shape) == 1
        eb = dev.allocate(shape[0])
        arr = eb.array.view(Buf)
        arr.device_address, arr.flush, arr.invalidate, arr.freebuffer = (
            eb.device_address, eb.flush, eb.invalidate, eb.free)
        return arr

    mod.DefaultIP, mod.Overlay, mod.allocate, mod.registry = DefaultIP, Overlay, allocate, registry  # type: ignore[attr-defined]
    mod.MMIO = lambda base, length: None  # type: ignore[attr-defined]
    return mod


@pytest.fixture()
def setup(tmp_path: Path, monkeypatch):  # type: ignore[no-untyped-def]
    qm = synthetic_qmodel("m3vit-micro", seed=4)
    cfg = derive_accelerator_config("zcu102")
    write_outputs(compile_model(qm, cfg, 0), tmp_path / "bundle")
    dev = IsaDevice(cfg, identity="after_run")  # the HLS build's register semantics
    ips = {"axi_dma_0": {"type": "xilinx.com:ip:axi_dma:7.1", "phys_addr": 0x40400000, "addr_range": 0x10000},
           "vitaccel_top_0": {"type": HLS_VLNV, "phys_addr": 0xA0000000, "addr_range": 0x10000}}
    fake = _fake_pynq(dev, ips)
    monkeypatch.setitem(sys.modules, "pynq", fake)
    monkeypatch.setattr(pd, "_DRIVER_CLASS", None)
    bit = tmp_path / "vitaccel.bit"
    bit.write_bytes(b"bit")
    bit.with_suffix(".hwh").write_text("<hwh/>")
    yield {"qm": qm, "cfg": cfg, "dev": dev, "fake": fake, "bit": bit, "bundle": tmp_path / "bundle", "ips": ips}
    dev.close()


def test_pynq_device_runs_the_driver_bit_exactly(setup) -> None:  # type: ignore[no-untyped-def]
    qm = setup["qm"]
    imgs = np.random.default_rng(1).integers(0, 256, size=(2, 3, 32, 32), dtype=np.uint8)
    with Accelerator(setup["bundle"], "pynq", bitfile=setup["bit"], qmodel=qm) as acc:
        assert acc.device.ip_name == "vitaccel_top_0" and acc.device.ip_type == HLS_VLNV
        assert type(acc.device.ip).__name__ == "VitaccelIP" and type(acc.device.ip).bindto == [HLS_VLNV]
        assert setup["fake"].registry[HLS_VLNV] is type(acc.device.ip)
        got = acc.predict(imgs)
        assert setup["dev"].runs == 3  # identity probe (HLS outputs are 0 before a run) + 2 images
    assert np.array_equal(got, qm.forward(imgs, 0)["float"])


def test_pynq_device_waits_on_the_interrupt(setup) -> None:  # type: ignore[no-untyped-def]
    setup["ips"]["vitaccel_top_0"]["interrupt"] = True
    qm = setup["qm"]
    imgs = np.random.default_rng(2).integers(0, 256, size=(1, 3, 32, 32), dtype=np.uint8)
    with Accelerator(setup["bundle"], "pynq", bitfile=setup["bit"], use_interrupt=True) as acc:
        assert acc.device.use_interrupt
        got = acc.predict(imgs, output="int32")
        assert setup["dev"].read32(REGISTERS["GIE"]) == 1
    assert np.array_equal(got, qm.forward(imgs, 0)["int32"])


def test_pynq_device_file_and_ip_errors(setup) -> None:  # type: ignore[no-untyped-def]
    bit = setup["bit"]
    with pytest.raises(DeviceError, match="not found"):
        pd.PynqDevice(bit.with_name("other.bit"))
    bit.with_suffix(".hwh").unlink()
    with pytest.raises(DeviceError, match=r"vitaccel\.hwh: not found beside vitaccel\.bit"):
        pd.PynqDevice(bit)
    bit.with_suffix(".hwh").write_text("<hwh/>")
    del setup["ips"]["vitaccel_top_0"]
    with pytest.raises(DeviceError, match=r"no vitaccel accelerator IP .* axi_dma_0 \(xilinx.com:ip:axi_dma:7.1\)"):
        pd.PynqDevice(bit)
    with pytest.raises(DeviceError, match="no IP named 'x'"):
        pd.PynqDevice(bit, ip_name="x")


def test_pynq_missing_gives_the_install_hint(monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setitem(sys.modules, "pynq", None)
    with pytest.raises(DeviceError) as ei:
        pd.PynqDevice(tmp_path / "x.bit")
    assert str(ei.value).startswith(pd.PYNQ_MISSING)


@pytest.mark.board
def test_real_board() -> None:
    """On a PYNQ board: VITACCEL_BITFILE=/path/design.bit VITACCEL_BUNDLE=/path/bundle pytest -m board.
    The board's outputs must equal the isa device's for the same bundle and inputs."""
    bit, bundle = os.environ.get("VITACCEL_BITFILE"), os.environ.get("VITACCEL_BUNDLE")
    try:
        import pynq  # noqa: F401
    except ImportError:
        pytest.skip("no PYNQ board here: pynq is not installed (pip install vitaccel[board] on the board)")
    if not bit or not bundle:
        pytest.skip("set VITACCEL_BITFILE (a .bit with its .hwh beside it) and VITACCEL_BUNDLE (vitaccel compile "
                    "--out DIR) to run the board test")
    with Accelerator(bundle, "pynq", bitfile=bit) as acc:
        t = acc.load()
        imgs = np.random.default_rng(0).integers(0, 256, size=(4, *t.input_shape), dtype=np.uint8)
        got = acc.run_batch(imgs, output="int32")
    with Accelerator(bundle, "isa") as ref:
        want = ref.predict(imgs, output="int32")
    assert np.array_equal(np.stack([r.int32 for r in got]), want)
