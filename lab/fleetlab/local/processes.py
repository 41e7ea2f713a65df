"""Child processes of a local cluster's supervisor: started with their output in a log file, killed by the
kernel when the supervisor dies (PR_SET_PDEATHSIG), stopped with SIGTERM then SIGKILL, and restarted with
a growing back-off when they exit by themselves (as a kubelet restarts a crashing container).

    child = Child("etcd", ["/path/etcd", "--data-dir", ...], log=state / "logs" / "etcd.log")
    child.start(); child.stop()
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

PR_SET_PDEATHSIG = 1
BACKOFF_MAX = 60.0


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL it when the supervisor exits, however the supervisor ends."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass
    os.setpgrp()


@dataclass
class Child:
    name: str
    argv: Sequence[str]
    log: Path
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    last_exit: int | None = None
    started_at: float = 0.0
    _next_start: float = 0.0

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        out = open(self.log, "ab")  # the child writes to it for its whole life
        try:
            self.process = subprocess.Popen(list(self.argv), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            env={**os.environ, **self.env}, cwd=self.cwd,
                                            preexec_fn=_die_with_parent, close_fds=True)
        finally:
            out.close()
        self.started_at = time.monotonic()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def keep_running(self) -> bool:
        """Restart an exited child after its back-off (10 s, doubling to 60 s, reset after 10 min up); True if
        it was restarted now."""
        if self.process is None or self.alive():
            return False
        now = time.monotonic()
        if self.last_exit is None:
            self.last_exit = self.process.returncode
            up = now - self.started_at
            self.restarts = 0 if up > 600 else self.restarts + 1
            self._next_start = now + min(BACKOFF_MAX, 10.0 * 2 ** max(0, self.restarts - 1)) if self.restarts else now
        if now < self._next_start:
            return False
        self.last_exit = None
        self.start()
        return True

    def waiting(self) -> bool:
        """Exited and waiting out its back-off (a crash loop)."""
        return self.process is not None and not self.alive() and self.restarts > 1

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.process.wait(5)
        self.process = None


