"""One exception base for fleetlib, split by cause.

Every message says what was wrong, where (file and key, object and condition) and what to do
next: runbook outputs show it verbatim to someone in an incident.

    try:
        params = resolve_cluster(catalog, "services-amer", stage="dev")
    except ParameterError as e:
        print(e)            # parameters/dev/services-amer.yaml: key 'branch': ...
"""

from __future__ import annotations

MAX_DETAIL = 500
"""Characters of foreign payload (API bodies, command output) kept in a message."""


def clip(text: str, limit: int = MAX_DETAIL) -> str:
    """Cut foreign text to a sane length for a one-line message."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class FleetError(Exception):
    """Base of every error fleetlib raises on purpose."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message}; {hint}" if hint else message)


class InputError(FleetError):
    """Something a person typed is wrong: a name, a flag, a file. Nothing was changed."""

    exit_code = 2


class ParameterError(InputError):
    """A parameters file or a runbook parameter is invalid."""

    def __init__(
        self, message: str, *, source: str | None = None, key: str | None = None, hint: str | None = None
    ) -> None:
        self.source = source
        self.key = key
        where = ": ".join(p for p in (source, f"key '{key}'" if key else None) if p)
        super().__init__(f"{where}: {message}" if where else message, hint=hint)


class ClusterError(FleetError):
    """The Kubernetes API refused or failed a request."""


class GitError(FleetError):
    """git or the GitHub API refused or failed a request."""


class SandboxError(FleetError):
    """The embedded sandbox could not start or serve."""
