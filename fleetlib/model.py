"""The pure fleet model: identities and the value types every other module shares.

Nothing here reads the clock, the network or the disk.

    cid = ClusterId("dev", "services-amer")        # prints as dev/services-amer
    Duration.parse("1m").go()                      # "1m0s", as Flux writes intervals
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from fleetlib.errors import InputError
from fleetlib.names import cluster_name, dns_label

Target = Literal["sandbox", "local", "live"]
"""Where a runbook acts: the embedded sandbox (default), a local cluster running real Kubernetes and Flux
(fleetlab.local), or a real cluster and GitHub."""

DEFAULT_STAGE = "dev"
"""The stage runbooks and the CLI use when a cluster name exists in several stages."""

FLUX_COMPONENTS = (
    "source-controller",
    "kustomize-controller",
    "helm-controller",
    "notification-controller",
)
"""`flux bootstrap --components` default, in Flux's order."""

FLUX_EXTRA_COMPONENTS = ("image-reflector-controller", "image-automation-controller")
"""The only values `--components-extra` accepts."""

REQUIRED_COMPONENTS = ("source-controller", "kustomize-controller")


@dataclass(frozen=True, order=True)
class ClusterId:
    """One cluster of the fleet: a stage and a cluster name, both DNS labels."""

    stage: str
    cluster: str

    def __post_init__(self) -> None:
        dns_label(self.stage, what="stage")
        cluster_name(self.cluster)

    def __str__(self) -> str:
        return f"{self.stage}/{self.cluster}"

    @classmethod
    def parse(cls, text: str) -> ClusterId:
        """Parse `stage/cluster`, as `fleet scaffold --like` takes it."""
        stage, sep, cluster = text.partition("/")
        if not sep:
            raise InputError(f"{text!r} is not STAGE/CLUSTER", hint="write it as e.g. dev/services-amer")
        return cls(stage, cluster)


def sum_of_units(text: str, part: re.Pattern[str], units: Mapping[str, float], *,
                 positive: bool = True) -> float | None:
    """The total of `text` written as number-unit parts (`1h30m`), or None when it is not that (or, with
    `positive`, when the total is 0)."""
    pos, total = 0, 0.0
    for match in part.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * units[match.group(2)]
        pos = match.end()
    return total if text and pos == len(text) and (total > 0 or not positive) else None


GO_MAX_DURATION_SECONDS = (2**63 - 1) / 1e9
"""Go's time.Duration is an int64 of nanoseconds: 2562047h47m16.854775807s at most."""
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


_WINDOW_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_WINDOW_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def window_seconds(text: str) -> float:
    """Seconds of a Prometheus-style duration such as `14d`, `336h`, `1h30m` or `30s`."""
    if not isinstance(text, str):
        raise ValueError("a window is a string such as '14d', '12h' or '30s'")
    total = sum_of_units(text, _WINDOW_PART, _WINDOW_SECONDS)
    if total is None:
        raise ValueError(f"{text!r} is not a duration such as '14d', '12h' or '30s'")
    return total


@dataclass(frozen=True, order=True)
class Duration:
    """A Go-style duration such as `1m`, `10m0s` or `1h30m`, as Flux intervals are written."""

    seconds: float

    @classmethod
    def parse(cls, text: str) -> Duration:
        if not isinstance(text, str) or not text:
            raise ValueError("a duration is a string such as '1m', '10m0s' or '1h30m'")
        total = sum_of_units(text, _DURATION_PART, _UNIT_SECONDS)
        if total is None:
            raise ValueError(f"{text!r} is not a positive duration such as '1m', '10m0s' or '1h30m'")
        if total > GO_MAX_DURATION_SECONDS:
            raise ValueError(f"{text[:40]!r} is longer than Go's time.Duration allows (2562047h47m16.854775807s), "
                             f"so Flux would refuse it as an invalid duration")
        return cls(total)

    def go(self) -> str:
        """Format as Go's time.Duration.String() (nanosecond precision): 60s -> '1m0s', 600s -> '10m0s',
        0.000622s -> '622µs', 1.5s -> '1.5s', 3723.25s -> '1h2m3.25s'."""
        return go_duration(self.seconds)

    def __str__(self) -> str:
        return self.go()


def go_duration(seconds: float) -> str:
    """Go's time.Duration.String() of a number of seconds, rounded to the nanosecond."""
    ns = round(seconds * 1_000_000_000)
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)

    def frac(value: int, digits: int) -> str:
        whole, rest = divmod(value, 10 ** digits)
        tail = f"{rest:0{digits}d}".rstrip("0")
        return f"{whole}.{tail}" if tail else str(whole)
    if ns < 1_000:
        return f"{sign}{ns}ns"
    if ns < 1_000_000:
        return f"{sign}{frac(ns, 3)}µs"
    if ns < 1_000_000_000:
        return f"{sign}{frac(ns, 6)}ms"
    hours, rest = divmod(ns, 3_600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    text = f"{frac(rest, 9)}s"
    if hours:
        return f"{sign}{hours}h{minutes}m{text}"
    if minutes:
        return f"{sign}{minutes}m{text}"
    return sign + text
