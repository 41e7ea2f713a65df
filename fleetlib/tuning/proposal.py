"""The change tuning proposes: fleetlib's patches in the cluster's `flux-system/kustomization.yaml`
(fleetlib.kustomization), built with kustomize to check the Deployments come out with the proposed values."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fleetlib import kustomization as kfile
from fleetlib.errors import FleetError
from fleetlib.tuning.strategies import VALUES, ContainerState, FlagSuggestion, quantity_text

Desired = dict[str, tuple[dict[str, dict[str, str]], dict[str, str]]]
"""Per controller with a change: its full resources (requests, limits) and the flags fleetlib's patch carries."""


@dataclass(frozen=True)
class Proposal:
    """fleetlib's patches for the controllers whose values change, as a file change."""

    path: str
    before: str
    after: str
    controllers: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def diff(self) -> str:
        return "".join(difflib.unified_diff(self.before.splitlines(keepends=True), self.after.splitlines(keepends=True),
                                            f"a/{self.path}", f"b/{self.path}"))


def desired(controllers: Sequence[str], rows: list[dict[str, Any]], suggestions: list[FlagSuggestion],
            kustomization_text: str, shown: str) -> Desired:
    """What each changing controller's patch must hold: changed values, kept values, and flags (ours kept)."""
    managed = kfile.managed(kustomization_text, shown=shown)
    out: Desired = {}
    for c in controllers:
        mine = [r for r in rows if r["controller"] == c]
        flags = kfile.managed_flags(managed.get(c, ""))
        new_flags = {s.flag: s.suggested for s in suggestions if s.controller == c}
        if not any(r["change"] for r in mine) and not new_flags:
            continue
        resources: dict[str, dict[str, str]] = {"requests": {}, "limits": {}}
        for r in mine:
            value = r["recommended_value"] if r["change"] else r["current_value"]
            if value is not None:
                resources[r["kind"] + "s"][r["resource"]] = quantity_text(r["resource"], value) or ""
        out[c] = (resources, {**flags, **new_flags})
    return out


def propose(want: Desired, kustomization_text: str, shown: str, container_index: Mapping[str, int]) -> Proposal:
    """The new kustomization.yaml text with fleetlib's patches set."""
    patches = {c: kfile.resources_patch(container_index.get(c, 0), res, flags, controller=c)
               for c, (res, flags) in want.items()}
    after = kfile.set_patches(kustomization_text, patches, shown=shown) if patches else kustomization_text
    return Proposal(shown, kustomization_text, after, tuple(want))


def check_built(shown: str, want: Desired, build: Callable[[], Mapping[str, ContainerState]]) -> None:
    """FleetError when kustomize's build of the proposed file gives a Deployment other values than proposed
    (another patch later in the file overriding fleetlib's)."""
    built = build()
    for c, (resources, flags) in want.items():
        got = built.get(c)
        for resource, kind in VALUES:
            wanted = resources[kind + "s"].get(resource)
            have = got.text(resource, kind) if got else None
            if wanted != have:
                raise FleetError(f"kustomize build of the proposed {shown}: Deployment {c} has {resource} {kind} "
                                 f"{have}, not {wanted}", hint="another patch in the file overrides fleetlib's; "
                                                               "move fleetlib's patch last")
        for name, value in flags.items():
            if got is None or got.flags.get(name) != value:
                raise FleetError(f"kustomize build of the proposed {shown}: Deployment {c} has --{name}="
                                 f"{got.flags.get(name) if got else None}, not {value}")
