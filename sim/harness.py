"""pytest -> cocotb runner glue: cached builds per (simulator, block, parameters), waveforms, skip reasons.

Builds live in build/sim/<sim>/<block>/<tag>/ where <tag> names the parameters plus a hash of the sources,
parameters and options; a stamp file records the key, so each configuration is compiled once and reused by
every test (and every later session) until a source changes. A file lock serialises concurrent builds of the
same configuration under pytest-xdist. Each test runs in its own directory under <build>/runs/<test>/ with its
own log (sim.log) and, with VITACCEL_WAVES=1, a waveform (FST on Icarus, VCD on Verilator).

The testbench receives its configuration as JSON in the environment variable VITACCEL_TB_CFG.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from glob import escape as glob_escape
from pathlib import Path

import pytest

from vitaccel import toolchain
from vitaccel.rtlgen.params import generated_sources

SIM_DIR = Path(__file__).resolve().parent
SIMULATORS = ("icarus", "verilator")
# Variants of a block configuration already covered by a quick test on both simulators: `make test` runs them on
# Verilator only (seconds) and `make test-all` adds Icarus (which simulates the larger blocks 10-50x slower).
VERILATOR_QUICK = (pytest.param("icarus", marks=pytest.mark.slow), "verilator")


def waves_requested() -> bool:
    return os.environ.get("VITACCEL_WAVES", "0") not in ("", "0", "false", "no")


def require_simulator(sim: str) -> None:
    """Skip the calling test with a clear reason when `sim` is not usable here."""
    tool = toolchain.simulator(sim)
    if not tool.found:
        pytest.skip(f"{sim} unavailable: {tool.reason}")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _tag(parameters: Mapping[str, object]) -> str:
    text = "_".join(f"{k}{v}" for k, v in sorted(parameters.items())) or "default"
    return re.sub(r"[^A-Za-z0-9_.-]", "", text)[:80]


@dataclass
class Block:
    """One simulated RTL configuration: the top module, its sources (hw/rtl names) and parameters."""

    toplevel: str
    sources: Sequence[str]
    parameters: Mapping[str, object] = field(default_factory=dict)
    name: str = ""  # block name for build/sim/<sim>/<name>; defaults to the toplevel without its prefix

    @property
    def block_name(self) -> str:
        return self.name or self.toplevel.removeprefix("vitaccel_")

    def source_paths(self) -> list[Path]:
        rtl = toolchain.rtl_dir()
        return [*generated_sources(), *(rtl / s for s in self.sources)]


@dataclass
class SimResult:
    sim: str
    block: str
    tests: int
    failed: int
    build_s: float
    run_s: float
    sim_time_ns: float
    cycles: int
    log: Path


def build(block: Block, sim: str) -> tuple[Path, float]:
    """Build `block` for `sim` unless an identical build is cached; returns (build dir, seconds spent)."""
    from cocotb_tools.runner import get_runner

    require_simulator(sim)
    toolchain.activate()
    srcs = block.source_paths()
    waves = waves_requested()
    h = hashlib.sha256()
    for p in srcs:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    h.update(json.dumps({"p": dict(block.parameters), "w": waves, "top": block.toplevel}, sort_keys=True,
                        default=str).encode())
    key = h.hexdigest()
    bdir = toolchain.build_dir() / "sim" / sim / block.block_name / f"{_tag(block.parameters)}-{key[:10]}"
    stamp = bdir / ".vitaccel-build-key"
    t0 = time.monotonic()
    with _locked(bdir.parent / f".{bdir.name}.lock"):
        if stamp.is_file() and stamp.read_text() == key:
            return bdir, 0.0
        runner = _VerilatorRunner() if sim == "verilator" else get_runner(sim)
        build_args: list[str] = []
        if sim == "verilator":
            build_args = ["-Wno-fatal", "-Wno-lint", "-Wno-style", "-O3", "--x-assign", "fast", "--x-initial", "fast"]
        log = bdir / "build.log"
        bdir.mkdir(parents=True, exist_ok=True)
        runtime = toolchain.build_dir() / "sim" / "verilator" / f"_runtime-waves{int(waves)}"
        if sim == "verilator":
            _seed_runtime(runtime, bdir)
        try:
            runner.build(
                sources=[str(p) for p in srcs],
                hdl_toplevel=block.toplevel,
                parameters=dict(block.parameters),
                build_dir=str(bdir),
                build_args=build_args,
                always=True,
                waves=waves,
                timescale=("1ns", "1ps"),
                log_file=str(log),
            )
        except (SystemExit, RuntimeError) as exc:
            pytest.fail(f"{sim} build of {block.toplevel} {dict(block.parameters)} failed ({exc}):\n"
                        f"{_build_failure_summary(log, bdir)}")
        if sim == "verilator":
            _save_runtime(bdir, runtime)
            _drop_intermediates(bdir)
        stamp.write_text(key)
        _prune_stale_builds(bdir)
    return bdir, time.monotonic() - t0


# Lines of a failed build log that name the cause (compiler and Verilator errors, a full disk, a killed
# compiler); shown before the log tail so a truncated CI report still carries them.
_BUILD_ERROR = re.compile(r"error|fatal|no space left|killed|cannot allocate|signal", re.IGNORECASE)


def _build_failure_summary(log: Path, bdir: Path) -> str:
    """The error lines of a failed build's log, then its tail, then the free disk space of the build tree."""
    text = log.read_text(errors="replace") if log.is_file() else ""
    errors = [ln for ln in text.splitlines() if _BUILD_ERROR.search(ln)][:20]
    free_mb = shutil.disk_usage(bdir if bdir.exists() else bdir.parent).free // 2**20
    head = "\n".join(errors) if errors else "(no error line in the build log)"
    return f"error lines:\n{head}\nfree disk space under {bdir.parent}: {free_mb} MiB\nlog tail:\n{text[-2000:]}"


def _drop_intermediates(bdir: Path) -> None:
    """Delete a finished Verilator build's precompiled headers (2 x ~75 MB each, only needed while compiling):
    without this, every cached configuration keeps ~150 MB and a full regression fills a small disk."""
    for gch in bdir.glob("*.gch"):
        gch.unlink(missing_ok=True)


def _prune_stale_builds(bdir: Path) -> None:
    """Delete older builds of the same block and parameters (same tag, other source hash): they can only be
    reused if the sources go back to exactly that state, and each one costs disk. Builds in use by another
    process hold their lock and are left alone."""
    tag = bdir.name.rsplit("-", 1)[0]
    for other in bdir.parent.glob(f"{glob_escape(tag)}-*"):
        if other == bdir or not other.is_dir() or other.name.rsplit("-", 1)[0] != tag:
            continue
        lock = bdir.parent / f".{other.name}.lock"
        with open(lock, "w") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue
            try:
                shutil.rmtree(other, ignore_errors=True)
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        lock.unlink(missing_ok=True)


# Verilator's runtime library objects depend only on the installed Verilator headers (their .d files list
# nothing generated), so they are compiled once and copied into every new build directory, where make then
# finds them up to date. This saves most of the C++ compile time of each new configuration.
_RUNTIME_OBJS = ("verilated", "verilated_vpi", "verilated_threads", "verilated_dpi")


def _VerilatorRunner():
    from cocotb_tools.runner import Verilator

    class VerilatorSeeded(Verilator):
        """cocotb's Verilator runner, touching seeded runtime objects after verilator regenerates Vtop.mk
        (verilated.mk makes them depend on it)."""

        def _build_command(self):  # type: ignore[override]
            cmds = super()._build_command()
            # The PyPI wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so designs big enough for Verilator's
            # parallel (multi-file, precompiled-header) build fail with "Vtop__pch.h.fast: linker input file not
            # found". A command-line make variable restores gcc's flag.
            cmds[-1] = [*cmds[-1], "CFG_CXXFLAGS_PCH_I=-include"]
            seeded = [str(self.build_dir / f"{o}.o") for o in _RUNTIME_OBJS if (self.build_dir / f"{o}.o").is_file()]
            if seeded and len(cmds) == 2:
                cmds = [cmds[0], ["touch", *seeded], cmds[1]]
            return cmds

    return VerilatorSeeded()


def _seed_runtime(cache: Path, bdir: Path) -> None:
    if not all((cache / f"{o}.o").is_file() for o in _RUNTIME_OBJS):
        return
    now = time.time()
    for o in _RUNTIME_OBJS:
        for ext in (".o", ".d"):
            src = cache / f"{o}{ext}"
            if src.is_file():
                dst = bdir / src.name
                shutil.copyfile(src, dst)
                os.utime(dst, (now, now))


def _save_runtime(bdir: Path, cache: Path) -> None:
    """Copy a finished build's runtime objects into the shared cache; each file appears atomically (written to a
    temporary name, then renamed; the .o files last), so a concurrent `_seed_runtime` never sees half a file."""
    if all((cache / f"{o}.o").is_file() for o in _RUNTIME_OBJS):
        return
    with _locked(cache.parent / f".{cache.name}.lock"):
        cache.mkdir(parents=True, exist_ok=True)
        for ext in (".d", ".o"):
            for o in _RUNTIME_OBJS:
                src = bdir / f"{o}{ext}"
                if src.is_file():
                    tmp = cache / f".{src.name}.{os.getpid()}.tmp"
                    shutil.copyfile(src, tmp)
                    os.replace(tmp, cache / src.name)


def _results(xml: Path) -> tuple[int, list[str], float]:
    """(tests, failure messages, simulated ns) from a cocotb results file."""
    if not xml.is_file():
        return 0, ["no results file written (simulator crashed?)"], 0.0
    root = ET.parse(xml).getroot()
    n, fails, sim_ns = 0, [], 0.0
    for tc in root.iter("testcase"):
        n += 1
        for prop in tc.iter("property"):
            if prop.get("name") == "sim_time_duration":
                with contextlib.suppress(TypeError, ValueError):
                    sim_ns += float(prop.get("value", 0.0))
        for bad in (*tc.findall("failure"), *tc.findall("error")):
            fails.append(f"{tc.get('name')}: {bad.get('message', '')}")
    return n, fails, sim_ns


def run(
    block: Block,
    sim: str,
    tb_module: str,
    cfg: Mapping[str, object] | None = None,
    seed: int = 1,
    testcase: str | None = None,
    record: pytest.FixtureRequest | None = None,
    clock_ns: float = 10.0,
) -> SimResult:
    """Build (cached) and run the cocotb module `tb_module` (in sim/) on `block` with simulator `sim`.

    Fails the calling pytest test with the cocotb failure messages and the log tail; passes otherwise.
    With `record` (the pytest `request` fixture) the figures go into the regression summary table.
    """
    from cocotb_tools.runner import get_runner

    bdir, build_s = build(block, sim)
    if str(SIM_DIR) not in sys.path:
        sys.path.insert(0, str(SIM_DIR))
    test_name = os.environ.get("PYTEST_CURRENT_TEST", tb_module).split(" ")[0].rsplit("::", 1)[-1]
    tdir = bdir / "runs" / re.sub(r"[^A-Za-z0-9_.-]", "_", test_name)[:120]
    tdir.mkdir(parents=True, exist_ok=True)
    log = tdir / "sim.log"
    xml = tdir / "results.xml"
    runner = get_runner(sim)
    env = {"VITACCEL_TB_CFG": json.dumps({**dict(cfg or {}), "seed": seed, "clock_ns": clock_ns})}
    t0 = time.monotonic()
    exc_text = ""
    try:
        runner.test(
            test_module=tb_module,
            hdl_toplevel=block.toplevel,
            hdl_toplevel_lang="verilog",
            build_dir=str(bdir),
            test_dir=str(tdir),
            parameters=dict(block.parameters),
            extra_env=env,
            seed=seed,
            testcase=testcase,
            waves=waves_requested(),
            results_xml=str(xml),
            plusargs=[f"+dumpfile_path={tdir / (block.toplevel + '.fst')}"] if sim == "icarus" and waves_requested() else [],
            log_file=str(log),
            timescale=("1ns", "1ps"),
        )
    except (SystemExit, RuntimeError) as exc:
        exc_text = str(exc)
    run_s = time.monotonic() - t0
    n, fails, sim_ns = _results(xml)
    cycles = int(sim_ns / clock_ns)
    res = SimResult(sim, block.block_name, n, len(fails), build_s, run_s, sim_ns, cycles, log)
    if record is not None:
        record.node.user_properties.append(("vitaccel_sim", json.dumps({
            "sim": sim, "block": block.block_name, "params": _tag(block.parameters), "tests": n,
            "failed": len(fails), "build_s": round(build_s, 2), "run_s": round(run_s, 2),
            "cycles": cycles, "kcycles_per_s": round(cycles / run_s / 1000.0, 1) if run_s > 0 else 0.0,
        })))
    if fails or n == 0 or exc_text:
        tail = log.read_text()[-6000:] if log.is_file() else ""
        msg = "\n".join(fails) or exc_text or "no cocotb test ran"
        pytest.fail(f"{sim} {block.toplevel} {dict(block.parameters)}: {msg}\nlog {log}:\n{tail}", pytrace=False)
    if waves_requested():
        print(f"waveforms in {tdir}")
    return res
