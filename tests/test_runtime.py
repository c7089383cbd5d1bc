"""vitaccel.runtime: the driver on the emulated devices against the golden QuantizedModel and the ISA simulator.

Every expected value comes from an independent computation: QuantizedModel.forward (golden integer model),
IsaSimulator.run called directly (error code / index, cycles), or numbers derived from the test's own inputs.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from vitaccel import isa
from vitaccel.boards.accel import derive_accelerator_config
from vitaccel.cli import main
from vitaccel.compiler import compile_model
from vitaccel.compiler.cli import write_outputs
from vitaccel.compiler.synthetic import synthetic_qmodel
from vitaccel.errors import ConfigError, InputError, ProgramError
from vitaccel.isa.image import HEADER_BYTES, parse_header
from vitaccel.isa.regmap import AP_CTRL_DONE, AP_CTRL_IDLE, AP_CTRL_START, REGISTERS, ErrorCode
from vitaccel.runtime import (
    DEVICES,
    Accelerator,
    AcceleratorTimeout,
    BackendDevice,
    Bundle,
    DeviceError,
    DeviceProgramError,
    EmulatedDevice,
    IdentityMismatch,
    IsaDevice,
    open_device,
    register_device,
)
from vitaccel.runtime.emulated import DDR_BASE, Execution, IsaExecutor
from vitaccel.sim import IsaSimulator, SimError

BOARD = "zcu102"


@pytest.fixture(scope="module")
def micro() -> dict:  # type: ignore[type-arg]
    """Synthetic m3vit-micro compiled for zcu102, both tasks, as single-task bundle directories."""
    qm = synthetic_qmodel("m3vit-micro", seed=3)
    cfg = derive_accelerator_config(BOARD)
    return {"qm": qm, "cfg": cfg, "cps": [compile_model(qm, cfg, t) for t in range(len(qm.config.tasks))]}


def _bundle(tmp_path: Path, cp, name: str = "b") -> Path:  # type: ignore[no-untyped-def]
    d = tmp_path / name
    write_outputs(cp, d)
    return d


def _images(qm, n: int, seed: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    c = qm.config
    return np.random.default_rng(seed).integers(0, 256, size=(n, c.in_chans, *c.img_size), dtype=np.uint8)


# ---- bit-exactness -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("task", [0, 1])
def test_isa_device_is_bit_identical_to_the_golden_model(micro, tmp_path: Path, task: int) -> None:
    qm, cp = micro["qm"], micro["cps"][task]
    imgs = _images(qm, 3, seed=20 + task)
    ref = qm.forward(imgs, task)
    with Accelerator(_bundle(tmp_path, cp), "isa", qmodel=qm) as acc:
        got = acc.predict(imgs)
        assert got.dtype == np.float32 and np.array_equal(got, ref["float"])
        accs = acc.predict(imgs, output="int32")
        assert accs.dtype == np.int32 and np.array_equal(accs, ref["int32"])
        r = acc.run(imgs[0])
    # cycles come through the 64-bit CYCLES register: equal to the simulator's own count for the same input
    sim = IsaSimulator(micro["cfg"]).run(cp.program, cp.image, imgs[0])
    assert r.cycles == sim.cycles and r.stall_cycles == sim.stall_cycles and r.cycles > 0
    assert np.array_equal(r.int32, ref["int32"][0])


def test_multi_task_bundle_from_the_compile_command(tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    assert main(["compile", "--model", "vit-digits", "--board", "kv260", "--synthetic", "--out", str(out)]) == 0
    qm = synthetic_qmodel("vit-digits", seed=0)  # what `compile --synthetic` uses (seed 0)
    imgs = _images(qm, 2, seed=5)
    with Accelerator(out, "isa", qmodel=qm) as acc:
        assert [t.task for t in acc.bundle.tasks] == [t.name for t in qm.config.tasks]
        for ti, spec in enumerate(qm.config.tasks):
            ref = qm.forward(imgs, ti)
            assert np.array_equal(acc.predict(imgs, task=spec.name), ref["float"])
            assert np.array_equal(acc.predict(imgs, task=ti, output="int32"), ref["int32"])


def test_quantized_m3vit_micro_through_a_saved_qmodel(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from vitaccel.compiler.source import load_qmodel
    from vitaccel.quant.model import QuantizedModel

    qm = load_qmodel("m3vit-micro", calib=4)
    qfile = qm.save(tmp_path / "m3vit-micro.npz")
    out = tmp_path / "bundle"
    assert main(["compile", "--qmodel", str(qfile), "--board", BOARD, "--out", str(out)]) == 0
    ref_model = QuantizedModel.load(qfile)
    imgs = _images(qm, 2, seed=11)
    with Accelerator(out, "isa", qmodel=qfile) as acc:
        for ti in range(len(qm.config.tasks)):
            ref = ref_model.forward(imgs, ti)
            got = acc.predict(imgs, task=ti)
            assert np.array_equal(got, ref["float"]) and np.array_equal(
                acc.predict(imgs, task=ti, output="int32"), ref["int32"])


def test_backend_adapter_device_with_hls_style_identity(micro, tmp_path: Path) -> None:
    """The adapter over a verify backend (here "isa") with HLS semantics: ID reads 0 until a run, so the driver
    probes once with an all-zero image header (BAD_IMAGE at once) and then checks the identity."""
    qm, cp = micro["qm"], micro["cps"][0]
    dev = BackendDevice(cfg=micro["cfg"], backend="isa")
    assert dev.read32(REGISTERS["ID"]) == 0 and dev.identity == "after_run"
    imgs = _images(qm, 2, seed=3)
    with Accelerator(_bundle(tmp_path, cp), dev, qmodel=qm) as acc:
        ident = acc.read_identity()
        assert dev.runs == 1 and ident["ID"] == isa.ACCEL_ID
        assert ident["CONFIG_HASH"] == micro["cfg"].config_hash()
        assert dev.read32(REGISTERS["STATUS"]) & 0xFF == ErrorCode.BAD_IMAGE  # the probe's status
        assert np.array_equal(acc.predict(imgs, output="int32"), qm.forward(imgs, 0)["int32"])
        assert dev.runs == 3
    dev.close()


@pytest.mark.parametrize("name", [
    "csim",
    # the Verilator build of the full zcu102 top takes minutes: slow (tests/test_rtlsim.py covers the device on a
    # small configuration in the quick set)
    pytest.param("rtlsim", marks=[pytest.mark.slow, pytest.mark.sim]),
])
def test_simulator_devices_match_the_isa_device(micro, tmp_path: Path, name: str) -> None:
    """Ladder rung 5: the same driver on the HLS C-simulation / Verilator device gives the isa device's outputs."""
    dev = open_device(name, cfg=micro["cfg"])
    qm, cp = micro["qm"], micro["cps"][1]
    imgs = _images(qm, 2, seed=8)
    d = _bundle(tmp_path, cp)
    with Accelerator(d, dev, qmodel=qm) as acc:
        got = acc.run_batch(imgs)
    with Accelerator(d, "isa", qmodel=qm) as ref:
        want = ref.run_batch(imgs)
    for g, w in zip(got, want):
        assert np.array_equal(g.int32, w.int32) and np.array_equal(g.output, w.output)
        if name == "csim":
            assert g.cycles is None  # the HLS build's CYCLES register reads 0: reported as not counted
    dev.close()


# ---- identity ------------------------------------------------------------------------------------------------
def test_config_hash_mismatch_is_refused_naming_both_values(micro, tmp_path: Path) -> None:
    cp = micro["cps"][0]
    other = derive_accelerator_config(BOARD, {"array_rows": 17})
    dev = IsaDevice(other)
    with pytest.raises(IdentityMismatch) as ei:
        Accelerator(_bundle(tmp_path, cp), dev).run(np.zeros((3, 32, 32), np.uint8), output="int32")
    msg = str(ei.value)
    assert f"0x{other.config_hash():08x}" in msg and f"0x{micro['cfg'].config_hash():08x}" in msg
    assert dev.runs == 0  # refused before anything was started


@pytest.mark.parametrize("kw, text", [
    (dict(accel_id=0x12345678), "ID register 0x12345678"),
    (dict(isa_version=(isa.ISA_MAJOR + 1) << 16), f"hardware ISA version {isa.ISA_MAJOR + 1}.0"),
])
def test_wrong_id_or_isa_version_is_refused(micro, tmp_path: Path, kw, text) -> None:  # type: ignore[no-untyped-def]
    cfg = micro["cfg"]
    dev = EmulatedDevice(IsaExecutor(cfg), cfg.config_hash(), **kw)
    with pytest.raises(IdentityMismatch, match=text.replace(".", r"\.")):
        Accelerator(_bundle(tmp_path, micro["cps"][0]), dev).load()
    assert dev.runs == 0


# ---- program errors ------------------------------------------------------------------------------------------
def _rebundle(tmp_path: Path, cp, program: bytes) -> Path:  # type: ignore[no-untyped-def]
    """A bundle whose program is `program`, with the image header and manifest updated consistently (what a
    buggy compiler would write)."""
    hdr = parse_header(cp.image)
    hdr2 = dataclasses.replace(hdr, program_crc32=zlib.crc32(program), instr_count=len(program) // 32)
    d = _bundle(tmp_path, cp, "bad")
    (d / "program.bin").write_bytes(program)
    (d / "image.bin").write_bytes(hdr2.pack() + cp.image[HEADER_BYTES:])
    m = json.loads((d / "manifest.json").read_text())
    m.update(instructions=len(program) // 32, program_bytes=len(program), program_crc32=f"0x{zlib.crc32(program):08x}")
    (d / "manifest.json").write_text(json.dumps(m))
    return d


def _mutations(cp, cfg):  # type: ignore[no-untyped-def]
    prog = bytearray(cp.program)
    gemm = next(i for i, ins in enumerate(cp.instructions) if ins.op == isa.Opcode.GEMM)
    illegal = bytearray(prog)
    illegal[(gemm + 2) * 32] = 0x7E
    ins = [dataclasses.replace(x, fields=dict(x.fields)) for x in cp.instructions]
    ins[gemm].fields["a"] = cfg.act_buffer_bytes + 16
    return {"illegal_opcode": bytes(illegal), "addr_range": isa.encode_program(ins),
            "no_end": bytes(prog[:-32])}


@pytest.mark.parametrize("which", ["illegal_opcode", "addr_range", "no_end"])
def test_illegal_programs_raise_the_simulators_code_and_index(micro, tmp_path: Path, which: str) -> None:
    cp, cfg, qm = micro["cps"][0], micro["cfg"], micro["qm"]
    prog = _mutations(cp, cfg)[which]
    img = _images(qm, 1, seed=1)[0]
    d = _rebundle(tmp_path, cp, prog)
    with pytest.raises(SimError) as want:
        IsaSimulator(cfg).run(prog, (d / "image.bin").read_bytes(), img)
    with Accelerator(d, "isa") as acc, pytest.raises(DeviceProgramError) as got:
        acc.run(img, output="int32")
    assert isinstance(got.value, ProgramError)
    assert (got.value.code, got.value.index) == (want.value.code, want.value.index)
    msg = str(got.value)
    assert want.value.code.name in msg and f"instruction {want.value.index}" in msg
    layer = cp.layer_of[want.value.index] if want.value.index < len(cp.layer_of) else None
    if layer:
        assert f"layer {layer}" in msg


def test_tampered_bundles_are_refused_at_load(micro, tmp_path: Path) -> None:
    cp = micro["cps"][0]
    d = _bundle(tmp_path, cp)
    raw = bytearray((d / "program.bin").read_bytes())
    raw[40] ^= 1
    (d / "program.bin").write_bytes(bytes(raw))
    with pytest.raises(ProgramError, match="CRC-32"):
        Bundle.load(d)
    d2 = _bundle(tmp_path, cp, "b2")
    (d2 / "image.bin").write_bytes(micro["cps"][1].image)  # the other task's image
    with pytest.raises(ProgramError, match="different compilations"):
        Bundle.load(d2)
    with pytest.raises(ConfigError, match="not a directory"):
        Bundle.load(tmp_path / "missing")


# ---- timeouts and busy -----------------------------------------------------------------------------------------
class _Blocking:
    """An executor that hangs until released (a device that never raises ap_done on its own)."""

    def __init__(self, cfg) -> None:  # type: ignore[no-untyped-def]
        self.inner = IsaExecutor(cfg)
        self.release = threading.Event()

    def execute(self, program, image, inputs, output_bytes) -> Execution:  # type: ignore[no-untyped-def]
        self.release.wait(30)
        return self.inner.execute(program, image, inputs, output_bytes)


def test_timeout_is_reported_with_status_and_the_device_is_refused_while_busy(micro, tmp_path: Path) -> None:
    cfg, qm, cp = micro["cfg"], micro["qm"], micro["cps"][0]
    ex = _Blocking(cfg)
    dev = EmulatedDevice(ex, cfg.config_hash())
    img = _images(qm, 1, seed=2)[0]
    acc = Accelerator(_bundle(tmp_path, cp), dev, timeout_s=0.2)
    t0 = time.monotonic()
    with pytest.raises(AcceleratorTimeout) as ei:
        acc.run(img, output="int32")
    assert 0.2 <= time.monotonic() - t0 < 5
    msg = str(ei.value)
    assert "no ap_done within 0.2 s" in msg and "STATUS=0x00000000" in msg and "ap_idle=0" in msg
    assert ei.value.ap_ctrl & AP_CTRL_START and not ei.value.ap_ctrl & AP_CTRL_IDLE
    with pytest.raises(DeviceError, match="busy"):
        acc.run(img, output="int32")
    ex.release.set()
    dev.join(30)
    acc.timeout_s = 30
    r = acc.run(img, output="int32")
    assert np.array_equal(r.int32, qm.forward(img[None], 0)["int32"][0])
    acc.close()


# ---- inputs and outputs ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad, text", [
    (np.zeros((3, 32, 32), np.float32), "dtype float32"),
    (np.zeros((3, 32, 32), np.int8), "dtype int8"),
    (np.zeros((1, 32, 32), np.uint8), r"shape \(1, 32, 32\)"),
    (np.zeros((32, 32, 3), np.uint8), r"shape \(32, 32, 3\)"),
    ([[0]], "got list"),
])
def test_wrong_input_dtype_or_shape_is_rejected(micro, tmp_path: Path, bad, text) -> None:  # type: ignore[no-untyped-def]
    dev = IsaDevice(micro["cfg"])
    with Accelerator(_bundle(tmp_path, micro["cps"][0]), dev) as acc:
        with pytest.raises(InputError, match=text):
            acc.run(bad, output="int32")
        with pytest.raises(InputError):
            acc.predict(np.zeros((2, 2, 3, 32, 32), np.uint8), output="int32")
        assert dev.runs == 0


def test_float_output_without_scales_is_an_error_not_a_guess(micro, tmp_path: Path) -> None:
    d = _bundle(tmp_path, micro["cps"][0])
    m = json.loads((d / "manifest.json").read_text())
    del m["output"]["dequant_scale"]  # e.g. a bundle from an older compiler
    (d / "manifest.json").write_text(json.dumps(m))
    with Accelerator(d, "isa") as acc:
        with pytest.raises(ConfigError, match=r"dequant_scale.*--qmodel"):
            acc.predict(np.zeros((1, 3, 32, 32), np.uint8))
        assert acc.predict(np.zeros((1, 3, 32, 32), np.uint8), output="int32").shape == (1, 16, 256)


def test_compiler_manifest_scales_give_golden_float_output(micro, tmp_path: Path) -> None:
    """The compiler writes output.dequant_scale, so float output needs no qmodel and equals the golden model."""
    qm = micro["qm"]
    imgs = _images(qm, 2, seed=5)
    for ti, cp in enumerate(micro["cps"]):
        with Accelerator(_bundle(tmp_path / str(ti), cp), "isa") as acc:
            assert np.array_equal(acc.predict(imgs), qm.forward(imgs, ti)["float"])


def test_scales_from_the_manifest_when_the_compiler_writes_them(micro, tmp_path: Path) -> None:
    """manifest["output"]["dequant_scale"] (per channel) is used without a qmodel; a wrong length is refused."""
    qm, cp = micro["qm"], micro["cps"][1]
    d = _bundle(tmp_path, cp)
    m = json.loads((d / "manifest.json").read_text())
    scale = np.asarray(qm.layer("heads.1").scales["dequant"], dtype=np.float64)
    m["output"]["dequant_scale"] = np.broadcast_to(scale, (cp.manifest["output"]["shape"][1],)).tolist()
    (d / "manifest.json").write_text(json.dumps(m))
    imgs = _images(qm, 2, seed=4)
    with Accelerator(d, "isa") as acc:
        assert np.array_equal(acc.predict(imgs), qm.forward(imgs, 1)["float"])
    m["output"]["dequant_scale"] = [1.0, 2.0]
    (d / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ConfigError, match="2 values, expected 1 or 64"):
        Bundle.load(d)


class _NoWrite:
    def execute(self, program, image, inputs, output_bytes) -> Execution:  # type: ignore[no-untyped-def]
        return Execution(np.full(output_bytes, 0xA5, np.uint8), 100)


class _FloatBackend:
    name = "floaty"

    def __init__(self, cfg) -> None:  # type: ignore[no-untyped-def]
        self.cfg = cfg

    def run(self, program, image, inputs):  # type: ignore[no-untyped-def]
        return np.zeros(parse_header(image, check_crc=False).output_bytes // 4, np.float32), None


def test_outputs_never_returned_silently(micro, tmp_path: Path) -> None:
    """A run that 'succeeds' without writing OUTPUT, and a backend returning the wrong dtype, both raise."""
    cfg, cp = micro["cfg"], micro["cps"][0]
    img = np.zeros((3, 32, 32), np.uint8)
    with Accelerator(_bundle(tmp_path, cp), EmulatedDevice(_NoWrite(), cfg.config_hash())) as acc, \
            pytest.raises(DeviceError, match="fill pattern"):
        acc.run(img, output="int32")
    from vitaccel.verify import BACKENDS, register_backend

    register_backend("floaty", f"{__name__}:_FloatBackend")
    try:
        dev = BackendDevice(cfg=cfg, backend="floaty", identity="constant")
        with Accelerator(_bundle(tmp_path, cp, "c"), dev) as acc, pytest.raises(DeviceError, match="dtype float32"):
            acc.run(img, output="int32")
    finally:
        BACKENDS.pop("floaty", None)


# ---- the emulated register file and memory ---------------------------------------------------------------------
def test_register_file_semantics_and_non_coherent_buffers(micro) -> None:
    dev = IsaDevice(micro["cfg"], threaded=False)
    assert dev.read32(REGISTERS["AP_CTRL"]) == AP_CTRL_IDLE
    assert dev.read32(REGISTERS["ID"]) == isa.ACCEL_ID
    assert dev.read32(REGISTERS["ISA_VERSION"]) == (isa.ISA_MAJOR << 16) | isa.ISA_MINOR
    dev.write32(REGISTERS["ID"], 0)  # read-only: ignored
    assert dev.read32(REGISTERS["ID"]) == isa.ACCEL_ID
    dev.write32(REGISTERS["INPUT_ADDR_HI"], 0xDEADBEEF)
    assert dev.read32(REGISTERS["INPUT_ADDR_HI"]) == 0xDEADBEEF
    with pytest.raises(DeviceError):
        dev.read32(0x102)
    b = dev.allocate(100)
    assert b.device_address >= DDR_BASE and b.device_address % 4096 == 0 and b.device_address >> 32
    b.array[:] = 7
    assert dev._region(b.device_address, 100, "t").max() == 0  # not flushed: the device still sees zeros
    b.flush()
    assert dev._region(b.device_address, 100, "t").min() == 7
    dev._region(b.device_address, 100, "t")[:] = 9
    assert b.array.max() == 7  # not invalidated
    b.invalidate()
    assert b.array.min() == 9
    # a start on an unmapped image address: ADDR_RANGE at ERROR_PC 0xFFFFFFFF, ap_done (clear on read), ISR
    dev.write32(REGISTERS["IER"], 1)
    dev.write32(REGISTERS["IMAGE_ADDR_LO"], 0x1000)
    dev.write32(REGISTERS["AP_CTRL"], AP_CTRL_START)
    assert dev.read32(REGISTERS["STATUS"]) == (ErrorCode.ADDR_RANGE | 1 << 8 | 1 << 9)
    assert dev.read32(REGISTERS["ERROR_PC"]) == 0xFFFFFFFF and "not in any allocated buffer" in dev.last_fault
    assert dev.read32(REGISTERS["AP_CTRL"]) & AP_CTRL_DONE
    assert not dev.read32(REGISTERS["AP_CTRL"]) & AP_CTRL_DONE  # cleared by the read
    assert dev.read32(REGISTERS["ISR"]) == 1
    dev.write32(REGISTERS["ISR"], 1)  # toggle on write
    assert dev.read32(REGISTERS["ISR"]) == 0
    dev.close()


def test_device_registry(micro) -> None:
    assert set(DEVICES) >= {"isa", "csim", "rtlsim", "pynq"}
    with pytest.raises(ConfigError, match="unknown device 'nope'"):
        open_device("nope")
    register_device("isa-sync", "vitaccel.runtime.emulated:IsaDevice")
    try:
        dev = open_device("isa-sync", cfg=micro["cfg"], threaded=False)
        assert isinstance(dev, IsaDevice)
    finally:
        DEVICES.pop("isa-sync")
    with pytest.raises(ConfigError, match="module:Class"):
        register_device("x", "no-colon")


def test_runtime_imports_neither_torch_nor_pynq() -> None:
    import subprocess

    code = ("import sys, vitaccel.runtime, vitaccel.runtime.cli, vitaccel.runtime.pynq_device as p; "
            "import vitaccel.runtime.images, vitaccel.sim, vitaccel.quant.model; p.ip_vlnvs(); "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'pynq')]; print(bad); "
            "sys.exit(1 if bad else 0)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr


# ---- CLI -------------------------------------------------------------------------------------------------------
def test_run_command_json_npy_and_png(micro, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    Image = pytest.importorskip("PIL.Image")

    qm, cp = micro["qm"], micro["cps"][0]
    d = _bundle(tmp_path, cp)
    qfile = qm.save(tmp_path / "qm.npz")
    imgs = _images(qm, 3, seed=9)
    np.save(tmp_path / "batch.npy", imgs[:2])
    Image.fromarray(imgs[2].transpose(1, 2, 0)).save(tmp_path / "one.png")
    out = tmp_path / "out.npz"
    assert main(["run", "--bundle", str(d), "--device", "isa", "--qmodel", str(qfile), "--json", "--out", str(out),
                 str(tmp_path / "batch.npy"), str(tmp_path / "one.png")]) == 0
    rep = json.loads(capsys.readouterr().out)
    ref = qm.forward(imgs, 0)
    assert rep["task"] == "segment" and len(rep["images"]) == 3
    assert rep["hardware"]["CONFIG_HASH"] == f"0x{micro['cfg'].config_hash():08x}"
    saved = np.load(out)
    assert np.array_equal(saved["int32"], ref["int32"]) and np.array_equal(saved["output"], ref["float"])
    for i, ent in enumerate(rep["images"]):
        cls, counts = np.unique(np.argmax(ref["float"][i], axis=0), return_counts=True)
        assert ent["class_pixels"] == {str(int(c)): int(n) for c, n in zip(cls, counts)}
        assert ent["cycles"] == IsaSimulator(micro["cfg"]).run(cp.program, cp.image, imgs[i]).cycles
    # a wrong-size image is refused with both sizes named, exit code 2
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "small.png")
    assert main(["run", "--bundle", str(d), "--int32", str(tmp_path / "small.png")]) == 2
    assert "16x16 pixels" in capsys.readouterr().err


def test_run_command_pynq_without_pynq_is_a_clear_error(micro, tmp_path: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setitem(sys.modules, "pynq", None)  # import fails even where pynq is installed
    d = _bundle(tmp_path, micro["cps"][0])
    np.save(tmp_path / "x.npy", np.zeros((3, 32, 32), np.uint8))
    assert main(["run", "--bundle", str(d), "--device", "pynq", "--bitfile", str(tmp_path / "a.bit"),
                 str(tmp_path / "x.npy")]) == 2
    assert "pynq is not installed: this device runs on a PYNQ board (pip install vitaccel[board])" in \
        capsys.readouterr().err


# ---- review fixes: CLI option ranges, unwritable --out, bad image files, --qmodel vs manifest scales -----------
def test_run_command_refuses_bad_options_before_running(micro, tmp_path: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    d = _bundle(tmp_path, micro["cps"][0])
    np.save(tmp_path / "x.npy", np.zeros((3, 32, 32), np.uint8))
    x = str(tmp_path / "x.npy")
    (tmp_path / "afile").write_text("not a folder")

    def never(*a, **k):  # type: ignore[no-untyped-def]
        raise AssertionError("the device must not be opened")

    monkeypatch.setattr(Accelerator, "__init__", never)
    out = tmp_path / "afile" / "sub" / "out.npz"  # its folder cannot be created: a file is in the way
    assert main(["run", "--bundle", str(d), "--int32", "--out", str(out), x]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"vitaccel: error: --out {out}: cannot create the folder") and "expected" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert main(["run", "--bundle", str(d), "--int32", "--out", str(tmp_path), x]) == 2
    assert "is a directory" in capsys.readouterr().err
    for opt in (["--timeout", "0"], ["--timeout", "-1"], ["--throughput", "0"], ["--throughput", "-3"]):
        assert main(["run", "--bundle", str(d), *opt, x]) == 2
        err = capsys.readouterr().err
        assert opt[0] in err and "Traceback" not in err
    monkeypatch.undo()
    assert main(["run", "--bundle", str(d), "--device", "pynq", x]) == 2
    err = capsys.readouterr().err
    assert "--bitfile PATH/design.bit" in err and "bitfile=" in err
    with pytest.raises(ConfigError, match="timeout_s=0"):
        Accelerator(d, "isa", timeout_s=0)


def test_run_command_bad_image_files_name_the_file(micro, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from vitaccel.runtime.images import load_images

    d = _bundle(tmp_path, micro["cps"][0])
    junk = np.random.default_rng(1).integers(0, 256, 2000, dtype=np.uint8).tobytes()
    (tmp_path / "junk.npy").write_bytes(junk)
    (tmp_path / "junk.png").write_bytes(junk)
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    for name in ("junk.npy", "junk.png", "obj.npy"):
        f = tmp_path / name
        with pytest.raises(InputError) as ei:
            load_images(f, (3, 32, 32))
        msg = str(ei.value)
        assert msg.startswith(f"{f}: not a valid") and "pickle" not in msg and "expected" in msg, msg
        assert main(["run", "--bundle", str(d), "--int32", str(f)]) == 2
        err = capsys.readouterr().err
        assert str(f) in err and "pickle" not in err and "Traceback" not in err
    # wrong shape: the file's own shape, not a batched one
    np.save(tmp_path / "small.npy", np.zeros((3, 16, 16), np.uint8))
    with pytest.raises(InputError, match=r"small\.npy: shape \(3, 16, 16\), expected \(3, 32, 32\)"):
        load_images(tmp_path / "small.npy", (3, 32, 32))
    # an empty batch
    np.save(tmp_path / "empty.npy", np.zeros((0, 3, 32, 32), np.uint8))
    assert main(["run", "--bundle", str(d), "--int32", str(tmp_path / "empty.npy")]) == 2
    assert "empty.npy: shape (0, 3, 32, 32) is an empty batch (0 images)" in capsys.readouterr().err
    with Accelerator(d, "isa") as acc:
        with pytest.raises(InputError, match=r"empty batch"):
            acc.predict(np.zeros((0, 3, 32, 32), np.uint8), output="int32")
        with pytest.raises(ConfigError, match="batch=0"):
            acc.throughput_test(0)


def test_qmodel_is_checked_against_the_manifest_scales(micro, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    qm, cp = micro["qm"], micro["cps"][1]
    d = _bundle(tmp_path, cp)
    qfile = qm.save(tmp_path / "qm.npz")
    with Accelerator(d, "isa", qmodel=qfile) as acc:  # the same model: accepted, manifest scales kept
        img = _images(qm, 1, seed=2)
        assert np.array_equal(acc.predict(img, output="float"), qm.forward(img, 1)["float"])
    mf = d / "manifest.json"
    m = json.loads(mf.read_text())
    m["output"]["dequant_scale"] = (np.asarray(m["output"]["dequant_scale"]) * 2).tolist()
    mf.write_text(json.dumps(m))
    with pytest.raises(ConfigError) as ei:
        Bundle.load(d, qmodel=qfile)
    msg = str(ei.value)
    assert str(qfile) in msg and str(mf) in msg and "dequant" in msg
    np.save(tmp_path / "x.npy", np.zeros((3, 32, 32), np.uint8))
    assert main(["run", "--bundle", str(d), "--qmodel", str(qfile), str(tmp_path / "x.npy")]) == 2
    err = capsys.readouterr().err
    assert str(qfile) in err and str(mf) in err and "Traceback" not in err
    other = synthetic_qmodel("vit-digits", seed=0).save(tmp_path / "other.npz")
    with pytest.raises(ConfigError, match=r"other\.npz is 'vit-digits' but the bundle .* 'm3vit-micro'"):
        Bundle.load(d, qmodel=other)


def test_axi_error_is_named_with_its_instruction(micro, tmp_path: Path) -> None:
    """A bus error only the RTL build reports (STATUS code 10, docs/isa.md): the driver names AXI_ERROR, the
    instruction and what it means; ERROR_PC 0xFFFFFFFF (the header read) is reported as the image header."""
    cp = micro["cps"][0]
    d = _bundle(tmp_path, cp)
    img = _images(micro["qm"], 1, seed=2)[0]

    class BusErrorDevice(IsaDevice):
        epc = 3

        def read32(self, offset: int) -> int:
            if offset == REGISTERS["STATUS"]:
                return 10 | 1 << 8 | 1 << 9  # docs/isa.md: [7:0] code, [8] error, [9] done
            if offset == REGISTERS["ERROR_PC"]:
                return self.epc
            return super().read32(offset)

    for epc, where in ((3, "instruction 3"), (0xFFFFFFFF, "memory image header")):
        dev = BusErrorDevice(micro["cfg"], threaded=False)
        dev.epc = epc
        with Accelerator(d, dev) as acc, pytest.raises(DeviceProgramError) as got:
            acc.run(img, output="int32")
        dev.close()
        assert got.value.code == ErrorCode.AXI_ERROR and int(got.value.code) == 10
        assert got.value.index == (-1 if epc == 0xFFFFFFFF else epc)
        msg = str(got.value)
        assert "AXI_ERROR (code 10)" in msg and where in msg and "SLVERR/DECERR" in msg, msg
