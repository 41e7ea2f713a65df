"""The one place fleetlib runs the `git` binary (the Git adapter, fleetlib.git, and the sandbox's GitHub and
source-controller build on it). Credentials travel as an HTTP header set through git's environment
configuration, never in a URL, an argument list or a log line; an error never shows them.

    out = run_git(["rev-parse", "HEAD"], cwd=checkout)
    run_git(["push", "origin", "main"], cwd=checkout, env=auth_env(token))
"""

from __future__ import annotations

import base64
import logging
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from fleetlib.errors import GitError, clip

log = logging.getLogger(__name__)

GIT_TIMEOUT = 120.0


def auth_env(token: str, *, username: str = "x-access-token") -> dict[str, str]:
    """Environment that makes git send `Authorization: Basic ...` for HTTP(S) remotes."""
    basic = base64.b64encode(f"{username}:{token}".encode()).decode()
    return {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader",
            "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}"}


def _redact(text: str, env: Mapping[str, str] | None) -> str:
    for value in (env or {}).values():
        if value.startswith("Authorization:"):
            text = text.replace(value, "Authorization: <redacted>")
    return text


def run_git(args: Sequence[str], *, cwd: Path | None = None, env: Mapping[str, str] | None = None,
            input: bytes | None = None, check: bool = True, timeout: float = GIT_TIMEOUT) -> str:
    """Run git and return stdout; GitError with git's own message (cut short) on failure."""
    full_env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", **(env or {})}
    log.debug("git %s (in %s)", " ".join(args), cwd)
    try:
        done = subprocess.run(["git", *args], cwd=cwd, env=full_env, input=input, capture_output=True,
                              timeout=timeout, check=False)
    except FileNotFoundError as e:
        raise GitError("git is not installed", hint="install git (apt-get install git)") from e
    except subprocess.TimeoutExpired as e:
        raise GitError(f"git {args[0]} timed out after {timeout:.0f}s") from e
    if check and done.returncode != 0:
        message = _redact(done.stderr.decode(errors="replace") or done.stdout.decode(errors="replace"), env)
        raise GitError(f"git {args[0]} failed: {clip(message, 300)}")
    return done.stdout.decode(errors="replace")


def run_git_raw(args: Sequence[str], *, cwd: Path | None = None, env: Mapping[str, str] | None = None,
                input: bytes | None = None, timeout: float = GIT_TIMEOUT) -> tuple[int, bytes, bytes]:
    """Run git and return (code, stdout, stderr) as bytes, for plumbing that streams binary data."""
    full_env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", **(env or {})}
    done = subprocess.run(["git", *args], cwd=cwd, env=full_env, input=input, capture_output=True, timeout=timeout,
                          check=False)
    return done.returncode, done.stdout, done.stderr
