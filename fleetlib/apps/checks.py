"""What the add-app runbook checks before anything is pushed or created, each refusal naming the value and
the reason: the cluster's folder still builds with the app's file (as kustomize-controller builds it), the
chart version or OCI tag exists, the Git branch exists and its path builds, every `dependsOn` names an
object that exists (in the cluster or in the same folder), and the API server accepts every object in a
server-side dry run (the Flux CRDs' schemas included), and no `dependsOn` makes a cycle. Each check takes the
values it reads, not the flow that holds them, and returns the refusal or None.

    problem = dependency_cycle(options, kube, "flux-system")     # None when there is no cycle
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fleetlib.errors import FleetError
from fleetlib.github import GitHub
from fleetlib.helmrepo import chart_versions, oci_tag_exists
from fleetlib.kube import Kube
from fleetlib.kubectl import build_as_flux
from fleetlib.manifests import parse_release
from fleetlib.objects import FLUX_KINDS, Ref, spec_of
from fleetlib.options import AddAppOptions
from fleetlib.semver import resolve_version


def folder_builds(folder: Path, shown: str, objects: list[dict[str, Any]]) -> str | None:
    """The cluster's folder (`shown` as its path in the repository), with the app's file written, builds as the
    flux-system Kustomization builds it, and the build holds every one of the app's `objects`."""
    try:
        built = parse_release(build_as_flux(folder))
    except FleetError as e:
        return f"the cluster folder {shown} does not build with the app's file: {e.message}"
    mine = {str(Ref.of(o)) for o in objects}
    missing = mine - {str(Ref.of(o)) for o in built}
    return f"the build of {shown} leaves out {', '.join(sorted(missing))}" if missing else None


def source_exists(o: AddAppOptions, *, proxy: str | None, hub: GitHub, repo_slug: str | None) -> str | None:
    """The chart version, OCI tag, or Git branch and path the app names exist (the Git repository's
    `repo_slug` on the fleet's GitHub, for a Git source)."""
    try:
        if o.source == "helm":
            versions = chart_versions(o.url, str(o.chart), proxy=proxy)
            if not versions:
                return f"chart {o.chart!r} is not in the Helm repository {o.url}"
            try:
                found = resolve_version(o.version, versions)
            except ValueError:
                return f"version {o.version!r} is not a semver version or constraint"
            if found is None:
                return (f"chart {o.chart} has no version matching {o.version!r} in {o.url} (it has "
                        f"{', '.join(sorted(versions)[-5:])})")
            return None
        if o.source == "oci":
            if not oci_tag_exists(o.url, o.version, insecure=o.insecure, proxy=proxy):
                return f"{o.url} has no tag {o.version!r}"
            return None
    except FleetError as e:
        return e.message
    return git_source_builds(o, hub, str(repo_slug))


def git_source_builds(o: AddAppOptions, hub: GitHub, slug: str) -> str | None:
    """The app repository's branch exists on the fleet's GitHub, and its path builds."""
    branch = git_branch(o)
    try:
        hub.branch_head(slug, branch)
    except FleetError as e:
        return f"branch {branch!r} of {slug} cannot be read: {e.message}"
    try:
        checkout = hub.clone(slug, branch)
    except FleetError as e:
        return e.message
    folder = (checkout.path / o.path).resolve()
    if not str(folder).startswith(str(checkout.path.resolve())) or not folder.is_dir():
        return f"path {o.path!r} is not a folder of {slug}@{branch}"
    try:
        build_as_flux(folder)
    except FleetError as e:
        return f"path {o.path!r} of {slug}@{branch} does not build: {e.message}"
    finally:
        checkout.discard()
    return None


def git_branch(o: AddAppOptions) -> str:
    """The branch a Git source follows: `version`, or main for `*`."""
    return o.version if o.version != "*" else "main"


def _kind(o: AddAppOptions) -> str:
    return "Kustomization" if o.source == "git" else "HelmRelease"


def dependencies_exist(o: AddAppOptions, kube: Kube, flux_ns: str,
                       built: list[dict[str, Any]] | None = None) -> str | None:
    """Every `dependsOn` names an object in the cluster (or in the cluster's folder, `built`)."""
    kind = _kind(o)
    for dep in o.depends_on:
        namespace, _, name = dep.rpartition("/")
        ref = Ref(kind, namespace or flux_ns, name)
        if kube.get(FLUX_KINDS[kind], kind, ref.namespace, ref.name) is not None:
            continue
        if any(str(Ref.of(x)) == str(ref) for x in built or []):
            continue
        return f"dependsOn {dep!r}: {ref} exists neither in the cluster nor in its folder"
    return None


def dependency_cycle(o: AddAppOptions, kube: Kube, flux_ns: str) -> str | None:
    """The app's `dependsOn` with those of the cluster's objects of the same kind: a cycle (or the app depending
    on itself) would leave every object in it waiting forever, so it is refused with the loop named."""
    kind = _kind(o)

    def key(namespace: str | None, name: str) -> str:
        return f"{namespace or flux_ns}/{name}"

    graph: dict[str, list[str]] = {}
    for obj in kube.list(FLUX_KINDS[kind], kind):
        ns = obj["metadata"].get("namespace")
        graph[key(ns, obj["metadata"]["name"])] = [key(d.get("namespace") or ns, d["name"])
                                                   for d in spec_of(obj).get("dependsOn") or []]
    me = key(None, o.app)
    graph[me] = [key(d.rpartition("/")[0] or None, d.rpartition("/")[2]) for d in o.depends_on]
    path: list[str] = []

    def back_to_me(node: str, seen: set[str]) -> bool:
        for dep in graph.get(node, []):
            if dep != me and dep in seen:
                continue
            seen.add(dep)
            if dep == me or back_to_me(dep, seen):
                path.append(dep)
                return True
        return False

    if not back_to_me(me, set()):
        return None
    loop = " -> ".join([me, *reversed(path)])
    return f"dependsOn makes a cycle: {loop} ({kind}s in a cycle wait for each other forever)"


def dry_run(kube: Kube, objects: list[dict[str, Any]]) -> str | None:
    """Every object through the API server's admission, changing nothing."""
    try:
        kube.apply(objects, manager="kustomize-controller", dry_run=True)
    except FleetError as e:
        return f"the API server refuses it: {e.message}"
    return None
