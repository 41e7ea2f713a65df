"""One side of the differential suite, and the helpers a scenario acts through.

A side is a cluster on one target (`sandbox` or `local`), bootstrapped by the bootstrap runbook's own code
(fleetlib.bootstrap) from a repository of its own in the sandbox GitHub. Every scenario gets, on each side, the
same namespace name and the same branch name in that side's repository, so the two sides differ only in what
the normaliser blanks out (the repository name, the API server's address, times, uids, revisions).

    side = Side.up("local", home=home, root=root, say=print)
    case = side.case("ks-prune")           # namespace fid-ks-prune, branch fid/ks-prune, Secret for the repo
    case.commit({"app/cm.yaml": CM})
    case.git_source(); case.kustomization("app", "./app")
    ks = case.wait_ready("Kustomization", "app")
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from fleetlib import targets
from fleetlib.bootstrap import Bootstrap
from fleetlib.model import ClusterId
from fleetlib.objects import condition, status_of
from fleetlib.parameters import Layer, merge_and_validate

STAGE = "dev"
OWNER = "fleet-fidelity"
KINDS: dict[str, tuple[str, str, str]] = {
    "GitRepository": ("source.toolkit.fluxcd.io", "v1", "gitrepositories"),
    "OCIRepository": ("source.toolkit.fluxcd.io", "v1", "ocirepositories"),
    "HelmRepository": ("source.toolkit.fluxcd.io", "v1", "helmrepositories"),
    "HelmChart": ("source.toolkit.fluxcd.io", "v1", "helmcharts"),
    "Kustomization": ("kustomize.toolkit.fluxcd.io", "v1", "kustomizations"),
    "HelmRelease": ("helm.toolkit.fluxcd.io", "v2", "helmreleases"),
    "Provider": ("notification.toolkit.fluxcd.io", "v1beta3", "providers"),
    "Alert": ("notification.toolkit.fluxcd.io", "v1beta3", "alerts"),
}
"""The Flux kinds scenarios read (at the version the side serves: see Side.version)."""

Say = Callable[[str], None]


class ScenarioError(AssertionError):
    """A scenario could not reach the state it observes (a timeout, a refused setup step)."""


@dataclass
class Result:
    code: int
    out: str
    err: str


def cluster_name(target: str) -> str:
    return f"fidelity-{target}"


def params_for(target: str, *, context: str | None = None) -> Any:
    """The parameters of a side's cluster: its own repository, and the Flux release the local stack runs (so the
    two sides compare behaviour, not the CRD sets of two releases)."""
    from fleetlab.versions import LOCAL

    cid = ClusterId(STAGE, cluster_name(target))
    values: dict[str, Any] = {
        "target": target, "owner": OWNER, "repository": f"fidelity-{target}", "personal": False, "private": True,
        "path": f"clusters/stages/{STAGE}/clusters/{cid.cluster}", "version": LOCAL.flux.version,
        "components": ["source-controller", "kustomize-controller", "helm-controller", "notification-controller"],
    }
    if context:
        values["context"] = context
    return merge_and_validate(cid, [Layer("fidelity", values)])


@dataclass
class Side:
    target: str
    home: Path
    params: Any
    where: targets.Endpoints
    api: k8s.ApiClient
    kubectl_bin: str
    repo: str
    extra_subst: dict[str, str] = field(default_factory=dict)
    _versions: dict[str, str] = field(default_factory=dict)

    @classmethod
    def up(cls, target: str, *, home: Path, say: Say = print) -> Side:
        """Start the side's cluster (local: `fleet local up`), bootstrap Flux on it, and connect."""
        from fleetlib.kubectl import kubectl_path

        params = params_for(target)
        if target == "local":
            from fleetlab.local.cluster import LocalCluster

            LocalCluster(home, params.id).up(say=say)
        else:  # the sandbox at the real controllers' pace, whatever FLEET_SANDBOX_SPEED says: rates are compared
            from fleetlab.flux.runtime import FluxSettings
            from fleetlab.sandbox import Sandbox

            Sandbox.running(home, settings=FluxSettings(speed=1.0))
        boot = Bootstrap.connect(params, home=home, timeout="5m", echo=False)
        started = time.monotonic()
        boot.run()
        say(f"✔ {target}: Flux {boot.params.version} bootstrapped on {params.id} in {time.monotonic() - started:.1f} s")
        where = boot.where
        from kubernetes import config

        api = config.new_client_from_config(str(where.kubeconfig) if where.kubeconfig else None, context=where.context)
        return cls(target, home, params, where, api, kubectl_path(), params.repository)

    # --- the side's own strings, blanked out before comparing ---------------------------------------

    def substitutions(self) -> dict[str, str]:
        server = self.api.configuration.host
        out = {self.repo: "<repo>", server: "<server>", server.removeprefix("https://"): "<server>",
               cluster_name(self.target): "<cluster>"}
        out.update(self.extra_subst)
        return out

    # --- clients --------------------------------------------------------------------------------

    def kubectl(self, *args: str, input: str | None = None, timeout: float = 120) -> Result:
        kubeconfig = str(self.where.kubeconfig) if self.where.kubeconfig else None
        cmd = [self.kubectl_bin, *(["--kubeconfig", kubeconfig] if kubeconfig else []), "--context",
               self.where.context, *args]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, input=input)
        return Result(done.returncode, done.stdout, done.stderr)

    # The official client's APIs, typed Any on purpose: a scenario records what the server sent, and the
    # client's models (every field Optional) would make each read a None check of a value it must show.
    def core(self) -> Any:
        return k8s.CoreV1Api(self.api)

    def apps(self) -> Any:
        return k8s.AppsV1Api(self.api)

    def custom(self) -> Any:
        return k8s.CustomObjectsApi(self.api)

    def version(self, kind: str) -> str:
        """The most stable version of a Flux kind this side serves (OCIRepository: v1beta2 in Flux v2.5, v1 after)."""
        group, version, plural = KINDS[kind]
        if kind not in self._versions:
            done = self.kubectl("api-resources", f"--api-group={group}", "--no-headers")
            rows = [line.split() for line in done.out.splitlines() if line.split()]
            preferred = next((r[-3] for r in rows if r[0] == plural), f"{group}/{version}")
            self._versions[kind] = preferred.rsplit("/", 1)[1]
        return self._versions[kind]

    def api_version(self, kind: str) -> str:
        return f"{KINDS[kind][0]}/{self.version(kind)}"

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        group, _, plural = KINDS[kind]
        version = self.version(kind)
        try:
            return dict(self.custom().get_namespaced_custom_object(group, version, namespace, plural, name))
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    def case(self, scenario: str) -> Case:
        """A fresh namespace and branch for one scenario (both recreated if a previous run left them)."""
        ns = f"fid-{scenario}"[:63].rstrip("-")
        core = self.core()
        try:
            core.delete_namespace(ns)
            _wait(f"namespace {ns} to go", lambda: _gone(lambda: core.read_namespace(ns)), timeout=120)
        except ApiException as e:
            if e.status != 404:
                raise
        core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=ns)))
        # a real controller-manager publishes kube-root-ca.crt into a new namespace when it gets to it (the
        # sandbox at once): every scenario starts from the settled namespace on both sides
        _wait(f"kube-root-ca.crt in namespace {ns}",
              lambda: not _gone(lambda: core.read_namespaced_config_map("kube-root-ca.crt", ns)), timeout=60,
              every=0.1)
        secret = core.read_namespaced_secret(self.params.secret_name, self.params.namespace)
        core.create_namespaced_secret(ns, k8s.V1Secret(metadata=k8s.V1ObjectMeta(name="git"), data=secret.data))
        branch = f"fid/{scenario}"
        from fleetlab.sandbox import Sandbox

        bare = Sandbox.running(self.home).hub.bare(OWNER, self.repo)
        if bare.branch_sha(branch):  # a previous run's branch: start the scenario's history afresh
            bare.git("update-ref", "-d", f"refs/heads/{branch}")
        return Case(self, scenario, ns, branch)


def _gone(read: Callable[[], Any]) -> bool:
    try:
        read()
    except ApiException as e:
        if e.status == 404:
            return True
        raise
    return False


def _wait(what: str, test: Callable[[], Any], *, timeout: float, every: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = test()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise ScenarioError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def conditions(obj: Mapping[str, Any] | None) -> list[tuple[str, str, str, str]]:
    """(type, status, reason, message) of every condition, sorted by type."""
    return sorted((c.get("type", ""), c.get("status", ""), c.get("reason", ""), c.get("message", ""))
                  for c in status_of(obj).get("conditions") or [])


@dataclass
class Case:
    """One scenario on one side: its namespace, its branch, and the helpers it acts through."""

    side: Side
    scenario: str
    ns: str
    branch: str

    # --- Git ----------------------------------------------------------------------------------------

    def commit(self, files: Mapping[str, str | None], message: str = "fidelity") -> str:
        """One commit on the scenario's branch (None removes a path)."""
        from fleetlab.sandbox import Sandbox

        bare = Sandbox.running(self.side.home).hub.bare(OWNER, self.side.repo)
        return bare.commit_files(self.branch, {k: None if v is None else v.encode() for k, v in files.items()},
                                 message=message, author=("Fidelity", "fidelity@example.com"))

    @property
    def url(self) -> str:
        return f"ssh://git@github.com/{OWNER}/{self.side.repo}"

    # --- objects ------------------------------------------------------------------------------------

    def apply(self, docs: str | Iterable[Mapping[str, Any]], *, server_side: bool = True) -> Result:
        text = docs if isinstance(docs, str) else yaml.safe_dump_all(list(docs), sort_keys=False)
        args = ["apply", "-n", self.ns, "-f", "-"] + (["--server-side", "--field-manager", "fidelity"]
                                                      if server_side else [])
        done = self.side.kubectl(*args, input=text)
        if done.code != 0:
            raise ScenarioError(f"kubectl apply failed on {self.side.target}: {done.err.strip()[:600]}")
        return done

    def git_source(self, name: str = "src", *, interval: str = "10m", **spec: Any) -> None:
        self.apply([{"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                     "metadata": {"name": name, "namespace": self.ns},
                     "spec": {"interval": interval, "url": self.url, "ref": {"branch": self.branch},
                              "secretRef": {"name": "git"}, **spec}}])

    def kustomization(self, name: str, path: str, *, source: str = "src", interval: str = "10m", prune: bool = True,
                      **spec: Any) -> None:
        self.apply([self.kustomization_object(name, path, source=source, interval=interval, prune=prune, **spec)])

    def kustomization_object(self, name: str, path: str, *, source: str = "src", interval: str = "10m",
                             prune: bool = True, **spec: Any) -> dict[str, Any]:
        return {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                "metadata": {"name": name, "namespace": self.ns},
                "spec": {"interval": interval, "path": path, "prune": prune,
                         "sourceRef": {"kind": "GitRepository", "name": source}, **spec}}

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        return self.side.get(kind, self.ns, name)

    def reconcile(self, kind: str, name: str) -> str:
        """Request a reconcile as `flux reconcile` does (the requestedAt annotation); returns the token."""
        token = str(time.time_ns())
        group, _, plural = KINDS[kind]
        version = self.side.version(kind)
        self.side.custom().patch_namespaced_custom_object(
            group, version, self.ns, plural, name,
            {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": token}}})
        return token

    def wait(self, what: str, test: Callable[[], Any], *, timeout: float = 90, every: float = 0.5) -> Any:
        return _wait(f"{what} on {self.side.target}", test, timeout=timeout, every=every)

    def wait_condition(self, kind: str, name: str, status: str = "True", *, reason: str | None = None,
                       type_: str = "Ready", timeout: float = 90, handled: str | None = None) -> dict[str, Any]:
        """Until the object's condition has this status (and reason), for its current generation."""
        def test() -> dict[str, Any] | None:
            obj = self.get(kind, name)
            cond = condition(obj, type_)
            if obj is None or cond is None or cond.get("status") != status:
                return None
            if reason is not None and cond.get("reason") != reason:
                return None
            if handled is not None and status_of(obj).get("lastHandledReconcileAt") != handled:
                return None
            if status == "True" and type_ == "Ready" and status_of(obj).get(
                    "observedGeneration") != obj["metadata"].get("generation"):
                return None
            return obj
        return dict(self.wait(f"{kind}/{self.ns}/{name} {type_}={status}" + (f" ({reason})" if reason else ""), test,
                              timeout=timeout))

    def wait_ready(self, kind: str, name: str, *, timeout: float = 90) -> dict[str, Any]:
        return self.wait_condition(kind, name, "True", timeout=timeout)

    def events(self, name: str | None = None, kind: str | None = None) -> list[tuple[str, str, str]]:
        """(type, reason, message) of the namespace's events (about one object if named), in time order."""
        items = self.side.core().list_namespaced_event(self.ns).items
        items = [e for e in items if (name is None or e.involved_object.name == name)
                 and (kind is None or e.involved_object.kind == kind)]
        items.sort(key=lambda e: (e.last_timestamp or e.event_time or e.metadata.creation_timestamp,
                                  e.metadata.creation_timestamp))
        return [(e.type, e.reason, e.message) for e in items]

    def event_counts(self, name: str, kind: str) -> dict[tuple[str, str], int]:
        out: dict[tuple[str, str], int] = {}
        for e in self.side.core().list_namespaced_event(self.ns).items:
            if e.involved_object.name == name and e.involved_object.kind == kind:
                key = (e.type, e.reason)
                out[key] = out.get(key, 0) + (e.count or 1)
        return out

    def names(self, resource: str, namespace: str | None = None) -> list[str]:
        done = self.side.kubectl("get", resource, "-n", namespace or self.ns, "-o", "name")
        return sorted(done.out.split())

    def json(self, *args: str) -> Any:
        done = self.side.kubectl(*args, "-o", "json")
        if done.code != 0:
            raise ScenarioError(f"kubectl {' '.join(args)} failed on {self.side.target}: {done.err.strip()[:400]}")
        return json.loads(done.out)


class Sides:
    """Both sides, up for the length of a `with` block: the sandbox in this process, a local cluster beside it
    (stopped at the end unless `keep`)."""

    def __init__(self, home: Path, *, say: Say = print, keep: bool = False,
                 targets: tuple[str, ...] = ("sandbox", "local")) -> None:
        self.home, self.say, self.keep, self.targets = home, say, keep, targets
        self.sides: dict[str, Side] = {}

    def __enter__(self) -> dict[str, Side]:
        from concurrent.futures import ThreadPoolExecutor

        from fleetlab.local.build import build, cache_dir
        from fleetlab.versions import LOCAL

        # first: both sides install the release the local stack builds (its CRDs come from the build)
        build(cache_dir(), LOCAL, say=self.say)
        with ThreadPoolExecutor(2) as pool:
            futures = {t: pool.submit(Side.up, t, home=self.home, say=self.say) for t in self.targets}
            try:
                self.sides = {t: f.result() for t, f in futures.items()}
            except BaseException:
                self.__exit__(None, None, None)
                raise
        return self.sides

    def __exit__(self, *exc: object) -> None:
        if self.keep or "local" not in self.targets:
            return
        from fleetlab.local.cluster import LocalCluster

        LocalCluster(self.home, params_for("local").id).down(say=self.say)
