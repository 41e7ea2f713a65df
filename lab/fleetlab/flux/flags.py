"""The Flux controllers' command-line flags, as their pflag parsers read them: what each controller accepts (the
v2.9 controllers' `--help`; tests/test_flux_flags.py compares this table with the built binaries), the values
the mini-Flux acts on, and the refusal that ends a container at start (`unknown flag: --x`, exit 2, then a
crash loop), as the real binary does before it does anything else.

    flags = parse("kustomize-controller", ["--requeue-dependency=5s", "--default-service-account=default"])
    flags.duration("requeue-dependency")          # 5.0
    parse("kustomize-controller", ["--requeue-dependency-seconds=5"])   # FlagError: unknown flag: ...
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fleetlib.model import sum_of_units

_COMMON = {
    "concurrent": "int", "enable-leader-election": "bool", "events-addr": "string", "feature-gates": "mapStringBool",
    "health-addr": "string", "kube-api-burst": "int", "kube-api-qps": "float32",
    "leader-election-lease-duration": "duration", "leader-election-release-on-cancel": "bool",
    "leader-election-renew-deadline": "duration", "leader-election-retry-period": "duration",
    "log-encoding": "string", "log-level": "string", "max-retry-delay": "duration", "metrics-addr": "string",
    "min-retry-delay": "duration", "token-cache-max-duration": "duration", "token-cache-max-size": "int",
    "watch-all-namespaces": "bool", "watch-configs-label-selector": "string", "default-service-account": "string",
}
_RECONCILER = {"interval-jitter-percentage": "uint8", "requeue-dependency": "duration", "watch-label-selector": "string"}
_REMOTE = {"default-kubeconfig-service-account": "string", "insecure-kubeconfig-exec": "bool",
           "insecure-kubeconfig-tls": "bool", "no-cross-namespace-refs": "bool", "override-manager": "stringArray",
           "http-retry": "int"}

FLAGS: dict[str, dict[str, str]] = {
    "source-controller": {**_COMMON, **_RECONCILER, "artifact-digest-algo": "string",
                          "artifact-retention-records": "int", "artifact-retention-ttl": "duration",
                          "helm-cache-max-size": "int", "helm-cache-purge-interval": "string",
                          "helm-cache-ttl": "string", "helm-chart-file-max-size": "int", "helm-chart-max-size": "int",
                          "helm-index-max-size": "int", "ssh-hostkey-algos": "strings", "ssh-kex-algos": "strings",
                          "storage-addr": "string", "storage-adv-addr": "string", "storage-path": "string"},
    "kustomize-controller": {**_COMMON, **_RECONCILER, **_REMOTE, "concurrent-ssa": "int",
                             "custom-apply-stage-kinds": "string", "default-decryption-service-account": "string",
                             "no-remote-bases": "bool", "sops-age-secret": "string", "sops-vault-configmap": "string"},
    "helm-controller": {**_COMMON, **_RECONCILER, **_REMOTE, "graceful-shutdown-timeout": "duration",
                        "http-timeout": "duration", "oom-watch-current-memory-path": "string",
                        "oom-watch-interval": "duration", "oom-watch-max-memory-path": "string",
                        "oom-watch-memory-threshold": "uint8", "snapshot-digest-algo": "string"},
    "notification-controller": {**_COMMON, "export-http-path-metrics": "bool", "no-cross-namespace-refs": "bool",
                                "rate-limit-interval": "duration", "receiverAddr": "string"},
}
"""controller -> flag -> its pflag type (the v2.9 controllers' flag sets; image-reflector and image-automation are
not run by the sandbox)."""

DEFAULTS = {"requeue-dependency": "30s", "min-retry-delay": "750ms", "max-retry-delay": "15m",
            "watch-all-namespaces": "true", "leader-election-release-on-cancel": "true"}
"""The defaults the mini-Flux acts on (the rest it does not read)."""

_INT = re.compile(r"^[+-]?(0[xX][0-9a-fA-F_]+|0[oO]?[0-7_]*|0[bB][01_]+|[1-9][0-9_]*|0)$")
_BOOL = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
         "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}


class FlagError(ValueError):
    """The controller's flag parser refused its arguments; the message is the line it prints before exiting 2."""


@dataclass
class Flags:
    controller: str
    values: dict[str, str] = field(default_factory=dict)
    """flag -> its last value as given (a bool flag given bare is "true")."""

    def text(self, name: str) -> str:
        return self.values.get(name, DEFAULTS.get(name, ""))

    def flag(self, name: str) -> bool:
        return _BOOL.get(self.text(name) or "false", False)

    def duration(self, name: str) -> float:
        return go_seconds(self.text(name))


def parse(controller: str, args: Sequence[str]) -> Flags:
    """The flags a controller's container gives it, or FlagError with pflag's words for the first one it refuses."""
    known = FLAGS.get(controller, {})
    out = Flags(controller)
    items = list(args)
    i = 0
    while i < len(items):
        arg = str(items[i])
        i += 1
        if not arg.startswith("-") or arg in ("-", "--"):
            continue  # a positional argument: the controllers take none and ignore them
        name, eq, value = arg.lstrip("-").partition("=")
        kind = known.get(name)
        if kind is None:
            raise FlagError(f"unknown flag: --{name}" if arg.startswith("--") else
                            f"unknown shorthand flag: '{name[:1]}' in {arg}")
        if not eq:
            if kind == "bool":
                value = "true"
            elif i < len(items):
                value = str(items[i])
                i += 1
            else:
                raise FlagError(f"flag needs an argument: --{name}")
        _check(name, kind, value)
        out.values[name] = value
    return out


def of_container(controller: str, container: Mapping[str, Any] | None) -> Flags:
    """The flags a controller's container gives it: defaults when it has none, or when its parser refuses them (it is
    then crash-looping and does not run)."""
    try:
        return parse(controller, (container or {}).get("args") or [])
    except FlagError:
        return Flags(controller)


def _check(name: str, kind: str, value: str) -> None:
    def refuse(why: str) -> FlagError:
        return FlagError(f'invalid argument "{value}" for "--{name}" flag: {why}')

    if kind == "bool" and value not in _BOOL:
        raise refuse(f'strconv.ParseBool: parsing "{value}": invalid syntax')
    if kind in ("int", "uint8") and not _INT.match(value):
        raise refuse(f'strconv.Parse{"Uint" if kind == "uint8" else "Int"}: parsing "{value}": invalid syntax')
    if kind == "float32":
        try:
            float(value)
        except ValueError:
            raise refuse(f'strconv.ParseFloat: parsing "{value}": invalid syntax') from None
    if kind == "duration":
        try:
            go_seconds(value)
        except ValueError as e:
            raise refuse(f"time: {_go_duration_error(value, str(e))}") from None


_GO_PART = re.compile(r"([0-9]*\.?[0-9]+|[0-9]+\.)(ns|us|µs|μs|ms|s|m|h)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def go_seconds(text: str) -> float:
    """Seconds of a Go duration as time.ParseDuration reads it ("5s", "1m30s", "0", "-1.5h"), else ValueError."""
    body = text[1:] if text[:1] in "+-" else text
    sign = -1.0 if text.startswith("-") else 1.0
    if body == "0":
        return 0.0
    total = sum_of_units(body, _GO_PART, _GO_UNITS, positive=False)
    if total is None:
        raise ValueError(text)
    return sign * total


def _go_duration_error(value: str, fallback: str) -> str:
    """time.ParseDuration's words for a bad value."""
    if re.fullmatch(r"[+-]?[0-9.]+", value):
        return f'missing unit in duration "{value}"'
    return f'invalid duration "{value}"'
