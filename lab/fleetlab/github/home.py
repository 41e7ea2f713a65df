"""Where the sandbox GitHub keeps its state under FLEET_HOME, and its token: shared by the sandbox and the local
stack (whose SSH endpoint serves the same repositories).

    token = github_token(home)          # made once, mode 0600
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from fleetlab.pki import file_lock
from fleetlib.files import write_atomic


def sandbox_root(home: Path) -> Path:
    return home / "sandbox"


def github_token(home: Path) -> str:
    """The sandbox GitHub's token (made once, mode 0600); the sandbox target uses it instead of GITHUB_TOKEN."""
    path = sandbox_root(home) / "github" / "token"
    with file_lock(sandbox_root(home) / "github" / ".token.lock"):
        if not path.exists():
            write_atomic(path, "ghs_sandbox" + secrets.token_hex(16) + "\n")
            os.chmod(path, 0o600)
    return path.read_text().strip()
