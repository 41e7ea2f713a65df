"""source-controller: GitRepositories fetched from the sandbox GitHub with real git; HelmRepositories,
HelmCharts and OCIRepositories fetched over HTTP by fleetlab.flux.helmsource. Authentication is
checked as the SSH handshake would: the Secret's `known_hosts` must hold the host key the sandbox
github.com presents, and its `identity.pub` must be a deploy key of the repository. Conditions, events and log lines are Flux's.

    SourceController(runtime).step()
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import shutil
import tarfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from fleetlab.flux.conditions import (
    READY,
    RECONCILING,
    STALLED,
    drop_condition,
    get_condition,
    set_condition,
)
from fleetlab.flux.helmsource import HelmSources
from fleetlab.flux.runtime import Runtime
from fleetlab.flux.schedule import Schedule
from fleetlib.files import make_private_tree
from fleetlib.gitcli import run_git, run_git_raw
from fleetlib.objects import spec_of, status_of

COMPONENT = "source-controller"
_SSH_URL = re.compile(r"^ssh://git@([^/:]+)(?::\d+)?/([^/]+)/([^/]+?)(?:\.git)?/?$")
_HTTP_URL = re.compile(r"^https?://([^/]+)/([^/]+)/([^/]+?)(?:\.git)?/?$")


class SourceFailure(Exception):
    def __init__(self, reason: str, message: str, *, stalled: bool = False) -> None:
        super().__init__(message)
        self.reason, self.message, self.stalled = reason, message, stalled


def _secret_data(secret: dict[str, Any]) -> dict[str, str]:
    out = {k: base64.b64decode(v).decode(errors="replace") for k, v in (secret.get("data") or {}).items()}
    out.update(secret.get("stringData") or {})
    return out


class SourceController:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.schedule = Schedule(rt)
        self._digests: dict[str, tuple[int, str]] = {}
        self._heads: dict[tuple[str, str], str | None] = {}
        self._subjects: dict[str, str] = {}
        self._clone_lock = threading.Lock()
        self.workers = ThreadPoolExecutor(2, thread_name_prefix="source-controller")  # --concurrent=2
        self.http_sources = HelmSources(rt)

    def step(self) -> None:
        if self.rt.controller_pod(COMPONENT) is None:
            return
        due = [repo for repo in self.rt.valid("GitRepository", COMPONENT) if self.schedule.due(repo)]
        self._heads.clear()  # one `git rev-parse` per repository and pass, however many GitRepositories
        list(self.workers.map(self.rt.guarded(COMPONENT, self.reconcile_git), due))
        self.http_sources.step()

    # --- GitRepository --------------------------------------------------------------------------

    def _locate(self, repo: dict[str, Any]) -> tuple[str, str, str]:
        """(owner, name, scheme) of the sandbox GitHub repository a URL points at."""
        url = str(spec_of(repo).get("url", ""))
        for pattern, scheme in ((_SSH_URL, "ssh"), (_HTTP_URL, "https")):
            m = pattern.match(url)
            if m:
                host, owner, name = m.groups()
                if scheme == "https" and host.startswith("127.0.0.1"):
                    return owner, name, scheme
                if host != "github.com":
                    raise SourceFailure("GitOperationFailed", f"failed to checkout and determine revision: unable to "
                                        f"clone '{url}': dial tcp: lookup {host}: no such host")
                return owner, name, scheme
        raise SourceFailure("URLInvalid", f"invalid Git URL '{url}'", stalled=True)

    def _authenticate(self, repo: dict[str, Any], owner: str, name: str, scheme: str) -> None:
        meta, spec = repo["metadata"], repo.get("spec") or {}
        url = spec.get("url")
        ref = spec.get("secretRef") or {}
        if not ref.get("name"):
            if scheme == "ssh":
                raise SourceFailure("GitOperationFailed", f"failed to checkout and determine revision: unable to clone "
                                    f"'{url}': ssh: handshake failed: ssh: unable to authenticate, attempted methods "
                                    "[none], no supported methods remain")
            return
        secret = self.rt.get("Secret", meta["namespace"], ref["name"])
        if secret is None:
            where = f"{meta['namespace']}/{ref['name']}"
            raise SourceFailure("AuthenticationFailed", f"failed to get secret '{where}': failed to get secret "
                                f"'{where}': secrets \"{ref['name']}\" not found")
        data = _secret_data(secret)
        if scheme == "https":
            if data.get("password") != self.rt.hub.token:
                raise SourceFailure("GitOperationFailed", f"failed to checkout and determine revision: unable to clone "
                                    f"'{url}': authentication required")
            return
        presented = self.rt.hub.host_keys[0]
        known = [line.split() for line in data.get("known_hosts", "").splitlines() if line.strip()]
        if not any(len(k) >= 3 and "github.com" in k[0].split(",") and " ".join(k[1:3]) == presented for k in known):
            raise SourceFailure("GitOperationFailed", f"failed to checkout and determine revision: unable to clone "
                                f"'{url}': ssh: handshake failed: knownhosts: key mismatch")
        if not data.get("identity"):
            raise SourceFailure("AuthenticationFailed", f"invalid '{ref['name']}' secret data: required fields "
                                "'identity' and 'known_hosts'")
        if not self.rt.hub.deploy_key_allows(owner, name, data.get("identity.pub", "")):
            raise SourceFailure("GitOperationFailed", f"failed to checkout and determine revision: unable to clone "
                                f"'{url}': ssh: handshake failed: ssh: unable to authenticate, attempted methods "
                                "[none publickey], no supported methods remain")

    def reconcile_git(self, repo: dict[str, Any]) -> None:
        meta, spec = repo["metadata"], repo.get("spec") or {}
        status = dict(status_of(repo))
        if spec.get("suspend"):
            return
        branch = ((spec.get("ref") or {}).get("branch")) or "master"
        stamp = self.rt.stamp()
        generation = meta.get("generation", 1)
        try:
            owner, name, scheme = self._locate(repo)
            bare = self.rt.hub.bare(owner, name)
            if not bare.path.exists():
                raise SourceFailure("GitOperationFailed", f"failed to checkout and determine revision: unable to clone "
                                    f"'{spec.get('url')}': repository not found")
            self._authenticate(repo, owner, name, scheme)
            key = (str(bare.path), branch)
            if key not in self._heads:
                self._heads[key] = bare.branch_sha(branch)
            sha = self._heads[key]
            if sha is None:
                raise SourceFailure("GitOperationFailed", f"failed to checkout and determine revision: unable to clone "
                                    f"'{spec.get('url')}': couldn't find remote ref \"refs/heads/{branch}\"")
            artifact = self._store(repo, bare.path, branch, sha)
        except SourceFailure as failure:
            if status.get("artifact") and "couldn't find remote ref" not in failure.message:
                # with a commit observed, go-git lists the remote first (the optimised clone)
                failure.message = failure.message.replace(": unable to clone '", ": unable to list remote for '", 1)
            self._fail(repo, status, failure, stamp, generation)
            return
        revision = artifact["revision"]
        message = f"stored artifact for revision '{revision}'"
        old_revision = (status.get("artifact") or {}).get("revision")
        conds = drop_condition(drop_condition(status.get("conditions"), RECONCILING), STALLED)
        conds = drop_condition(conds, "FetchFailed")
        conds = set_condition(conds, "ArtifactInStorage", "True", "Succeeded", message, now=stamp, generation=generation)
        conds = set_condition(conds, READY, "True", "Succeeded", message, now=stamp, generation=generation)
        new = {"artifact": artifact, "conditions": conds, "observedGeneration": generation,
               "lastHandledReconcileAt": self.schedule.requested(repo)}
        if old_revision != revision:
            subject = self._subjects.get(sha) or run_git(["log", "-1", "--format=%s", sha],
                                                         cwd=self.rt.hub.bare(owner, name).path).strip()
            self._subjects[sha] = subject
            self.rt.event(repo, "Normal", "NewArtifact", f"stored artifact for commit '{subject}'", COMPONENT,
                          annotations={"source.toolkit.fluxcd.io/revision": revision})
            self.rt.log(COMPONENT, "info", f"stored artifact for commit '{subject}'", repo, revision=revision)
        else:
            artifact["lastUpdateTime"] = (status.get("artifact") or {}).get("lastUpdateTime", stamp)
            message = f"no changes since last reconciliation: observed revision '{revision}'"
            self.rt.log(COMPONENT, "info", message, repo)
            self.rt.event(repo, "Normal", "GitOperationSucceeded", message, COMPONENT,
                          annotations={"source.toolkit.fluxcd.io/revision": revision})
        self.rt.patch_status(repo, {k: v for k, v in new.items() if v is not None}, COMPONENT)
        self.schedule.done(repo)

    def _store(self, repo: dict[str, Any], bare_path: Path, branch: str, sha: str) -> dict[str, Any]:
        """Clone the revision with real git into the cluster's artifact storage, once per repository commit;
        each GitRepository's artifact path links to that content-addressed copy."""
        meta = repo["metadata"]
        rel = f"gitrepository/{meta['namespace']}/{meta['name']}/{sha}.tar.gz"
        shared = self.rt.artifacts / "git" / bare_path.parent.name / bare_path.name / sha
        with self._clone_lock:  # the workers share one copy per commit; only the lease holder writes here
            self._clone(shared, bare_path, branch, sha)
        self._link(self.rt.artifacts / rel.removesuffix(".tar.gz"), shared)
        size, digest = self._digests.get(str(shared)) or self._digest(shared.with_suffix(".tar.gz"))
        return {"digest": digest, "lastUpdateTime": self.rt.stamp(), "path": rel, "revision": f"{branch}@sha1:{sha}",
                "size": size, "url": f"http://source-controller.flux-system.svc.cluster.local./{rel}"}

    def _clone(self, shared: Path, bare_path: Path, branch: str, sha: str) -> None:
        if shared.with_suffix(".tar.gz").exists():
            return
        tmp = shared.with_name(f"{sha}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        shared.parent.mkdir(parents=True, exist_ok=True)
        # the exact commit, read from the repository (a clone of the branch could already be at a newer head)
        code, tar, err = run_git_raw(["archive", "--format=tar", sha], cwd=bare_path)
        if code != 0:
            raise SourceFailure("GitOperationFailed", "failed to checkout and determine revision: "
                                f"{err.decode(errors='replace').strip()[:300]}")
        tmp.mkdir(parents=True)
        with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
            archive.extractall(tmp, filter="data")
        make_private_tree(tmp)
        code, data, _ = run_git_raw(["archive", "--format=tar.gz", sha], cwd=bare_path)
        try:
            tmp.rename(shared)
        except OSError:  # another process published this commit first; its copy is the same and may be in use
            shutil.rmtree(tmp, ignore_errors=True)
        write_bytes_atomic(shared.with_suffix(".tar.gz"), data if code == 0 else b"")

    @staticmethod
    def _link(folder: Path, shared: Path) -> None:
        if not folder.exists():
            folder.parent.mkdir(parents=True, exist_ok=True)
            for link, dest in ((folder, shared), (folder.with_suffix(".tar.gz"), shared.with_suffix(".tar.gz"))):
                tmp_link = link.with_name(f".{link.name}.{os.getpid()}")
                tmp_link.unlink(missing_ok=True)
                tmp_link.symlink_to(dest)
                os.replace(tmp_link, link)

    def _digest(self, tarball: Path) -> tuple[int, str]:
        data = tarball.read_bytes()
        self._digests[str(tarball.with_suffix(""))] = (len(data), "sha256:" + hashlib.sha256(data).hexdigest())
        return self._digests[str(tarball.with_suffix(""))]

    def _fail(self, repo: dict[str, Any], status: dict[str, Any], failure: SourceFailure, stamp: str,
              generation: int) -> None:
        conds = set_condition(status.get("conditions"), "FetchFailed", "True", failure.reason, failure.message,
                              now=stamp, generation=generation)
        conds = set_condition(conds, READY, "False", failure.reason, failure.message, now=stamp, generation=generation)
        if failure.stalled:
            conds = set_condition(conds, STALLED, "True", failure.reason, failure.message, now=stamp,
                                  generation=generation)
        else:
            conds = set_condition(conds, RECONCILING, "True", "ProgressingWithRetry", "building artifact", now=stamp,
                                  generation=generation)
        changed = (get_condition(status, READY) or {}).get("message") != failure.message
        update: dict[str, Any] = {"conditions": conds, "lastHandledReconcileAt": self.schedule.requested(repo)}
        if "observedGeneration" not in status:
            update["observedGeneration"] = -1  # as the controller initialises it; set on the first success
        self.rt.patch_status(repo, update, COMPONENT)
        self.rt.event(repo, "Warning", failure.reason, failure.message, COMPONENT)
        self.rt.log(COMPONENT, "error", "Reconciler error", repo, error=failure.message)
        retry = 1e9 if failure.stalled else self.schedule.backoff(repo, COMPONENT)  # stalled: until the spec changes
        self.schedule.done(repo, failed=True, changed=changed, retry=retry)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
