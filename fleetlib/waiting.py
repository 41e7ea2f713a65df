"""The one polling loop of fleetlib: ask until an answer comes, fail fast when the check raises, and say what
was awaited when time runs out.

    obj = wait_until("Kustomization flux-system/apps to be Ready", lambda: ready_or_none(), timeout=300,
                     hint="run the troubleshooting runbook")
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from fleetlib.errors import ClusterError

T = TypeVar("T")


def wait_until(what: str, check: Callable[[], T | None], *, timeout: float, poll: float = 0.5,
               hint: str | None = None, timed_out: Callable[[], Exception] | None = None) -> T:
    """Call `check` every `poll` seconds until it returns something other than None, and return that. A check
    that raises stops the wait (a condition that will not recover). After `timeout` seconds: `timed_out()`
    when given (a message in the caller's words), else a ClusterError naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found is not None:
            return found
        if time.monotonic() >= deadline:
            raise timed_out() if timed_out else ClusterError(f"timed out after {timeout:g}s waiting for {what}",
                                                             hint=hint)
        time.sleep(min(poll, max(0.0, deadline - time.monotonic())) or poll)
