"""The simulation build cache keeps one build per configuration and says why a build failed."""

from __future__ import annotations

import fcntl
from pathlib import Path

from harness import _build_failure_summary, _drop_intermediates, _prune_stale_builds


def _mk(parent: Path, name: str) -> Path:
    d = parent / name
    d.mkdir(parents=True)
    (d / "Vtop").write_text("binary")
    return d


def test_prune_keeps_current_other_tags_and_locked_builds(tmp_path: Path) -> None:
    current = _mk(tmp_path, "COLS8_ROWS4-aaaaaaaaaa")
    stale = _mk(tmp_path, "COLS8_ROWS4-bbbbbbbbbb")
    busy = _mk(tmp_path, "COLS8_ROWS4-cccccccccc")
    other_tag = _mk(tmp_path, "COLS8_ROWS4_X1-dddddddddd")  # a different configuration whose tag extends ours
    with open(tmp_path / f".{busy.name}.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        _prune_stale_builds(current)
        fcntl.flock(held, fcntl.LOCK_UN)
    assert current.is_dir() and busy.is_dir() and other_tag.is_dir()
    assert not stale.exists()


def test_drop_intermediates_removes_only_precompiled_headers(tmp_path: Path) -> None:
    d = _mk(tmp_path, "T-0123456789")
    (d / "Vtop__pch.h.fast.gch").write_bytes(b"x" * 10)
    (d / "Vtop__pch.h.slow.gch").write_bytes(b"x" * 10)
    _drop_intermediates(d)
    assert sorted(p.name for p in d.iterdir()) == ["Vtop"]


def test_failure_summary_puts_error_lines_first(tmp_path: Path) -> None:
    log = tmp_path / "build.log"
    noise = "\n".join(f"c++ -c file{i}.cpp" for i in range(500))
    log.write_text(f"{noise}\nfoo.cpp:1:2: fatal error: No space left on device\n{noise}\n")
    text = _build_failure_summary(log, tmp_path)
    assert text.index("No space left on device") < text.index("log tail")
    assert "free disk space" in text
    assert "(no error line" in _build_failure_summary(tmp_path / "missing.log", tmp_path)
