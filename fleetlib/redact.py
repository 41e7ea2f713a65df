"""Secrets a person passed as runbook parameters, removed from papermill's output notebook.

papermill writes the values it was given into the output notebook's `injected-parameters` cell before
the kernel starts, so a token passed with `-p` lands on disk even though `runbook.start` refuses it.
When a runbook refuses a secret-looking value and its kernel was started by the papermill CLI, the
kernel starts a small detached process that waits for papermill to exit (papermill writes the notebook
a last time then) and rewrites the notebook with each refused value replaced by `<redacted>`. The
values reach that process on its stdin, never on a command line. `fleet run` refuses such values before
papermill writes anything.

    where = schedule_redaction(["ghp_..."])    # the output notebook's path, or None when not under papermill
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

REDACTED = "<redacted>"
WAIT_LIMIT = 3600.0
"""The redacting process gives up after this many seconds of papermill still running."""


def papermill_output(pid: int | None = None) -> Path | None:
    """The output notebook of the papermill CLI process that started this kernel (its parent), if it is one."""
    pid = pid or os.getppid()
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except OSError:
        return None
    start = next((i + 1 for i, arg in enumerate(argv) if Path(arg).name == "papermill" or
                  (arg == "-m" and i + 1 < len(argv) and argv[i + 1] == "papermill")), None)
    if start is None:
        return None
    args = argv[start + (1 if argv[start - 1] == "-m" else 0):]
    try:
        from papermill.cli import papermill as command

        context = command.make_context("papermill", [a for a in args if a], resilient_parsing=True)
    except Exception:  # noqa: BLE001 - any parse failure means: not a papermill command line we understand
        return None
    output = str(context.params.get("output_path") or "")
    if not output or output == "-" or "://" in output:
        return None
    cwd = Path(os.readlink(f"/proc/{pid}/cwd")) if Path(f"/proc/{pid}/cwd").exists() else Path.cwd()
    return (cwd / output).resolve()


def schedule_redaction(values: list[str]) -> Path | None:
    """Start the process that removes `values` from papermill's output notebook once papermill exits."""
    output = papermill_output()
    if output is None or not values:
        return None
    process = subprocess.Popen([sys.executable, "-m", "fleetlib.redact", str(os.getppid()), str(output)],
                               stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True, close_fds=True)
    assert process.stdin is not None
    process.stdin.write(json.dumps(values).encode())
    process.stdin.close()
    return output


def redact_file(path: Path, values: list[str]) -> bool:
    """Replace every value in the notebook's text (sources and outputs alike); True when something was replaced."""
    text = path.read_text(encoding="utf-8")
    clean = text
    for value in sorted(values, key=len, reverse=True):
        clean = clean.replace(json.dumps(value)[1:-1], REDACTED).replace(value, REDACTED)
    if clean == text:
        return False
    tmp = path.with_name(f".{path.name}.redacting")
    tmp.write_text(clean, encoding="utf-8")
    os.replace(tmp, path)
    return True


def _wait_and_redact(pid: int, path: Path, values: list[str]) -> None:
    deadline = time.monotonic() + WAIT_LIMIT
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    if path.exists():
        redact_file(path, values)


if __name__ == "__main__":
    _wait_and_redact(int(sys.argv[1]), Path(sys.argv[2]), list(json.loads(sys.stdin.read() or "[]")))
