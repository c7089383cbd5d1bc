"""Run N board servers as local processes on one machine (tests, benchmarks, demos).

Each worker is `python -m vitaccel.distributed.cli serve --model-file F --port 0 --ready-file R ...`; the worker
writes its bound port to R once it is SERVING, so ports are picked free by the OS with no race. A killed worker
can be restarted on the same port (`restart(i)`), which is how a board coming back is simulated. Workers run with
`--exit-with-parent`, so none outlives the process that started it even if that one is killed.
Only the processes started here are ever signalled, by their own Popen handles.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from vitaccel.errors import VitaccelError

__all__ = ["LocalWorkers", "WorkerStartError"]


class WorkerStartError(VitaccelError):
    """A local worker did not report SERVING in time (the message carries the tail of its log)."""


class LocalWorkers:
    """N `vitaccel serve` processes on `host`, one per model file. Use as a context manager.

    `extra_args`: CLI options added to every worker (e.g. ["--token-file", "t.txt"]).
    """

    def __init__(
        self,
        model_files: Sequence[str | Path],
        host: str = "127.0.0.1",
        extra_args: Sequence[str] = (),
        startup_timeout_s: float = 30.0,
        work_dir: str | Path | None = None,
    ) -> None:
        self.model_files = [Path(f) for f in model_files]
        self.host = host
        self.extra_args = list(extra_args)
        self.startup_timeout_s = startup_timeout_s
        self._tmp = None
        if work_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="vitaccel-workers-")
            work_dir = self._tmp.name
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        n = len(self.model_files)
        self.procs: list[subprocess.Popen | None] = [None] * n
        self.ports: list[int] = [0] * n
        self._logs: list = [None] * n

    @property
    def addresses(self) -> list[str]:
        return [f"{self.host}:{p}" for p in self.ports]

    def _launch(self, i: int, port: int) -> None:
        ready = self.work_dir / f"worker{i}.ready.json"
        ready.unlink(missing_ok=True)
        log_path = self.work_dir / f"worker{i}.log"
        if self._logs[i] is not None:
            self._logs[i].close()
        self._logs[i] = open(log_path, "ab")  # noqa: SIM115 - stays open as the worker's stdout, closed in stop()
        cmd = [
            sys.executable, "-m", "vitaccel.distributed.cli", "serve",
            "--model-file", str(self.model_files[i]), "--host", self.host, "--port", str(port),
            "--ready-file", str(ready), "--exit-with-parent", *self.extra_args,
        ]  # fmt: skip
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        # N servers share this machine's cores: one BLAS thread each avoids oversubscription (latency spikes)
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env.setdefault(var, "1")
        self.procs[i] = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=self._logs[i], stderr=subprocess.STDOUT, env=env
        )

    def _await_ready(self, indices: Sequence[int]) -> None:
        end = time.monotonic() + self.startup_timeout_s
        waiting = set(indices)
        while waiting:
            for i in list(waiting):
                ready = self.work_dir / f"worker{i}.ready.json"
                proc = self.procs[i]
                if ready.is_file():
                    try:
                        info = json.loads(ready.read_text())
                    except json.JSONDecodeError:
                        continue  # written atomically, but be tolerant
                    self.ports[i] = int(info["port"])
                    waiting.discard(i)
                elif proc is not None and proc.poll() is not None:
                    raise WorkerStartError(
                        f"worker {i} ({self.model_files[i]}) exited with code {proc.returncode}:\n{self.log_tail(i)}"
                    )
            if waiting and time.monotonic() > end:
                i = min(waiting)
                raise WorkerStartError(
                    f"worker {i} ({self.model_files[i]}) not serving after {self.startup_timeout_s:g} s:\n"
                    f"{self.log_tail(i)}"
                )
            if waiting:
                time.sleep(0.02)

    def log_tail(self, i: int, lines: int = 20) -> str:
        """The last `lines` lines of worker i's log."""
        p = self.work_dir / f"worker{i}.log"
        if not p.is_file():
            return "(no log)"
        return "\n".join(p.read_text(errors="replace").splitlines()[-lines:])

    def start(self) -> LocalWorkers:
        """Start every worker on a free port and wait until all serve."""
        try:
            for i in range(len(self.model_files)):
                self._launch(i, 0)
            self._await_ready(range(len(self.model_files)))
        except BaseException:
            self.stop()
            raise
        return self

    def kill(self, i: int) -> None:
        """SIGKILL worker i (a board dying without warning) and reap it."""
        proc = self.procs[i]
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)

    def pause(self, i: int) -> None:
        """SIGSTOP worker i: a hung board (connections stay open, nothing answers)."""
        proc = self.procs[i]
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGSTOP)
            _wait_for_state(proc.pid, "T")  # signal delivery is asynchronous: return only once it is stopped

    def resume(self, i: int) -> None:
        """SIGCONT worker i after `pause`."""
        proc = self.procs[i]
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGCONT)

    def restart(self, i: int) -> None:
        """Start worker i again on its previous port and wait until it serves."""
        self.kill(i)
        self._launch(i, self.ports[i])
        self._await_ready([i])

    def stop(self, timeout_s: float = 5.0) -> None:
        """SIGTERM every running worker, wait up to `timeout_s`, SIGKILL the ones still running."""
        for proc in self.procs:
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGCONT)  # a paused worker must run to act on SIGTERM
                proc.send_signal(signal.SIGTERM)
        end = time.monotonic() + timeout_s
        for proc in self.procs:
            if proc is None:
                continue
            try:
                proc.wait(timeout=max(0.0, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=5)
        for i, fh in enumerate(self._logs):
            if fh is not None:
                fh.close()
                self._logs[i] = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> LocalWorkers:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _wait_for_state(pid: int, state: str, timeout_s: float = 5.0) -> None:
    """Poll /proc/<pid>/stat until the process is in `state` (e.g. "T" stopped); no-op where /proc is absent."""
    stat = f"/proc/{pid}/stat"
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        try:
            with open(stat) as f:
                # the state is the first field after the parenthesised command name
                if f.read().rsplit(")", 1)[1].split()[0] == state:
                    return
        except (OSError, IndexError):
            return
        time.sleep(0.002)
