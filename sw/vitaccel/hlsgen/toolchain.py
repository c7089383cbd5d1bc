"""Locating the HLS sources, the arbitrary-precision headers and the compiler; cached g++ builds.

The ap_int / ap_fixed / hls_stream headers (Xilinx, Apache-2.0) are taken from the installed hls4ml package at
build time (`hls4ml/templates/vivado/ap_types`); no copy is kept in this repository.

`build_shared_library` compiles C-simulation sources ONCE into build/csim/<key>/, where <key> hashes every
source and header byte, the generated headers, the flags and the compiler version. Concurrent builds of the
same key (pytest-xdist workers) are serialised with a file lock; the finished library is moved into place
atomically.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

from vitaccel.errors import ConfigError, VitaccelError

REPO_ROOT = Path(__file__).resolve().parents[3]


class ToolError(VitaccelError):
    """A compiler or tool failed (the message carries its command and the first lines of its output)."""


def hls_source_dir() -> Path:
    """The hls/ folder with the kernel sources, testbench and tcl templates ($VITACCEL_HLS_DIR overrides)."""
    env = os.environ.get("VITACCEL_HLS_DIR")
    path = Path(env) if env else REPO_ROOT / "hls"
    if not (path / "include").is_dir():
        raise ConfigError(f"HLS sources not found at {path} (expected include/, src/; set VITACCEL_HLS_DIR)")
    return path


def build_dir() -> Path:
    """Root of generated output ($VITACCEL_BUILD_DIR, else <repo>/build)."""
    env = os.environ.get("VITACCEL_BUILD_DIR")
    return Path(env) if env else REPO_ROOT / "build"


def ap_types_dir() -> Path:
    """Folder holding ap_int.h, ap_fixed.h and hls_stream.h from the installed hls4ml package."""
    spec = importlib.util.find_spec("hls4ml")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "hls4ml is not installed: it provides ap_int.h/ap_fixed.h/hls_stream.h for C-simulation "
            "(run `make setup`, or pip install hls4ml==1.3.0)"
        )
    for loc in spec.submodule_search_locations:
        path = Path(loc) / "templates" / "vivado" / "ap_types"
        if (path / "ap_int.h").is_file():
            return path
    raise ConfigError(f"hls4ml found at {list(spec.submodule_search_locations)} but ap_types/ap_int.h is missing")


def cxx() -> str:
    """The C++ compiler ($CXX, else g++)."""
    exe = os.environ.get("CXX", "g++")
    if shutil.which(exe) is None:
        raise ConfigError(f"C++ compiler {exe!r} not found on PATH (C-simulation needs g++ >= 9)")
    return exe


def _compiler_id(exe: str) -> str:
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.splitlines()[0] if out.stdout else exe


RECIPE_VERSION = "2"  # bump when the compile command's layout changes (part of the cache key)
# -Wno-unknown-pragmas: the HLS pragmas are meaningful only to Vitis HLS.
BASE_FLAGS = ("-std=c++14", "-O2", "-fPIC", "-Wall", "-Wno-unknown-pragmas", "-Wno-unused-label",
              "-Wno-unused-variable", "-Wno-unused-but-set-variable",
              # the hls4ml copy of ap_private.h trips g++ 12 loop-UB reasoning on 64-bit range() calls
              "-fno-aggressive-loop-optimizations")


def _files_under(dirs: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for d in dirs:
        files += sorted(p for p in Path(d).rglob("*") if p.is_file() and p.suffix in (".h", ".hpp", ".cpp", ".cc"))
    return files


def build_shared_library(
    name: str,
    sources: list[Path],
    include_dirs: list[Path],
    generated: Mapping[str, str],
    extra_flags: tuple[str, ...] = (),
    executable: bool = False,
) -> Path:
    """Compile `sources` into lib<name>.so (or, with executable=True, a program <name>) (cached); return its path.

    generated: file name -> text of generated headers, written into the build folder's gen/ (first on the
    include path). The cache key covers those texts, every file under `include_dirs` (except the hls4ml
    headers, covered by the package version), the sources, the flags and the compiler version.
    """
    exe = cxx()
    apdir = ap_types_dir()
    flags = (*BASE_FLAGS, *extra_flags)
    h = hashlib.sha256()
    h.update(RECIPE_VERSION.encode())
    h.update(b"exe" if executable else b"so")
    h.update(_compiler_id(exe).encode())
    h.update(" ".join(flags).encode())
    h.update(str(apdir).encode())
    for gname, text in sorted(generated.items()):
        h.update(gname.encode())
        h.update(text.encode())
    for path in [*sorted(set(_files_under(include_dirs))), *sources]:
        # executables may embed their source paths (__FILE__), so their key includes them
        h.update(str(path.resolve() if executable else path.name).encode())
        h.update(path.read_bytes())
    key = h.hexdigest()[:16]
    out_dir = build_dir() / "csim" / f"{name}-{key}"
    lib = out_dir / (name if executable else f"lib{name}.so")
    if lib.is_file():
        return lib
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if lib.is_file():  # another process built it while we waited
            return lib
        gen = out_dir / "gen"
        gen.mkdir(exist_ok=True)
        for gname, text in generated.items():
            (gen / gname).write_text(text)
        tmp = out_dir / f".{lib.name}.{os.getpid()}.tmp"
        kind = [] if executable else ["-shared"]
        cmd = [exe, *flags, *kind, "-I", str(gen), *[f"-I{d}" for d in include_dirs], "-isystem", str(apdir),
               *map(str, sources), "-o", str(tmp)]
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        (out_dir / "build.log").write_text(" ".join(cmd) + "\n" + res.stdout + res.stderr)
        if res.returncode != 0:
            head = "\n".join((res.stderr or res.stdout).splitlines()[:40])
            raise ToolError(f"C-simulation build of {name} failed (log: {out_dir / 'build.log'}):\n{head}")
        os.replace(tmp, lib)
    return lib
