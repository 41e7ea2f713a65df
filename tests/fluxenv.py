"""Test helpers that set a sandbox cluster up the way `flux bootstrap github` leaves one."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from fleetlab.kubernetes.errors import ApiError
from fleetlab.release.manifests import install_objects

from .conftest import SandboxCluster

DEFAULT = {"source-controller", "kustomize-controller", "helm-controller", "notification-controller"}


def default_components() -> list[dict[str, Any]]:
    out = []
    for obj in install_objects("v2.5.1"):
        component = obj["metadata"].get("labels", {}).get("app.kubernetes.io/component")
        if component is None or component in DEFAULT:
            obj["metadata"].setdefault("labels", {})["app.kubernetes.io/version"] = "v2.5.1"  # as bootstrap writes
            out.append(obj)
    return out


def apply(c: SandboxCluster, objects: list[dict[str, Any]], manager: str = "flux") -> None:
    for obj in sorted(objects, key=lambda o: {"CustomResourceDefinition": 0, "Namespace": 1}.get(o["kind"], 2)):
        t = c.api.registry().by_kind(obj["apiVersion"], obj["kind"])
        assert t is not None, obj["kind"]
        c.api.patch(t, obj["metadata"].get("namespace"), obj["metadata"]["name"], "application/apply-patch+yaml",
                    json.dumps(obj).encode(), manager=manager, force=True)


def keypair() -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP384R1())
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return private, public


def sync_objects(owner: str, repo: str, path: str) -> list[dict[str, Any]]:
    return [
        {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
         "metadata": {"name": "flux-system", "namespace": "flux-system"},
         "spec": {"interval": "1m0s", "ref": {"branch": "main"}, "secretRef": {"name": "flux-system"},
                  "url": f"ssh://git@github.com/{owner}/{repo}"}},
        {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
         "metadata": {"name": "flux-system", "namespace": "flux-system"},
         "spec": {"interval": "10m0s", "path": path, "prune": True,
                  "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}},
    ]


@dataclass
class FluxCluster:
    c: SandboxCluster
    owner: str
    repo: str
    path: str
    public_key: str

    def commit(self, files: dict[str, str | None], message: str) -> str:
        """Commit files (None deletes) to main through the sandbox GitHub's bare repository."""
        bare = self.c.sandbox.hub.bare(self.owner, self.repo)
        return bare.commit_files("main", {k: None if v is None else v.encode() for k, v in files.items()},
                                 message=message, author=("t", "t@x"))

    def head(self) -> str:
        sha = self.c.sandbox.hub.bare(self.owner, self.repo).branch_sha("main")
        assert sha
        return sha

    def get(self, kind: str, name: str, namespace: str | None = "flux-system") -> dict[str, Any] | None:
        t = next(x for x in self.c.api.registry().types if x.kind == kind)
        try:
            return self.c.api.get(t, namespace, name)
        except ApiError:
            return None

    def request_reconcile(self, kind: str, name: str, namespace: str = "flux-system") -> None:
        t = next(x for x in self.c.api.registry().types if x.kind == kind)
        body = {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": str(time.time())}}}
        self.c.api.patch(t, namespace, name, "application/merge-patch+json", json.dumps(body).encode(), manager="flux")


def wait_for(what: str, check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def bootstrapped(c: SandboxCluster) -> FluxCluster:
    """What bootstrap leaves: a repo with the flux-system files, components installed, secret, deploy key, sync."""
    hub = c.sandbox.hub
    owner, repo = "JiwooL0920", f"fleet-{uuid.uuid4().hex[:8]}"
    hub.ensure_account(owner, personal=True)
    hub.create_repo(owner, repo, private=True)
    path = f"./clusters/stages/{c.id.stage}/clusters/{c.id.cluster}"
    base = path.removeprefix("./") + "/flux-system"
    components = default_components()
    sync = sync_objects(owner, repo, path)
    bare = hub.bare(owner, repo)
    bare.commit_file("main", f"{base}/gotk-components.yaml",
                     "".join("---\n" + yaml.safe_dump(o) for o in components).encode(),
                     message="Add Flux v2.5.1 component manifests", author=("Flux", "flux@x"))
    bare.commit_file("main", f"{base}/gotk-sync.yaml", "".join("---\n" + yaml.safe_dump(o) for o in sync).encode(),
                     message="Add Flux sync manifests", author=("Flux", "flux@x"))
    bare.commit_file("main", f"{base}/kustomization.yaml",
                     b"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
                     b"- gotk-components.yaml\n- gotk-sync.yaml\n", message="Add Flux sync manifests",
                     author=("Flux", "flux@x"))
    apply(c, components)
    private, public = keypair()
    hub.add_key(owner, repo, title=f"flux-system-main-flux-system-{path}", key=public, read_only=True)
    secrets = c.api.registry().lookup("", "v1", "secrets")
    assert secrets
    data = {"identity": private, "identity.pub": public, "known_hosts": f"github.com {hub.host_keys[0]}"}
    c.api.create(secrets, "flux-system", {"metadata": {"name": "flux-system"},
                                          "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}},
                 manager="flux")
    apply(c, sync)
    return FluxCluster(c, owner, repo, path, public)
