"""The bootstrap's source secret: an SSH key pair whose public half is a deploy key of the repository (titled
as flux titles it) and whose private half, with GitHub's published host key as known_hosts, is the Secret the
GitRepository authenticates with. Left alone when it exists, unless rotating; a rotation proves the new key
(the GitRepository reconciles with it) before the old deploy key is deleted."""

from __future__ import annotations

import base64

from fleetlib.bootstrap.waits import ClusterWaits
from fleetlib.errors import GitError
from fleetlib.github import GitHub
from fleetlib.kube import Kube
from fleetlib.parameters import ClusterParams
from fleetlib.sshkeys import KeyPair, fingerprint, generate
from fleetlib.steplog import StepLog
from fleetlib.troubleshoot.operate import request_reconcile


class SourceSecret:
    def __init__(self, params: ClusterParams, kube: Kube, hub: GitHub, log: StepLog, waits: ClusterWaits) -> None:
        self.params, self.kube, self.hub, self.log, self.waits = params, kube, hub, log, waits
        self.fingerprint: str | None = None

    @property
    def key_title(self) -> str:
        p = self.params
        return "-".join(x for x in (p.namespace, p.branch, p.secret_name, p.path) if x)

    def reconcile(self, *, dry_run: bool, rotate: bool) -> tuple[str, str]:
        """Make sure the Secret and its deploy key exist; returns the step's (status, detail)."""
        p, say = self.params, self.log.say
        say("►", f'determining if source secret "{p.namespace}/{p.secret_name}" exists')
        secret = self.kube.get("v1", "Secret", p.namespace, p.secret_name)
        if secret is not None and not rotate:
            pub = (secret.get("data") or {}).get("identity.pub")
            if pub:
                self.fingerprint = fingerprint(base64.b64decode(pub).decode())
            say("✔", "source secret up to date")
            return "up to date", f"secret {p.namespace}/{p.secret_name} exists"
        if dry_run:
            say("~", f"would generate a {p.ssh_key_algorithm} key; GET /meta; POST /repos/{p.repo_slug}/keys "
                     f"(title {self.key_title!r}, read_only {str(not p.read_write_key).lower()}); create "
                     f"Secret {p.namespace}/{p.secret_name}")
            return "would change", "new key pair and deploy key"
        say("✚", "generating source secret")
        pair = generate(algorithm=p.ssh_key_algorithm, curve=p.ssh_ecdsa_curve, bits=p.ssh_rsa_bits)
        say("✔", f"public key: {pair.public}")
        known_hosts = self.known_hosts()
        old = self.hub.reconcile_deploy_key(self.key_title, pair.public, read_only=not p.read_write_key,
                                            keep_others=secret is not None)
        self.write_secret(pair, known_hosts, replace=secret is not None)
        if secret is not None:  # rotation: the new key works before the old one goes
            self.waits.source_accepts(request_reconcile(self.kube, "GitRepository", p.namespace, p.namespace))
            self.hub.delete_deploy_keys(old)
        self.fingerprint = pair.fingerprint
        say("✔", f'configured deploy key "{self.key_title}" for "{self.hub.web_url}/{p.repo_slug}"')
        return "done", f"deploy key {pair.fingerprint}{' rotated' if secret is not None else ''}"

    def known_hosts(self) -> str:
        """The Git host's key as GitHub publishes it in /meta (where flux trusts the first key a scan returns)."""
        keys = self.hub.host_keys()
        if not keys:
            raise GitError(f"{self.params.hostname} publishes no SSH host keys in /meta",
                           hint="a GitHub Enterprise host without them needs a scanned known_hosts")
        return f"{self.params.hostname} {keys[0]}\n"

    def write_secret(self, pair: KeyPair, known_hosts: str, *, replace: bool) -> None:
        p = self.params
        self.kube.write_secret(p.namespace, p.secret_name, {"identity": pair.private, "identity.pub": pair.public,
                                                           "known_hosts": known_hosts}, replace=replace)
