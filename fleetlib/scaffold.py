"""Scaffolding a new stage or cluster: its parameters file, and the fleet-repo folder bootstrap fills.

The plan is validated as the resolver would validate it before anything is written, and the file is
created only if absent, so a bad name or a clash writes nothing.

    plan = plan_scaffold(catalog, ClusterId("dev", "edge-1"), like=ClusterId("dev", "services-amer"))
    plan.apply()
"""

from __future__ import annotations

from dataclasses import dataclass

from fleetlib.errors import InputError
from fleetlib.files import dump_yaml, read_yaml_mapping
from fleetlib.fleetrepo import conventional_path, flux_system_files
from fleetlib.model import ClusterId
from fleetlib.parameters import Catalog, Layer, merge_and_validate
from fleetlib.plan import FileWrite

_NOT_COPIED = ("description", "context", "path")


@dataclass(frozen=True)
class ScaffoldPlan:
    id: ClusterId
    new_stage: bool
    parameters_file: FileWrite
    repo_files: tuple[str, ...]
    """Fleet-repo files the bootstrap runbook will create for this cluster."""

    def describe(self) -> list[str]:
        """What the scaffold itself writes (`create <file>`), a new stage first."""
        lines = [f"{self.parameters_file}"]
        if self.new_stage:
            lines.insert(0, f"add stage {self.id.stage!r}")
        return lines

    def afterwards(self) -> list[str]:
        """What the bootstrap runbook then writes in the fleet repository, one path a line."""
        return [f"  {p}" for p in self.repo_files]

    def apply(self) -> None:
        self.parameters_file.apply()


def plan_scaffold(catalog: Catalog, cid: ClusterId, *, like: ClusterId | None = None) -> ScaffoldPlan:
    if cid in catalog.clusters:
        raise InputError(f"cluster {cid} already exists in {catalog.shown(catalog.cluster_file(cid))}",
                         hint="edit that file instead")
    values: dict[str, object] = {}
    if like is not None:
        if like not in catalog.clusters:
            raise InputError(f"--like {like}: unknown cluster",
                             hint="known clusters: " + ", ".join(str(c) for c in catalog.clusters))
        source = catalog.cluster_file(like)
        values = {k: v for k, v in read_yaml_mapping(source, shown=catalog.shown(source)).items() if k not in _NOT_COPIED}
    path = conventional_path(cid)
    data = {
        "description": f"{cid.cluster} in stage {cid.stage}",
        "target": values.pop("target", "sandbox"),
        "context": f"kind-{cid.cluster}",
        "path": path,
        **values,
    }
    target = catalog.cluster_file(cid)
    shown = catalog.shown(target)
    merge_and_validate(cid, [*catalog.base_layers(cid.stage), Layer(shown, data)])
    header = (f"# Cluster {cid.cluster} in stage {cid.stage}, made by `fleet scaffold`.\n"
              f"# Keys override parameters/defaults.yaml and parameters/{cid.stage}/stage.yaml.\n"
              "# context is the kube context used when target is live.\n")
    return ScaffoldPlan(
        id=cid,
        new_stage=cid.stage not in catalog.stages,
        parameters_file=FileWrite(target, header + dump_yaml(data)),
        repo_files=tuple(flux_system_files(path)),
    )

