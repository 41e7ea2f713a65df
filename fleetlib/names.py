"""Validation of the names people type: stages, clusters, GitHub owners and repositories.

Stages and clusters become folder names in the fleet repository and in FLEET_HOME, so they are
DNS-1123 labels and nothing else (no '/', no '..', no upper case).

    stage = dns_label("dev", what="stage")     # returns "dev" or raises InputError
"""

from __future__ import annotations

import re

from fleetlib.errors import InputError

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_GITHUB_OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
_GITHUB_REPO = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")

RESERVED_CLUSTER_NAMES = frozenset({"stage"})
"""`parameters/<stage>/stage.yaml` holds the stage layer, so no cluster may be called `stage`."""


def is_dns_label(value: str) -> bool:
    return bool(_DNS_LABEL.match(value))


def dns_label(value: object, *, what: str) -> str:
    """Return `value` if it is a DNS-1123 label, else raise an InputError naming `what`."""
    if not isinstance(value, str) or not _DNS_LABEL.match(value):
        shown = value if isinstance(value, str) and len(value) <= 80 else type(value).__name__
        raise InputError(
            f"{what} name {shown!r} is not a DNS-1123 label",
            hint="use 1-63 lower-case letters, digits and '-', starting and ending with a letter or digit",
        )
    return value


def cluster_name(value: object) -> str:
    name = dns_label(value, what="cluster")
    if name in RESERVED_CLUSTER_NAMES:
        raise InputError(f"cluster name {name!r} is reserved",
                         hint="parameters/<stage>/stage.yaml holds the stage layer; pick another name")
    return name


def is_github_owner(value: str) -> bool:
    return bool(_GITHUB_OWNER.match(value))


def is_github_repo(value: str) -> bool:
    return bool(_GITHUB_REPO.match(value)) and value not in {".", ".."}


_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//")


def branch_problem(value: str) -> str | None:
    """Why git would refuse `value` as a branch name (`git check-ref-format --branch` rules), or None."""
    if not value:
        return "must not be empty"
    if len(value) > 255:
        return "must be at most 255 characters"
    if value == "@" or value.startswith(("-", "/")) or value.endswith(("/", ".")):
        return "must not be '@', start with '-' or '/', or end with '/' or '.'"
    if _REF_FORBIDDEN.search(value):
        return "must not hold spaces, control characters, '..', '//', '@{' or any of ~ ^ : ? * [ \\"
    if any(part.startswith(".") or part.endswith(".lock") for part in value.split("/")):
        return "no part between '/' may start with '.' or end with '.lock'"
    return None


def is_branch_name(value: str) -> bool:
    return branch_problem(value) is None


_DNS_SUBDOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$")
_QUALIFIED_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")


def hostname_problem(value: str) -> str | None:
    """Why `value` is not a host name with an optional port (`github.com`, `github.example.com:8443`), or None."""
    host, colon, port = value.rpartition(":") if ":" in value else (value, "", "")
    if not _DNS_SUBDOMAIN.match(host.lower()):
        return f"{value[:80]!r} is not a DNS host name such as github.com or github.example.com:8443"
    if colon and not (port.isdigit() and 0 < int(port) < 65536):
        return f"{value[:80]!r} has a port that is not a number from 1 to 65535"
    return None


def qualified_name_problem(value: str) -> str | None:
    """Why `value` is not a Kubernetes qualified name (an optional DNS-subdomain prefix and '/', then a name of
    at most 63 characters), as label and toleration keys are, or None."""
    prefix, slash, name = value.rpartition("/")
    if slash and not _DNS_SUBDOMAIN.match(prefix):
        return f"{value[:80]!r}: the prefix before '/' must be a DNS subdomain"
    if not _QUALIFIED_NAME.match(name):
        return (f"{value[:80]!r} is not a qualified name (alphanumerics, '-', '_' or '.', at most 63, starting and "
                f"ending alphanumeric, with an optional DNS-subdomain prefix and '/')")
    return None


def is_env_name(value: str) -> bool:
    return bool(_ENV_NAME.match(value))
