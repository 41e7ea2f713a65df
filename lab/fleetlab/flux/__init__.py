"""The mini-Flux: controllers that make a sandbox cluster behave like a Flux cluster.

Workloads (Deployments, ReplicaSets, Pods), source-controller (real git), kustomize-controller (real
kustomize, server-side apply), helm-controller (simulated releases) and notification-controller each
run in a daemon thread of whichever process holds the cluster's lease. Each Flux controller
acts only while its own Deployment has a ready pod, as the real ones do.

    flux = ControllerSet.start(api, hub, FluxSettings(speed=20), artifacts=path)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from fleetlab.flux.fields import FieldAudit
from fleetlab.flux.helm import HelmController
from fleetlab.flux.kustomize import KustomizeController
from fleetlab.flux.notification import NotificationController
from fleetlab.flux.runtime import FluxSettings, Loop, Runtime
from fleetlab.flux.source import SourceController
from fleetlab.flux.workloads import Workloads
from fleetlab.github.hub import Hub
from fleetlab.kubernetes.apiserver import ClusterApi


class Controller(Protocol):
    def step(self) -> None: ...


class ControllerSet:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.controllers: list[Controller] = [Workloads(runtime), SourceController(runtime), KustomizeController(runtime),
                                              HelmController(runtime), NotificationController(runtime),
                                              FieldAudit(runtime)]
        self.loop = Loop(runtime, [c.step for c in self.controllers])

    @classmethod
    def start(cls, api: ClusterApi, hub: Hub, settings: FluxSettings, *, artifacts: Path,
              proxy: str | None = None, working_set: Callable[[str], float | None] | None = None) -> ControllerSet:
        artifacts.mkdir(parents=True, exist_ok=True)
        runtime = Runtime(api, hub, settings, artifacts, proxy=proxy)
        if working_set is not None:
            runtime.working_set = working_set
        flux = cls(runtime)
        flux.loop.start()
        return flux

    def step(self) -> None:
        for controller in self.controllers:
            controller.step()

    def stop(self) -> None:
        self.loop.stop()


__all__ = ["ControllerSet", "FluxSettings"]
