"""Files of a cluster's folder in the fleet repository changed the runbooks' way: planned as a diff, then
committed to the cluster's branch (again from a fresh clone when the branch moved) or pushed to a branch of its
own with a pull request (opened, updated, or "up to date" when it already proposes the same files). When a
kustomization.yaml owns a file's folder (fleetlib.resourcelist), the plan also lists the file in its
resources (or unlists it), in the same commit. The add-app, alerts and tenants runbooks write their file with
it, the promote runbook several files in one change (`plan_files`).

    change = FileChange(params, hub, log)
    plan = change.plan("clusters/.../apps/hello.yaml", text)     # text None: the file goes
    outcome = change.commit(plan, "Add app hello")               # or change.pull_request(plan, branch, title)
"""

from __future__ import annotations

import difflib
import posixpath
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleetlib.errors import InputError
from fleetlib.git import Checkout, push_with_retry
from fleetlib.github import GitHub
from fleetlib.objects import Ref
from fleetlib.parameters import ClusterParams
from fleetlib.resourcelist import KUSTOMIZATION_FILES, Edit, listing
from fleetlib.steplog import StepLog


@dataclass(frozen=True)
class Plan:
    """The files' change (the first is the one the runbook is about), and the changes to the kustomization files
    that list them (none when no kustomization file owns their folder)."""

    files: tuple[Edit, ...]
    listings: tuple[Edit, ...] = ()

    @property
    def main(self) -> Edit:
        return self.files[0]

    @property
    def path(self) -> str:
        return self.main.path

    @property
    def before(self) -> str | None:
        return self.main.before

    @property
    def after(self) -> str | None:
        return self.main.after

    @property
    def edits(self) -> list[Edit]:
        return [*self.files, *self.listings]

    @property
    def changed(self) -> bool:
        return any(e.changed for e in self.edits)

    @property
    def also(self) -> str:
        """The note ` (and list it in <kustomization file>)` when the plan changes such a file too; else empty."""
        changed = [e.path for e in self.listings if e.changed]
        if not changed:
            return ""
        return f" (and {'unlist' if self.after is None else 'list'} it in {', '.join(changed)})"

    @property
    def diff(self) -> str:
        return "".join("".join(difflib.unified_diff(
            (e.before or "").splitlines(keepends=True), (e.after or "").splitlines(keepends=True),
            f"a/{e.path}" if e.before is not None else "/dev/null",
            f"b/{e.path}" if e.after is not None else "/dev/null")) for e in self.edits)


class FileChange:
    def __init__(self, params: ClusterParams, hub: GitHub, log: StepLog) -> None:
        self.params, self.hub, self.log = params, hub, log
        self.checkout: Checkout | None = None

    def clone(self) -> Checkout:
        if self.checkout is None:
            if not self.hub.repository_exists():
                p = self.params
                raise InputError(f"the fleet repository {p.repo_slug} does not exist on {self.hub.where or p.hostname}",
                                 hint=f"bootstrap the cluster first: papermill runbooks/bootstrap.ipynb out.ipynb "
                                      f"-p cluster {p.cluster} -p stage {p.stage}")
            self.checkout = self.hub.clone()
        return self.checkout

    def plan(self, path: str, text: str | None) -> Plan:
        return self.plan_files({path: text})

    def plan_files(self, files: Mapping[str, str | None]) -> Plan:
        """Several files in one change (text None: the file goes), the first the one the change is about."""
        checkout = self.clone()
        edits = tuple(Edit(path, checkout.read(path), text) for path, text in files.items())
        return Plan(edits, self._listings(checkout.read, edits))

    def _listings(self, read: Callable[[str], str | None], files: Iterable[Edit]) -> tuple[Edit, ...]:
        """The kustomization files' changes listing (or unlisting) each file, one Edit per kustomization file even
        when it lists several of them."""
        root = self.params.path.strip("/").removeprefix("./")
        changed: dict[str, Edit] = {}

        def current(path: str) -> str | None:
            return changed[path].after if path in changed else read(path)

        for f in files:
            if posixpath.basename(f.path) in KUSTOMIZATION_FILES:
                continue  # a kustomization file is not a resource of one
            edit = listing(current, root, f.path, present=f.after is not None)
            if edit is not None:
                changed[edit.path] = Edit(edit.path, changed[edit.path].before if edit.path in changed
                                          else edit.before, edit.after)
        return tuple(changed.values())

    @contextmanager
    def trial(self, plan: Plan) -> Iterator[Path]:
        """The checkout with the planned files written, for checks; they are put back as they were afterwards.
        Yields the checkout's folder."""
        checkout = self.clone()
        try:
            for edit in plan.edits:
                _put(checkout, edit.path, edit.after)
            yield checkout.path
        finally:
            for edit in plan.edits:
                _put(checkout, edit.path, edit.before)

    def _write(self, checkout: Checkout, plan: Plan, message: str) -> str | None:
        """Commit the plan to `checkout`; the listings are planned again there (a fresh clone may differ)."""
        edits = [*plan.files, *self._listings(checkout.read, plan.files)]
        edits = [e for e in edits if e.after is not None or (checkout.path / e.path).exists()]
        if not edits:
            return None  # removing files that are already gone
        for edit in edits:
            _put(checkout, edit.path, edit.after)
        return checkout.commit(message, author=self.params.commit_author, paths=[e.path for e in edits])

    def show(self, plan: Plan, objects: list[dict[str, Any]]) -> None:
        """What `apply none` says of the file: the change and its diff, then what the flux-system Kustomization
        would apply from it."""
        self.log.say("~", f"would {'delete' if plan.after is None else 'write'} {plan.path}{plan.also} and commit it "
                          f"to {self.params.repo_slug}@{self.params.branch}:")
        if self.log.echo:
            print(plan.diff)
        if plan.after is not None:
            self.log.say("~", "the flux-system Kustomization would then apply "
                              + ", ".join(str(Ref.of(o)) for o in objects))

    def send(self, plan: Plan, mode: str, *, branch: str, title: str) -> dict[str, Any]:
        """`apply pr`: a pull request from `branch`; `apply commit`: a commit to the cluster's branch (its outcome
        holds the pushed `revision`)."""
        return self.pull_request(plan, branch, title) if mode == "pr" else self.commit(plan, title)

    def commit(self, plan: Plan, message: str) -> dict[str, Any]:
        self.checkout, sha = push_with_retry(self.clone(), lambda co: self._write(co, plan, message),
                                             reclone=self.hub.clone, on_retry=lambda _n: self.log.say(
                                                 "►", "the branch moved meanwhile: again from a fresh clone"))
        if sha is None:
            return {"status": "up to date", "detail": "the branch already holds the change"}
        self.log.say("✔", f"committed {sha[:8]} to {self.params.branch}: {message}")
        return {"status": "committed", "commit": sha, "branch": self.params.branch, "file": plan.path,
                "revision": f"{self.params.branch}@sha1:{sha}"}

    def pull_request(self, plan: Plan, branch: str, title: str) -> dict[str, Any]:
        checkout = self.clone()
        existing = self.hub.pull_request_for(branch)
        if existing and all(checkout.remote_text(branch, e.path) == e.after for e in plan.edits):
            self.log.say("✔", f"pull request #{existing.number} already proposes this change: up to date")
            return {"status": "up to date", "pull_request": existing.number, "url": existing.url, "branch": branch}
        sha = self._write(checkout, plan, title)
        try:
            checkout.push(branch=branch, force=True)
        finally:
            checkout.reset_to_remote()
        pr = self.hub.open_pull_request(branch, title=title, body=f"```diff\n{plan.diff}```\n")
        self.log.say("✔", f"{pr.action} pull request #{pr.number} from {branch}: {pr.url}")
        return {"status": f"pull request {pr.action}", "pull_request": pr.number, "url": pr.url, "branch": branch,
                "commit": sha}


def _put(checkout: Checkout, path: str, text: str | None) -> None:
    """Write a file of the checkout, or remove it (None)."""
    if text is not None:
        checkout.write(path, text)
    else:
        (checkout.path / path).unlink(missing_ok=True)
