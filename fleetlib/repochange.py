"""One file of a cluster's folder in the fleet repository changed the runbooks' way: planned as a diff, then
committed to the cluster's branch (again from a fresh clone when the branch moved) or pushed to a branch of its
own with a pull request (opened, updated, or "up to date" when it already proposes the same file). The add-app
and alerts runbooks write their files with it.

    change = FileChange(params, hub, log)
    plan = change.plan("clusters/.../apps/hello.yaml", text)     # text None: the file goes
    outcome = change.commit(plan, "Add app hello")               # or change.pull_request(plan, branch, title)
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleetlib.errors import InputError
from fleetlib.git import Checkout, push_with_retry
from fleetlib.github import GitHub
from fleetlib.parameters import ClusterParams
from fleetlib.steplog import StepLog


@dataclass(frozen=True)
class Plan:
    path: str
    before: str | None
    after: str | None

    @property
    def changed(self) -> bool:
        return self.before != self.after

    @property
    def diff(self) -> str:
        return "".join(difflib.unified_diff((self.before or "").splitlines(keepends=True),
                                            (self.after or "").splitlines(keepends=True),
                                            f"a/{self.path}" if self.before is not None else "/dev/null",
                                            f"b/{self.path}" if self.after is not None else "/dev/null"))


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
        return Plan(path, self.clone().read(path), text)

    @contextmanager
    def trial(self, plan: Plan) -> Iterator[Path]:
        """The checkout with the planned file written, for checks; the file is put back as it was afterwards.
        Yields the checkout's folder."""
        checkout = self.clone()
        assert plan.after is not None
        checkout.write(plan.path, plan.after)
        try:
            yield checkout.path
        finally:
            if plan.before is None:
                (checkout.path / plan.path).unlink()
            else:
                checkout.write(plan.path, plan.before)

    def _write(self, checkout: Checkout, plan: Plan, message: str) -> str | None:
        target = checkout.path / plan.path
        if plan.after is None:
            if not target.exists():
                return None
            target.unlink()
        else:
            checkout.write(plan.path, plan.after)
        return checkout.commit(message, author=self.params.commit_author, paths=[plan.path])

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
        if existing and checkout.remote_text(branch, plan.path) == plan.after:
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
