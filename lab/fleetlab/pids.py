"""Whether a process still runs, for the stand-ins' records of what they started (a sandbox server's
per-process kubeconfig, a local cluster's supervisor and its children).

    pid_alive(4242)   # False once it exited, even while its parent has not reaped it (a zombie)
"""

from __future__ import annotations

import os
from pathlib import Path


def pid_alive(pid: int) -> bool:
    """True while `pid` runs: it exists, is not a zombie, and may belong to another user."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False
