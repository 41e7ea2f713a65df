"""The bootstrap's step flow, in `flux bootstrap github`'s order; the repository writes (repo), the waits
(waits) and the account of each step (steps) live beside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from fleetlib import targets
from fleetlib.bootstrap.repo import RepoWriter
from fleetlib.bootstrap.sourcesecret import SourceSecret
from fleetlib.bootstrap.steps import plan_table
from fleetlib.bootstrap.waits import ClusterWaits
from fleetlib.errors import ClusterError
from fleetlib.fleetrepo import COMPONENTS_FILE, FLUX_SYSTEM_DIR, KUSTOMIZATION_FILE, SYNC_FILE, normalise_path
from fleetlib.github import GitHub
from fleetlib.github import open_client as open_github
from fleetlib.kube import Kube
from fleetlib.kube import open_client as open_kube
from fleetlib.kubectl import kustomize
from fleetlib.locations import fleet_home
from fleetlib.manifests import components_yaml, kustomization_yaml, parse_release, sync_yaml
from fleetlib.model import Duration
from fleetlib.objects import Ref, labels_of, spec_of, status_of
from fleetlib.options import BootstrapOptions
from fleetlib.parameters import ClusterParams
from fleetlib.releases import install_manifests
from fleetlib.runcontext import RunContext
from fleetlib.steplog import Step, StepLog
from fleetlib.targets import Endpoints
from fleetlib.troubleshoot.operate import request_reconcile

MIN_KUBERNETES = {"v2.4": (1, 28, 0), "v2.5": (1, 30, 0), "v2.6": (1, 31, 0), "v2.7": (1, 32, 0),
                  "v2.8": (1, 33, 0), "v2.9": (1, 33, 0)}


ADMIN_CHECKS = (("create", "apiextensions.k8s.io", "customresourcedefinitions"), ("create", "", "namespaces"),
                ("create", "", "secrets"), ("create", "rbac.authorization.k8s.io", "clusterrolebindings"))
"""What `flux bootstrap` needs the kube context to be allowed (cluster-admin, in practice)."""


def supported_kubernetes(version: str, flux_version: str) -> str:
    """The minimum Kubernetes the Flux release supports (`1.30.0`); ClusterError when `version` is older."""
    need = MIN_KUBERNETES.get(".".join(flux_version.split(".")[:2]), (1, 30, 0))
    have = tuple(int(x) for x in version.lstrip("v").split("-")[0].split("+")[0].split(".")[:3])
    wanted = ".".join(map(str, need))
    if have < need:
        raise ClusterError(f"Kubernetes version {version} does not match >={wanted}-0",
                           hint=f"Flux {flux_version} needs Kubernetes {wanted} or newer")
    return wanted


class Bootstrap:
    def __init__(self, params: ClusterParams, kube: Kube, hub: GitHub, where: Endpoints, *, dry_run: bool = False,
                 force: bool = False, rotate_key: bool = False, timeout: str = "5m", home: Path | None = None,
                 echo: bool = True) -> None:
        self.requested_version = params.version
        if where.flux_version != params.version:  # a target that runs another release (local): install that one
            params = params.model_copy(update={"version": where.flux_version})
        self.params, self.kube, self.hub, self.where = params, kube, hub, where
        self.dry_run, self.force, self.rotate_key = dry_run, force, rotate_key
        self.home = home or fleet_home()
        self.log = StepLog(echo=echo)
        self.repo = RepoWriter(params, hub, self.log, dry_run=dry_run)
        self.waits = ClusterWaits(params, kube, self.log, timeout=Duration.parse(timeout).seconds)
        self.source = SourceSecret(params, kube, hub, self.log, self.waits)
        self.revision: str | None = None
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
        options = run.options.expect(BootstrapOptions)
        return cls(run.params, run.kube, run.hub, run.where, home=fleet_home(), dry_run=options.dry_run,
                   force=options.force, rotate_key=options.rotate_key, timeout=options.timeout)

    # --- what it says ------------------------------------------------------------------------------

    @property
    def echo(self) -> bool:
        return self.log.echo

    @echo.setter
    def echo(self, value: bool) -> None:
        self.log.echo = value

    @property
    def steps(self) -> list[Step]:
        return self.log.steps

    @property
    def commits(self) -> list[str]:
        return self.repo.commits

    def say(self, mark: str, text: str) -> None:
        self.log.say(mark, text)

    def table(self) -> pd.DataFrame:
        return self.log.table()

    def plan(self) -> pd.DataFrame:
        """What the run will do, before it does anything."""
        return plan_table(self.params, self.kube.context, self.files.values(), self.where.notes, dry_run=self.dry_run)

    # --- 1. preflight ------------------------------------------------------------------------------

    def preflight(self) -> None:
        with self.log.step("preflight") as notes:
            p = self.params
            for note in self.where.notes:
                self.say("►", note)
            self.say("►", f"connecting to {self.kube.where or 'context ' + self.kube.context}")
            version = self.kube.version()
            self.say("✔", f"Kubernetes {version.lstrip('v')} >={supported_kubernetes(version, p.version)}-0")
            for verb, group, resource in ADMIN_CHECKS:
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
        crd = self.kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", None,
                            "gitrepositories.source.toolkit.fluxcd.io")
        manager = labels_of(crd).get("app.kubernetes.io/managed-by", "")
        if manager not in ("", "flux") and not self.force:
            raise ClusterError(f"Flux on this cluster is managed by {manager!r}, not by flux bootstrap",
                               hint="pass force=True to take it over")
        self._refuse_other_path(hint="keep the existing path, or uninstall Flux first (force=True overrides)")

    def _refuse_other_path(self, hint: str | None = None) -> None:
        """The one path guard: a flux-system Kustomization syncing another path is not silently moved."""
        current = spec_of(self.waits.flux_object("Kustomization")).get("path")
        if current is not None and normalise_path(current) != normalise_path(self.params.path) and not self.force:
            raise ClusterError(f'sync path configuration ("{self.params.path}") would overwrite path ("{current}") '
                               "of existing Kustomization", hint=hint)

    # --- 2. repository -----------------------------------------------------------------------------

    def repository(self) -> None:
        with self.log.step("repository") as notes:
            p = self.params
            self.say("►", f"connecting to {self.hub.where or p.hostname}")
            created = self.hub.ensure_repository(create=not self.dry_run) != "exists"
            if created and self.dry_run:
                self.say("~", f"would POST {'/user/repos' if p.personal else f'/orgs/{p.owner}/repos'} "
                              f"(name {p.repository}, private {str(p.private).lower()})")
            if created:
                self.say("✔", f'repository "{self.hub.web_url}/{p.repo_slug}" '
                              f'{"would be created" if self.dry_run else "created"}')
            self.say("►", f"cloning branch \"{p.branch}\" from Git repository \"{self.hub.clone_url()}\"")
            if not (created and self.dry_run):
                self.repo.clone()
            self.say("✔", "cloned repository")
            notes += ["would change" if created and self.dry_run else "done",
                      f"{p.repo_slug} {'created' if created else 'exists'}; branch {p.branch} cloned"]

    # --- 3. components -----------------------------------------------------------------------------

    def components(self) -> None:
        with self.log.step("components") as notes:
            text = components_yaml(self._release(), self.params)
            changed = self.repo.write_and_commit({self.files[COMPONENTS_FILE]: text},
                                                 f"Add Flux {self.params.version} component manifests")
            self.say("✔", "component manifests are up to date" if not changed else
                     ("component manifests would be committed" if self.dry_run else "committed component manifests"))
            notes += ["up to date" if not changed else ("would change" if self.dry_run else "done"),
                      f"{self.files[COMPONENTS_FILE]}: {'unchanged' if not changed else 'changed'}"]

    def _release(self) -> str:
        if self._install is None:
            self._install = install_manifests(self.where, home=self.home, say=lambda text: self.say("►", text))
        return self._install

    # --- 4. install --------------------------------------------------------------------------------

    def install(self) -> None:
        with self.log.step("install") as notes:
            if status_of(self.waits.flux_object("Kustomization")).get("lastAppliedRevision"):
                self.say("✔", "components are installed; upgrades arrive through Git")
                notes += ["up to date", "the flux-system Kustomization has applied a revision"]
                return
            objects = self._build()
            first = [o for o in objects if o["kind"] in ("CustomResourceDefinition", "Namespace")]
            rest = [o for o in objects if o not in first]
            if self.dry_run:
                self.say("~", f"would server-side apply {len(objects)} objects with field manager flux: "
                              + ", ".join(str(Ref.of(o)) for o in objects))
                notes += ["would change", f"{len(objects)} objects"]
                return
            self.say("►", f'installing components in "{self.params.namespace}" namespace')
            changes = self.kube.apply(first, manager="flux")
            self.waits.established([o["metadata"]["name"] for o in first if o["kind"] == "CustomResourceDefinition"])
            changes += self.kube.apply(rest, manager="flux")
            self.say("✔", "installed components")
            notes += ["done", f"{sum(a != 'unchanged' for _, a in changes)} of {len(changes)} objects changed"]

    def _build(self) -> list[dict[str, Any]]:
        """The flux-system folder as kustomize builds it (so user patches apply), or the components file."""
        if self.repo.checkout is None:
            return parse_release(components_yaml(self._release(), self.params))
        folder = self.repo.checkout.path / normalise_path(self.params.path) / FLUX_SYSTEM_DIR
        if not (folder / KUSTOMIZATION_FILE).exists():
            return parse_release(self.repo.checkout.read(self.files[COMPONENTS_FILE]) or "")
        return parse_release(kustomize(folder))

    # --- 5. source secret --------------------------------------------------------------------------

    def source_secret(self) -> None:
        with self.log.step("source secret") as notes:
            notes += self.source.reconcile(dry_run=self.dry_run, rotate=self.rotate_key)

    @property
    def key_fingerprint(self) -> str | None:
        return self.source.fingerprint

    # --- 6. sync -----------------------------------------------------------------------------------

    def sync(self) -> None:
        with self.log.step("sync") as notes:
            p = self.params
            self._refuse_other_path()
            self.say("►", "generating sync manifests")
            changed = self.repo.write_and_commit({self.files[SYNC_FILE]: sync_yaml(p),
                                                  self.files[KUSTOMIZATION_FILE]: kustomization_yaml()},
                                                 "Add Flux sync manifests",
                                                 only_if_absent=(self.files[KUSTOMIZATION_FILE],))
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

    # --- 7. verify ---------------------------------------------------------------------------------

    def verify(self) -> None:
        with self.log.step("verify") as notes:
            if self.dry_run:
                notes += ["skipped", "dry run"]
                return
            p = self.params
            assert self.repo.checkout is not None
            head = self.repo.checkout.remote_head() or self.repo.checkout.head()
            self.revision = revision = f"{p.branch}@sha1:{head}"
            request_reconcile(self.kube, "GitRepository", p.namespace, p.namespace)
            self.say("◎", f"waiting for GitRepository \"{p.namespace}/{p.namespace}\" to be reconciled")
            self.waits.at_revision("GitRepository", revision, self.repo.checkout,
                                   lambda o: status_of(o).get("artifact", {}).get("revision"))
            self.say("✔", "GitRepository reconciled successfully")
            self.say("◎", f"waiting for Kustomization \"{p.namespace}/{p.namespace}\" to be reconciled")
            self.waits.at_revision("Kustomization", revision, self.repo.checkout,
                                   lambda o: status_of(o).get("lastAttemptedRevision"))
            self.say("✔", "Kustomization reconciled successfully")
            self.say("►", "confirming components are healthy")
            self.waits.components_ready()
            self.say("✔", "all components are healthy")
            notes += ["done", f"Ready at {self.revision}"]

    # --- the whole run and its record --------------------------------------------------------------

    def run(self) -> pd.DataFrame:
        for step in (self.preflight, self.repository, self.components, self.install, self.source_secret, self.sync,
                     self.verify):
            step()
        return self.table()

    def result(self) -> dict[str, Any]:
        """What the fleet report keeps of this run (never a key or a token)."""
        p = self.params
        quiet = all(s.status in ("up to date", "skipped") or s.step in ("preflight", "repository", "verify")
                    for s in self.steps)
        return {"cluster": p.cluster, "stage": p.stage, "target": p.target, "flux_version": p.version,
                "requested_flux_version": self.requested_version,
                "components": p.all_components, "commits": self.commits, "revision": self.revision,
                "deploy_key_fingerprint": self.key_fingerprint, "dry_run": self.dry_run,
                "steps": [vars(s) for s in self.steps],
                "status": "failed" if any(s.status == "failed" for s in self.steps) else
                ("up to date" if quiet and not self.commits else "changed")}
