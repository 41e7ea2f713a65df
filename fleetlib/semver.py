"""Semantic versions and Helm's version constraints (Masterminds/semver, as Helm and source-controller read
them): `1.2.3`, `1.2.x`, `^1.2`, `~1.2.3`, `>=1 <2`, `1.x || 2.x`, `*`.

    resolve_version("0.1.x", ["0.1.0", "0.1.1", "0.2.0"])   # "0.1.1"
"""

from __future__ import annotations

import re
from typing import Any

SEMVER = re.compile(r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")


def parse_version(text: str) -> tuple[int, int, int, tuple[Any, ...]] | None:
    """A SemVer as a sortable tuple (a release sorts after its pre-releases); None if not SemVer."""
    m = SEMVER.match(text)
    if not m:
        return None
    pre = text.split("-", 1)[1].split("+")[0] if "-" in text.split("+")[0] else ""
    pre_key: tuple[Any, ...] = (1,) if not pre else (0, *[(0, int(p)) if p.isdigit() else (1, p)
                                                          for p in pre.split(".")])
    return int(m.group(1)), int(m.group(2)), int(m.group(3)), pre_key


def _constraint_parts(text: str) -> list[tuple[str, tuple[int, int, int] | None, int]]:
    """One AND-group of a Masterminds constraint as (operator, version, how many parts were given)."""
    out = []
    for raw in re.split(r"[\s,]+", text.strip()):
        if not raw:
            continue
        m = re.match(r"^(>=|<=|!=|=|>|<|~|\^)?v?(\*|x|X|\d+)(?:\.(\*|x|X|\d+))?(?:\.(\*|x|X|\d+))?$", raw)
        if not m:
            raise ValueError(f"improper constraint: {text}")
        op = m.group(1) or "="
        given = [p for p in m.groups()[1:] if p is not None]
        wild = next((i for i, p in enumerate(given) if p in ("*", "x", "X")), None)
        parts = given if wild is None else given[:wild]
        nums = [int(p) for p in parts] + [0] * (3 - len(parts))
        out.append((op, (nums[0], nums[1], nums[2]) if parts else None, len(parts)))
    return out


def _matches(version: tuple[int, int, int], op: str, want: tuple[int, int, int] | None, given: int) -> bool:
    if want is None:
        return True
    if op in ("=", "!=") and given < 3:  # 1.2 / 1.2.x: the whole minor (or major) range
        upper = (want[0] + 1, 0, 0) if given == 1 else (want[0], want[1] + 1, 0)
        inside = want <= version < upper
        return inside if op == "=" else not inside
    if op == "~":
        upper = (want[0] + 1, 0, 0) if given == 1 else (want[0], want[1] + 1, 0)
        return want <= version < upper
    if op == "^":
        upper = (want[0] + 1, 0, 0) if want[0] > 0 else (0, want[1] + 1, 0) if want[1] > 0 or given < 3 \
            else (0, 0, want[2] + 1)
        return want <= version < upper
    return {"=": version == want, "!=": version != want, ">": version > want, "<": version < want,
            ">=": version >= want, "<=": version <= want}[op]


def resolve_version(constraint: str, versions: list[str]) -> str | None:
    """The newest version matching a Helm (Masterminds/semver) constraint such as 1.2.x, ^1.2, >=1 <2 or
    1.x || 2.x; pre-releases only when asked for exactly. Raises ValueError for an improper constraint."""
    constraint = (constraint or "*").strip()
    candidates = sorted(((parse_version(v), v) for v in versions if parse_version(v) is not None), reverse=True)
    if parse_version(constraint) is not None and not constraint.startswith(("=", ">", "<", "~", "^")):
        exact = parse_version(constraint)
        return next((v for key, v in candidates if key == exact), None)
    groups = [_constraint_parts(g) for g in constraint.split("||")]
    for key, text in candidates:
        assert key is not None
        if key[3] != (1,):
            continue  # a pre-release never matches a range
        if any(all(_matches(key[:3], op, want, given) for op, want, given in group) for group in groups):
            return text
    return None
