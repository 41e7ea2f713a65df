"""Bootstrap: what `flux bootstrap github` does, step by step, re-runnable and auditable.

Steps, in Flux's order: preflight; repository (ensure it exists, clone the branch); components
(`gotk-components.yaml`, committed only if changed); install (only when the flux-system Kustomization
never applied a revision; CRDs and Namespaces first); source secret (left alone when it exists, unless
`rotate_key`); sync (`gotk-sync.yaml`, `kustomization.yaml` only if absent, then applied); verify
(GitRepository and Kustomization Ready at HEAD, every controller ready, failing fast). Each step prints a
✔/✗ line and adds a row to `table()`; with `dry_run` every change is shown and none is made.

    boot = Bootstrap.from_run(run)
    boot.preflight(); boot.repository(); ...; boot.verify()
"""

from __future__ import annotations

import base64
import difflib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from fleetlib import targets
from fleetlib.errors import ClusterError, FleetError, GitError, clip
from fleetlib.fleetrepo import (
    COMPONENTS_FILE,
    FLUX_SYSTEM_DIR,
    KUSTOMIZATION_FILE,
    SYNC_FILE,
    normalise_path,
)
from fleetlib.git import Checkout, push_with_retry
from fleetlib.github import GitHub
from fleetlib.github import open_client as open_github
from fleetlib.kube import Kube
from fleetlib.kube import open_client as open_kube
from fleetlib.kubectl import kustomize
from fleetlib.locations import fleet_home
from fleetlib.manifests import (
    components_yaml,
    kustomization_yaml,
    parse_release,
    sync_yaml,
)
from fleetlib.model import Duration
from fleetlib.objects import FLUX_KINDS, condition, spec_of, status_of
from fleetlib.operate import request_reconcile
from fleetlib.options import BootstrapOptions
from fleetlib.parameters import ClusterParams
from fleetlib.releases import install_manifests
from fleetlib.runcontext import RunContext
from fleetlib.sshkeys import KeyPair, fingerprint, generate
from fleetlib.targets import Endpoints

MIN_KUBERNETES = {"v2.4": (1, 28, 0), "v2.5": (1, 30, 0), "v2.6": (1, 31, 0), "v2.7": (1, 32, 0),
                  "v2.8": (1, 33, 0), "v2.9": (1, 33, 0)}
TROUBLESHOOT = ("run the troubleshooting runbook (`papermill runbooks/troubleshoot.ipynb out.ipynb -p cluster "
                "{cluster} -p stage {stage}`), or inspect it with `kubectl --context {context} -n {ns} describe {kind} "
                "{name}` and the controller logs")
DRY_RUN_DIFF_LINES = 40


@dataclass
class Step:
    step: str
    status: str  # done, up to date, skipped, would change, failed
    detail: str
    seconds: float = 0.0


class Bootstrap:
    def __init__(self, params: ClusterParams, kube: Kube, hub: GitHub, where: Endpoints, *, dry_run: bool = False,
                 force: bool = False, rotate_key: bool = False, timeout: str = "5m", home: Path | None = None,
                 echo: bool = True) -> None:
        self.requested_version = params.version
        if where.flux_version != params.version:  # a target that runs another release (local): install that one
            params = params.model_copy(update={"version": where.flux_version})
        self.params, self.kube, self.hub, self.where = params, kube, hub, where
        self.version = where.flux_version
        """The Flux release installed: the parameters' own, except on a target that runs another (local)."""
        self.dry_run, self.force, self.rotate_key = dry_run, force, rotate_key
        self.timeout = Duration.parse(timeout).seconds
        self.home = home or fleet_home()
        self.echo = echo
        self.steps: list[Step] = []
        self.commits: list[str] = []
        self.checkout: Checkout | None = None
        self.key_fingerprint: str | None = None
        self.revision: str | None = None
        self._descendants: dict[str, bool] = {}
        self._install: str | None = None
        base = normalise_path(params.path)
        self.files = {name: f"{base}/{FLUX_SYSTEM_DIR}/{name}" for name in (COMPONENTS_FILE, SYNC_FILE,
                                                                           KUSTOMIZATION_FILE)}

    @classmethod
    def connect(cls, params: ClusterParams, *, home: Path, **options: Any) -> Bootstrap:
        """For a cluster's parameters, connecting to its target's Kubernetes API and GitHub (options as __init__
        takes)."""
        where = targets.resolve(params, home=home)
        return cls(params, open_kube(where), open_github(where), where, home=home, **options)

    @classmethod
    def from_run(cls, run: RunContext) -> Bootstrap:
        """From a runbook run (fleetlib.runbook.start): its parameters, options and connections."""
        opts = run.options.expect(BootstrapOptions)
        return cls.connect(run.params, home=fleet_home(), dry_run=opts.dry_run, force=opts.force,
                           rotate_key=opts.rotate_key, timeout=opts.timeout)

    # --- reporting ------------------------------------------------------------------------------

    def say(self, mark: str, text: str) -> None:
        if self.echo:
            print(f"{mark} {text}", flush=True)

    @contextmanager
    def _step(self, name: str) -> Iterator[list[str]]:
        notes: list[str] = []
        start = time.monotonic()
        try:
            yield notes
        except FleetError as e:
            self.steps.append(Step(name, "failed", e.message, time.monotonic() - start))
            self.say("✗", str(e))
            raise
        status, detail = (notes + ["done", ""])[:2] if notes else ("done", "")
        self.steps.append(Step(name, status, detail, round(time.monotonic() - start, 2)))

    def table(self) -> pd.DataFrame:
        return pd.DataFrame([vars(s) for s in self.steps], columns=["step", "status", "detail", "seconds"])

    def plan(self) -> pd.DataFrame:
        p = self.params
        rows = [("cluster", f"{p.id} (target {p.target}, context {self.kube.context})"),
                ("repository", f"{p.repo_slug} on {p.hostname} ({'personal' if p.personal else 'organisation'}, "
                               f"{'private' if p.private else 'public'}), branch {p.branch}"),
                ("path", p.path), ("flux", f"{p.version}: {', '.join(p.all_components)}"),
                ("namespace", p.namespace), ("registry", p.registry),
                ("sync", f"GitRepository every {Duration.parse(p.interval).go()}, Kustomization every "
                         f"{Duration.parse(p.kustomization_interval).go()}, prune {str(p.prune).lower()}"),
                ("deploy key", f"{'read-write' if p.read_write_key else 'read-only'} {p.ssh_key_algorithm}"
                               f"{'-' + p.ssh_ecdsa_curve if p.ssh_key_algorithm == 'ecdsa' else ''}, "
                               f"secret {p.namespace}/{p.secret_name}"),
                ("files", ", ".join(self.files.values())),
                ("mode", "dry run: nothing will change" if self.dry_run else "apply"),
                *(("note", note) for note in self.where.notes)]
        return pd.DataFrame(rows, columns=["what", "value"])

    # --- 2. preflight ---------------------------------------------------------------------------

    def preflight(self) -> None:
        with self._step("preflight") as notes:
            p = self.params
            for note in self.where.notes:
                self.say("►", note)
            self.say("►", f"connecting to {self.kube.where or 'context ' + self.kube.context}")
            version = self.kube.version()
            need = MIN_KUBERNETES.get(".".join(p.version.split(".")[:2]), (1, 30, 0))
            have = tuple(int(x) for x in version.lstrip("v").split("-")[0].split("+")[0].split(".")[:3])
            wanted = ".".join(map(str, need))
            if have < need:
                raise ClusterError(f"Kubernetes version {version} does not match >={wanted}-0",
                                   hint=f"Flux {p.version} needs Kubernetes {wanted} or newer")
            self.say("✔", f"Kubernetes {version.lstrip('v')} >={wanted}-0")
            for verb, group, resource in (("create", "apiextensions.k8s.io", "customresourcedefinitions"),
                                          ("create", "", "namespaces"), ("create", "", "secrets"),
                                          ("create", "rbac.authorization.k8s.io", "clusterrolebindings")):
                if not self.kube.can_i(verb, group, resource):
                    raise ClusterError(f"the kube context {self.kube.context!r} may not {verb} {resource}",
                                       hint="bootstrap needs cluster-admin; use an admin context")
            login = self.hub.user()
            if self.hub.token_env:
                self.say("✔", f"GitHub token in {self.hub.token_env} valid (user {login})")
            else:
                self.say("✔", f"{self.hub.where} answers for user {login}; no real token is used")
            self._refuse_foreign_install()
            notes += ["done", f"Kubernetes {version}, RBAC ok, GitHub user {login}"]

    def _refuse_foreign_install(self) -> None:
        p = self.params
        crd = self.kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", None,
                            "gitrepositories.source.toolkit.fluxcd.io")
        manager = ((crd or {}).get("metadata", {}).get("labels") or {}).get("app.kubernetes.io/managed-by", "")
        if manager not in ("", "flux") and not self.force:
            raise ClusterError(f"Flux on this cluster is managed by {manager!r}, not by flux bootstrap",
                               hint="pass force=True to take it over")
        ks = self._flux_object("Kustomization")
        current = spec_of(ks).get("path")
        if current is not None and normalise_path(current) != normalise_path(p.path) and not self.force:
            raise ClusterError(f'sync path configuration ("{p.path}") would overwrite path ("{current}") of existing '
                               "Kustomization", hint="keep the existing path, or uninstall Flux first (force=True "
                               "overrides)")

    # --- 3. repository --------------------------------------------------------------------------

    def repository(self) -> None:
        with self._step("repository") as notes:
            p = self.params
            self.say("►", f"connecting to {self.hub.where or p.hostname}")
            created = self.hub.ensure_repository(create=not self.dry_run) != "exists"
            verb = "would be created" if self.dry_run else "created"
            if created and self.dry_run:
                self.say("~", f"would POST {'/user/repos' if p.personal else f'/orgs/{p.owner}/repos'} "
                              f"(name {p.repository}, private {str(p.private).lower()})")
            if created:
                self.say("✔", f'repository "{self.hub.web_url}/{p.repo_slug}" {verb}')
            self.say("►", f"cloning branch \"{p.branch}\" from Git repository \"{self.hub.clone_url()}\"")
            if not (created and self.dry_run):
                self._clone()
            self.say("✔", "cloned repository")
            notes += ["would change" if created and self.dry_run else "done",
                      f"{p.repo_slug} {'created' if created else 'exists'}; branch {p.branch} cloned"]

    def _clone(self) -> None:
        self.checkout = self.hub.clone()

    # --- 4. components --------------------------------------------------------------------------

    def components(self) -> None:
        with self._step("components") as notes:
            text = components_yaml(self._release(), self.params)
            changed = self._write_and_commit({self.files[COMPONENTS_FILE]: text},
                                             f"Add Flux {self.params.version} component manifests")
            self.say("✔", "component manifests are up to date" if not changed else
                     ("component manifests would be committed" if self.dry_run else "committed component manifests"))
            notes += ["up to date" if not changed else ("would change" if self.dry_run else "done"),
                      f"{self.files[COMPONENTS_FILE]}: {'unchanged' if not changed else 'changed'}"]

    def _release(self) -> str:
        if self._install is None:
            self._install = install_manifests(self.where, home=self.home, say=lambda text: self.say("►", text))
        return self._install

    def _write_and_commit(self, files: dict[str, str], message: str, *, only_if_absent: tuple[str, ...] = ()) -> bool:
        """Write files, commit and push if anything changed (again from a fresh clone when the branch moved);
        in a dry run, show the diff instead. Returns whether anything changed (or would)."""
        if self.checkout is None:
            assert self.dry_run  # a repository a dry run would create: everything would change
            return True
        if self.dry_run:
            return self._show_diff(self._todo(self.checkout, files, only_if_absent), message)

        def change(checkout: Checkout) -> str | None:
            todo = self._todo(checkout, files, only_if_absent)
            for rel, text in todo.items():
                checkout.write(rel, text)
            return checkout.commit(message, author=self.params.commit_author, paths=list(todo))

        self.checkout, sha = push_with_retry(
            self.checkout, change, reclone=self.hub.clone,
            on_retry=lambda _attempt: self.say("►", "git conflict detected, retrying with a fresh clone"))
        if sha is None:
            return False
        self.commits.append(sha)
        self.say("✔", f"committed and pushed {sha[:8]}: {message}")
        return True

    @staticmethod
    def _todo(checkout: Checkout, files: dict[str, str], only_if_absent: tuple[str, ...]) -> dict[str, str]:
        return {k: v for k, v in files.items() if not (k in only_if_absent and checkout.read(k) is not None)}

    def _show_diff(self, todo: dict[str, str], message: str) -> bool:
        assert self.checkout is not None
        changed = [k for k, v in todo.items() if self.checkout.read(k) != v]
        for k in changed:
            diff = list(difflib.unified_diff((self.checkout.read(k) or "").splitlines(), todo[k].splitlines(),
                                             f"a/{k}", f"b/{k}", lineterm="", n=1))
            self.say("~", f"would write {k} and commit {message!r}:")
            if self.echo:
                print("\n".join(diff[:DRY_RUN_DIFF_LINES]))
                if len(diff) > DRY_RUN_DIFF_LINES:
                    print(f"... {len(diff) - DRY_RUN_DIFF_LINES} more diff lines")
        return bool(changed)

    # --- 5. install -----------------------------------------------------------------------------

    def _flux_object(self, kind: str) -> dict[str, Any] | None:
        ns = self.params.namespace
        try:
            return self.kube.get(FLUX_KINDS[kind], kind, ns, ns)
        except ClusterError:
            return None  # the CRD is not installed yet

    def install(self) -> None:
        with self._step("install") as notes:
            ks = self._flux_object("Kustomization")
            if ks is not None and (status_of(ks).get("lastAppliedRevision") or ""):
                self.say("✔", "components are installed; upgrades arrive through Git")
                notes += ["up to date", "the flux-system Kustomization has applied a revision"]
                return
            objects = self._build()
            first = [o for o in objects if o["kind"] in ("CustomResourceDefinition", "Namespace")]
            rest = [o for o in objects if o not in first]
            if self.dry_run:
                self.say("~", f"would server-side apply {len(objects)} objects with field manager flux: "
                              + ", ".join("/".join(x for x in (o["kind"], o["metadata"].get("namespace"),
                                                               o["metadata"]["name"]) if x) for o in objects))
                notes += ["would change", f"{len(objects)} objects"]
                return
            self.say("►", f'installing components in "{self.params.namespace}" namespace')
            changes = self.kube.apply(first, manager="flux")
            self._wait_established([o["metadata"]["name"] for o in first if o["kind"] == "CustomResourceDefinition"])
            changes += self.kube.apply(rest, manager="flux")
            self.say("✔", "installed components")
            notes += ["done", f"{sum(a != 'unchanged' for _, a in changes)} of {len(changes)} objects changed"]

    def _build(self) -> list[dict[str, Any]]:
        """The flux-system folder as kustomize builds it (so user patches apply), or the components file."""
        if self.checkout is None:
            return parse_release(components_yaml(self._release(), self.params))
        folder = self.checkout.path / normalise_path(self.params.path) / FLUX_SYSTEM_DIR
        if not (folder / KUSTOMIZATION_FILE).exists():
            return parse_release(self.checkout.read(self.files[COMPONENTS_FILE]) or "")
        return parse_release(kustomize(folder))

    def _wait_established(self, names: list[str]) -> None:
        deadline = time.monotonic() + 60
        for name in names:
            while True:
                crd = self.kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", None, name) or {}
                if any(c.get("type") == "Established" and c.get("status") == "True"
                       for c in status_of(crd).get("conditions") or []):
                    break
                if time.monotonic() > deadline:
                    raise ClusterError(f"CustomResourceDefinition {name} was not established within 1m0s")
                time.sleep(0.2)

    # --- 6. source secret -----------------------------------------------------------------------

    def source_secret(self) -> None:
        with self._step("source secret") as notes:
            p = self.params
            self.say("►", f'determining if source secret "{p.namespace}/{p.secret_name}" exists')
            secret = self._secret()
            if secret is not None and not self.rotate_key:
                pub = (secret.get("data") or {}).get("identity.pub")
                if pub:
                    self.key_fingerprint = fingerprint(base64.b64decode(pub).decode())
                self.say("✔", "source secret up to date")
                notes += ["up to date", f"secret {p.namespace}/{p.secret_name} exists"]
                return
            if self.dry_run:
                self.say("~", f"would generate a {p.ssh_key_algorithm} key; GET /meta; POST /repos/{p.repo_slug}/keys "
                              f"(title {self.key_title!r}, read_only {str(not p.read_write_key).lower()}); create "
                              f"Secret {p.namespace}/{p.secret_name}")
                notes += ["would change", "new key pair and deploy key"]
                return
            self.say("✚", "generating source secret")
            pair = generate(algorithm=p.ssh_key_algorithm, curve=p.ssh_ecdsa_curve, bits=p.ssh_rsa_bits)
            self.say("✔", f"public key: {pair.public}")
            known_hosts = self._known_hosts()
            old = self.hub.reconcile_deploy_key(self.key_title, pair.public, read_only=not p.read_write_key,
                                                keep_others=secret is not None)
            self._write_secret(pair, known_hosts, replace=secret is not None)
            if secret is not None:  # rotation: the new key works before the old one goes
                self._wait_source_ready(self._request_reconcile("GitRepository"))
                self.hub.delete_deploy_keys(old)
            self.key_fingerprint = pair.fingerprint
            self.say("✔", f'configured deploy key "{self.key_title}" for "{self.hub.web_url}/{p.repo_slug}"')
            notes += ["done", f"deploy key {pair.fingerprint}{' rotated' if secret is not None else ''}"]

    @property
    def key_title(self) -> str:
        p = self.params
        return "-".join(x for x in (p.namespace, p.branch, p.secret_name, p.path) if x)

    def _secret(self) -> dict[str, Any] | None:
        return self.kube.get("v1", "Secret", self.params.namespace, self.params.secret_name)

    def _known_hosts(self) -> str:
        """The Git host's key as GitHub publishes it in /meta (where flux trusts the first key a scan returns)."""
        keys = self.hub.host_keys()
        if not keys:
            raise GitError(f"{self.params.hostname} publishes no SSH host keys in /meta",
                           hint="a GitHub Enterprise host without them needs a scanned known_hosts")
        return f"{self.params.hostname} {keys[0]}\n"


    def _write_secret(self, pair: KeyPair, known_hosts: str, *, replace: bool) -> None:
        self.kube.write_secret(self.params.namespace, self.params.secret_name,
                               {"identity": pair.private, "identity.pub": pair.public, "known_hosts": known_hosts},
                               replace=replace)

    # --- 7. sync --------------------------------------------------------------------------------

    def sync(self) -> None:
        with self._step("sync") as notes:
            p = self.params
            ks = self._flux_object("Kustomization")
            current = spec_of(ks).get("path")
            if current is not None and normalise_path(current) != normalise_path(p.path) and not self.force:
                raise ClusterError(f'sync path configuration ("{p.path}") would overwrite path ("{current}") of '
                                   "existing Kustomization")
            self.say("►", "generating sync manifests")
            changed = self._write_and_commit({self.files[SYNC_FILE]: sync_yaml(p),
                                              self.files[KUSTOMIZATION_FILE]: kustomization_yaml()},
                                             "Add Flux sync manifests", only_if_absent=(self.files[KUSTOMIZATION_FILE],))
            self.say("✔", "sync manifests are up to date" if not changed else
                     ("sync manifests would be committed" if self.dry_run else "committed sync manifests"))
            if self.dry_run:
                self.say("~", "would server-side apply the sync manifests (GitRepository and Kustomization "
                              f"{p.namespace}/{p.namespace}) with field manager flux")
                notes += ["would change" if changed else "up to date", "gotk-sync.yaml and kustomization.yaml"]
                return
            self.say("►", "applying sync manifests")
            changes = self.kube.apply(self._build(), manager="flux")
            self.say("✔", "reconciled sync configuration")
            notes += ["done" if changed else "up to date",
                      f"{'committed' if changed else 'no commit'}; applied {len(changes)} objects, "
                      f"{sum(a != 'unchanged' for _, a in changes)} changed"]

    # --- 8. verify ------------------------------------------------------------------------------

    def _request_reconcile(self, kind: str) -> str:
        ns = self.params.namespace
        return request_reconcile(self.kube, kind, ns, ns)

    def _troubleshoot(self, kind: str) -> str:
        p = self.params
        return TROUBLESHOOT.format(cluster=p.cluster, stage=p.stage, context=self.kube.context, ns=p.namespace,
                                   kind=kind, name=p.namespace)

    def _wait_source_ready(self, requested: str) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            repo = self._flux_object("GitRepository") or {}
            status = repo.get("status") or {}
            if status.get("lastHandledReconcileAt") == requested:
                if condition(repo, "Ready").get("status") == "True":
                    return
                break
            time.sleep(0.5)
        raise ClusterError("the new deploy key was not accepted in time; the old key is kept",
                           hint=self._troubleshoot("gitrepository"))

    def verify(self) -> None:
        with self._step("verify") as notes:
            if self.dry_run:
                notes += ["skipped", "dry run"]
                return
            p = self.params
            assert self.checkout is not None
            head = self.checkout.remote_head() or self.checkout.head()
            self.revision = f"{p.branch}@sha1:{head}"
            self._request_reconcile("GitRepository")
            self.say("◎", f"waiting for GitRepository \"{p.namespace}/{p.namespace}\" to be reconciled")
            self._wait_for("GitRepository", lambda o: status_of(o).get("artifact", {}).get("revision"))
            self.say("✔", "GitRepository reconciled successfully")
            self.say("◎", f"waiting for Kustomization \"{p.namespace}/{p.namespace}\" to be reconciled")
            self._wait_for("Kustomization", lambda o: status_of(o).get("lastAttemptedRevision"))
            self.say("✔", "Kustomization reconciled successfully")
            self.say("►", "confirming components are healthy")
            self._wait_components()
            self.say("✔", "all components are healthy")
            notes += ["done", f"Ready at {self.revision}"]

    def _wait_for(self, kind: str, revision_of: Any) -> None:
        ns = self.params.namespace
        deadline = time.monotonic() + self.timeout
        while True:
            obj = self._flux_object(kind) or {}
            ready, stalled = condition(obj, "Ready"), condition(obj, "Stalled")
            current = obj and status_of(obj).get("observedGeneration") == obj["metadata"].get("generation")
            if spec_of(obj).get("suspend"):
                raise ClusterError(f"{kind} {ns}/{ns} is suspended", hint=f"resume it: flux resume {kind.lower()} {ns}")
            reached = self._reached(revision_of(obj))
            if ready.get("status") == "True" and current and reached:
                return
            failing = ready.get("status") == "False" and (reached or kind == "GitRepository")
            if failing or stalled.get("status") == "True":
                message = ready.get("message") or stalled.get("message")
                raise ClusterError(f"{kind} {ns}/{ns} is not ready: {clip(message or '', 400)}",
                                   hint=self._troubleshoot(kind.lower()))
            if time.monotonic() > deadline:
                raise ClusterError(f"bootstrap failed with 1 health check failure(s): {kind} {ns}/{ns} did not reach "
                                   f"{self.revision} within {Duration(self.timeout).go()}",
                                   hint=self._troubleshoot(kind.lower()))
            time.sleep(0.5)

    def _reached(self, revision: str | None) -> bool:
        """The object is at our revision, or at a later commit of the branch that contains it (clusters sharing
        the repository push too, and Flux fetches the newest head)."""
        if not revision or not self.revision:
            return False
        if revision == self.revision:
            return True
        prefix = f"{self.params.branch}@sha1:"
        if not revision.startswith(prefix) or self.checkout is None:
            return False
        known = self._descendants.get(revision)
        if known is None:
            known = self._descendants[revision] = self.checkout.is_ancestor(self.revision.removeprefix(prefix),
                                                                            revision.removeprefix(prefix))
        return known

    def _wait_components(self) -> None:
        deadline = time.monotonic() + self.timeout
        pending = list(self.params.all_components)
        while pending:
            for name in list(pending):
                d = self.kube.get("apps/v1", "Deployment", self.params.namespace, name) or {}
                status = d.get("status") or {}
                if status.get("readyReplicas") and status.get("readyReplicas") == spec_of(d).get("replicas"):
                    self.say("✔", f"{name}: deployment ready")
                    pending.remove(name)
            if pending and time.monotonic() > deadline:
                raise ClusterError(f"bootstrap failed with {len(pending)} health check failure(s): "
                                   + ", ".join(f"{n}: deployment not ready" for n in pending),
                                   hint=f"kubectl -n {self.params.namespace} get pods; run runbooks/troubleshoot.ipynb")
            if pending:
                time.sleep(0.5)

    # --- the whole run and its record -----------------------------------------------------------

    def run(self) -> pd.DataFrame:
        for step in (self.preflight, self.repository, self.components, self.install, self.source_secret, self.sync,
                     self.verify):
            step()
        return self.table()

    def result(self) -> dict[str, Any]:
        """What the fleet report keeps of this run (never a key or a token)."""
        p = self.params
        return {"cluster": p.cluster, "stage": p.stage, "target": p.target, "flux_version": p.version,
                "requested_flux_version": self.requested_version,
                "components": p.all_components, "commits": self.commits, "revision": self.revision,
                "deploy_key_fingerprint": self.key_fingerprint, "dry_run": self.dry_run,
                "steps": [vars(s) for s in self.steps],
                "status": "failed" if any(s.status == "failed" for s in self.steps) else
                ("up to date" if all(s.status in ("up to date", "skipped") or s.step in ("preflight", "repository",
                                                                                        "verify")
                                     for s in self.steps) and not self.commits else "changed")}

