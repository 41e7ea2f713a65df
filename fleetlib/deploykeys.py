"""A Git source's read-only deploy key: its public half on the repository (GitHub), its private half in a
Secret in the cluster only (never in Git), as `flux create secret git` lays it out (identity, identity.pub,
known_hosts). Used by the runbooks that add a Git source: add-app and tenants.

    key = DeployKey("flux-system-services-amer-notes", "owner/notes", namespace="flux-system", secret="notes-git")
    ensure(key, kube, hub, log)      # once; a second run finds both and does nothing
    forget(key, kube, hub)           # the key and the Secret go; a Secret fleetlib did not write stays
"""

from __future__ import annotations

from dataclasses import dataclass

from fleetlib.errors import InputError
from fleetlib.github import GitHub
from fleetlib.kube import Kube
from fleetlib.ownership import MANAGED_BY, created_by_fleetlib
from fleetlib.sshkeys import generate
from fleetlib.steplog import StepLog


@dataclass(frozen=True)
class DeployKey:
    title: str
    """The key's title on the repository (unique per cluster and source)."""
    repo_slug: str
    namespace: str
    """Where the Secret is (the Git source's namespace)."""
    secret: str

    def would(self) -> str:
        """What `ensure` does, for a dry run."""
        return (f"would generate a key pair; POST /repos/{self.repo_slug}/keys (title {self.title!r}, read_only "
                f"true); create Secret {self.namespace}/{self.secret} (identity, identity.pub, known_hosts)")


def ensure(key: DeployKey, kube: Kube, hub: GitHub, log: StepLog, *, refusal_hint: str) -> None:
    """The key on the repository and its Secret in the cluster; a Secret fleetlib did not write is refused."""
    current = kube.get("v1", "Secret", key.namespace, key.secret)
    if current is not None and not created_by_fleetlib(current):
        raise InputError(f"Secret {key.namespace}/{key.secret} exists and was not created by fleetlib: the deploy key "
                         f"would replace it", hint=refusal_hint)
    if current is not None and hub.deploy_keys(key.title, repo_slug=key.repo_slug):
        return
    pair = generate(algorithm="ecdsa", curve="p384")
    host_keys = hub.host_keys()
    if not host_keys:
        raise InputError(f"{hub.params.hostname} publishes no SSH host keys", hint="check the GitHub host")
    hub.reconcile_deploy_key(key.title, pair.public, read_only=True, repo_slug=key.repo_slug)
    kube.write_secret(key.namespace, key.secret, {"identity": pair.private, "identity.pub": pair.public,
                                                  "known_hosts": f"{hub.params.hostname} {host_keys[0]}\n"},
                      replace=current is not None, labels=MANAGED_BY)
    log.say("✔", f"deploy key {key.title!r} on {key.repo_slug}, Secret {key.namespace}/{key.secret} in the cluster")


def forget(key: DeployKey, kube: Kube, hub: GitHub) -> None:
    """After a removal: the key and the Secret go (no orphaned key); a Secret fleetlib did not write stays."""
    hub.delete_deploy_keys(hub.deploy_keys(key.title, repo_slug=key.repo_slug), repo_slug=key.repo_slug)
    if created_by_fleetlib(kube.get("v1", "Secret", key.namespace, key.secret)):
        kube.delete_secret(key.namespace, key.secret)
