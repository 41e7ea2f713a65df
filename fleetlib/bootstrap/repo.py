"""The bootstrap's side of the fleet repository: the cluster's branch cloned, files written and committed
only when they change (pushed again from a fresh clone when the branch moved), or, in a dry run, the diff
that would be committed."""

from __future__ import annotations

import difflib

from fleetlib.git import Checkout, push_with_retry
from fleetlib.github import GitHub
from fleetlib.parameters import ClusterParams
from fleetlib.steplog import StepLog

DRY_RUN_DIFF_LINES = 40


class RepoWriter:
    def __init__(self, params: ClusterParams, hub: GitHub, log: StepLog, *, dry_run: bool) -> None:
        self.params, self.hub, self.log, self.dry_run = params, hub, log, dry_run
        self.checkout: Checkout | None = None
        self.commits: list[str] = []

    def clone(self) -> None:
        self.checkout = self.hub.clone()

    def write_and_commit(self, files: dict[str, str], message: str, *, only_if_absent: tuple[str, ...] = ()) -> bool:
        """Write files, commit and push if anything changed; in a dry run, show the diff instead. Returns
        whether anything changed (or would)."""
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
            on_retry=lambda _attempt: self.log.say("►", "git conflict detected, retrying with a fresh clone"))
        if sha is None:
            return False
        self.commits.append(sha)
        self.log.say("✔", f"committed and pushed {sha[:8]}: {message}")
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
            self.log.say("~", f"would write {k} and commit {message!r}:")
            if self.log.echo:
                print("\n".join(diff[:DRY_RUN_DIFF_LINES]))
                if len(diff) > DRY_RUN_DIFF_LINES:
                    print(f"... {len(diff) - DRY_RUN_DIFF_LINES} more diff lines")
        return bool(changed)
