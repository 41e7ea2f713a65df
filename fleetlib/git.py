"""The Git adapter: a working copy of a fleet repository's branch (clone, read, write, commit, push) and
one push-with-retry for branches that several clusters push to at once. The git binary is run by
fleetlib.gitcli.

    checkout = Checkout.clone(url, "main", folder, env=auth_env(token))
    checkout, sha = push_with_retry(checkout, change, reclone=hub.clone)
"""

from __future__ import annotations

import random
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from fleetlib.errors import GitError
from fleetlib.gitcli import run_git, run_git_raw

PUSH_ATTEMPTS = 5
"""Pushes tried, each from a fresh clone, when the branch moved meanwhile (a fleet run works on clusters that
share one repository in parallel)."""


class NonFastForward(GitError):
    """The remote branch moved while we worked; start again from a fresh clone."""


class Checkout:
    """A working copy of one branch, cloned over HTTP(S) with credentials in the environment."""

    def __init__(self, path: Path, *, url: str, branch: str, env: Mapping[str, str]) -> None:
        self.path, self.url, self.branch, self.env = path, url, branch, dict(env)

    @classmethod
    def clone(cls, url: str, branch: str, dest: Path, *, env: Mapping[str, str]) -> Checkout:
        """Clone `branch`; an empty repository, or one without that branch, gives a fresh branch."""
        try:
            run_git(["clone", "--quiet", "--single-branch", "--branch", branch, url, str(dest)], env=env)
        except GitError as e:
            if "not found in upstream" not in e.message and "empty repository" not in e.message:
                raise
            shutil.rmtree(dest, ignore_errors=True)
            run_git(["clone", "--quiet", url, str(dest)], env=env)
            if run_git_raw(["rev-parse", "--verify", "--quiet", f"refs/remotes/origin/{branch}"], cwd=dest)[0] == 0:
                # someone pushed the branch between the two clones (parallel bootstraps of one repository)
                run_git(["checkout", "--quiet", "-B", branch, f"origin/{branch}"], cwd=dest)
            else:
                run_git(["checkout", "--quiet", "--orphan", branch], cwd=dest)
                run_git(["rm", "-rq", "--cached", "--ignore-unmatch", "."], cwd=dest)
        return cls(dest, url=url, branch=branch, env=env)

    def read(self, rel: str) -> str | None:
        path = self.path / rel
        return path.read_text(encoding="utf-8") if path.is_file() else None

    def write(self, rel: str, text: str) -> bool:
        """Write a file; False when it already held exactly that text."""
        if self.read(rel) == text:
            return False
        path = self.path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return True

    def commit(self, message: str, *, author: tuple[str, str], paths: list[str]) -> str | None:
        """Commit the given paths if they changed; returns the new commit, or None when nothing changed."""
        run_git(["add", "--", *paths], cwd=self.path)
        changed = run_git(["diff", "--cached", "--name-only"], cwd=self.path).strip()
        if not changed:
            return None
        name, email = author
        run_git(["-c", f"user.name={name}", "-c", f"user.email={email}", "commit", "--quiet", "-m", message],
                cwd=self.path)
        return self.head()

    def head(self) -> str:
        return run_git(["rev-parse", "HEAD"], cwd=self.path).strip()

    def remote_head(self) -> str | None:
        out = run_git(["ls-remote", self.url, f"refs/heads/{self.branch}"], env=self.env).split()
        return out[0] if out else None

    def remote_text(self, branch: str, rel: str) -> str | None:
        """A file as it is on a remote branch now; None when the branch or the file is absent."""
        code, _, _ = run_git_raw(["fetch", "--quiet", "origin", f"+refs/heads/{branch}:refs/fleetlib/peek"],
                                 cwd=self.path, env=self.env)
        if code != 0:
            return None
        code, out, _ = run_git_raw(["show", f"refs/fleetlib/peek:{rel}"], cwd=self.path)
        return out.decode("utf-8", errors="replace") if code == 0 else None

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """Whether `descendant` (a commit of the remote branch) contains `ancestor`; fetches when it is unknown."""
        if ancestor == descendant:
            return True
        if run_git_raw(["cat-file", "-e", f"{descendant}^{{commit}}"], cwd=self.path)[0] != 0:
            run_git_raw(["fetch", "--quiet", "origin", self.branch], cwd=self.path, env=self.env)
        return run_git_raw(["merge-base", "--is-ancestor", ancestor, descendant], cwd=self.path)[0] == 0

    def discard(self) -> None:
        """Delete the working copy (a clone is scratch: what matters was pushed)."""
        shutil.rmtree(self.path, ignore_errors=True)

    def reset_to_remote(self) -> None:
        """Drop local commits that were not pushed (the working copy matches the remote branch again)."""
        run_git(["reset", "--quiet", "--hard", f"origin/{self.branch}"], cwd=self.path)

    def push(self, *, branch: str | None = None, force: bool = False) -> None:
        """Push HEAD to `branch` (default: the cloned branch); `force` for a branch fleetlib owns."""
        target = branch or self.branch
        try:
            run_git(["push", "--quiet", *(["--force"] if force else []), "origin", f"HEAD:refs/heads/{target}"],
                    cwd=self.path, env=self.env)
        except GitError as e:
            if "non-fast-forward" in e.message or "rejected" in e.message or "fetch first" in e.message:
                raise NonFastForward(e.message) from e
            raise


def push_with_retry(checkout: Checkout, change: Callable[[Checkout], str | None], *, reclone: Callable[[], Checkout],
                    branch: str | None = None, on_retry: Callable[[int], None] | None = None
                    ) -> tuple[Checkout, str | None]:
    """Let `change` write and commit on `checkout` (it returns the commit, or None when nothing needs to change)
    and push it. When the branch moved meanwhile (another cluster of the fleet pushed), start again on a fresh
    clone from `reclone`, after a short random pause, up to PUSH_ATTEMPTS times; then NonFastForward propagates.
    Returns the checkout last used and the pushed commit (None: nothing changed)."""
    for attempt in range(1, PUSH_ATTEMPTS + 1):
        sha = change(checkout)
        if sha is None:
            return checkout, None
        try:
            checkout.push(branch=branch)
            return checkout, sha
        except NonFastForward:
            if attempt == PUSH_ATTEMPTS:
                raise
            if on_retry is not None:
                on_retry(attempt)
            time.sleep(random.uniform(0.1, 0.5) * attempt)  # clusters sharing a repository push at once
            checkout.discard()
            checkout = reclone()
    raise AssertionError("unreachable")
