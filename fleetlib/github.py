"""The one module that talks to the GitHub API, through PyGithub; it speaks the runbooks' domain.

Like the flux CLI's bootstrap provider interface, it offers verbs, not PyGithub objects: who the token
is, ensure the repository, GitHub's SSH host keys, reconcile a deploy key, a branch head, open or update a
pull request. Each verb translates PyGithub's errors once, into the GitError a runbook shows; no other
module imports PyGithub (tests/test_layers.py checks it).

Where it talks to comes from fleetlib.targets: the sandbox GitHub and its token for `sandbox` and
`local`, api.github.com (or `https://<hostname>/api/v3` for GitHub Enterprise) with the token from the
environment variable named by `token_env` for `live`. A token never appears in a message.

    hub = connect(params, home=fleet_home())
    hub.ensure_repository(create=True)                  # "exists" or "created"
    stale = hub.reconcile_deploy_key(title, public_key, read_only=True)
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal, TypeVar

from github import Auth, Github, GithubException

from fleetlib import targets
from fleetlib.errors import FleetError, GitError, clip
from fleetlib.git import Checkout
from fleetlib.gitcli import auth_env
from fleetlib.parameters import ClusterParams
from fleetlib.targets import Endpoints

T = TypeVar("T")


@dataclass(frozen=True)
class DeployKey:
    id: int
    title: str
    key: str
    """`<type> <base64>`, as GitHub stores it (no comment)."""


@dataclass(frozen=True)
class PullRequest:
    number: int
    url: str
    action: Literal["opened", "updated", "up to date"]


def _same_key(a: str, b: str) -> bool:
    return a.split()[:2] == b.split()[:2]


def github_error(e: GithubException, what: str) -> GitError:
    data = e.data if isinstance(e.data, dict) else {}
    detail = data.get("message") or str(e)
    errors = "; ".join(str(x.get("message", x)) for x in data.get("errors") or [] if isinstance(x, dict))
    return GitError(f"{what}: GitHub answered {e.status} {clip(detail, 200)}{' (' + clip(errors, 200) + ')' if errors else ''}")


def as_fleet_error(e: Exception, what: str) -> FleetError:
    """Any failure of a PyGithub call, as the GitError a runbook shows (FleetErrors pass through)."""
    if isinstance(e, FleetError):
        return e
    if isinstance(e, GithubException):
        return github_error(e, what)
    return GitError(f"{what}: {clip(str(e), 200)}")


@dataclass
class GitHub:
    """A PyGithub client, the web URL git clones from, and the token for git (kept out of repr)."""

    params: ClusterParams
    _client: Github
    web_url: str
    _token: str
    where: str = ""
    """What this client really talks to, for progress lines: `github.com`, or the sandbox GitHub's address."""
    token_env: str | None = None
    """The environment variable the token came from; None when no real token is used (the sandbox)."""
    review: str | None = None
    """Endpoints.review: how a pull request is opened after the run ({repo}, {number}); None: its web page."""
    _scratch: Path | None = None

    def _link(self, pr: Any) -> str:
        """Where a person reviews the pull request once the run is over."""
        if self.review:
            return self.review.format(repo=self.params.repo_slug, number=pr.number)
        return str(pr.html_url)

    def __repr__(self) -> str:
        return f"GitHub({self.params.repo_slug} at {self.web_url})"

    def clone_url(self) -> str:
        return f"{self.web_url}/{self.params.owner}/{self.params.repository}.git"

    def token(self) -> str:
        return self._token

    # --- the domain verbs: each names what it did when it fails ------------------------------------

    def _call(self, what: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except Exception as e:  # noqa: BLE001 - PyGithub raises its own and requests' exceptions: one translation
            raise as_fleet_error(e, what) from None

    def user(self) -> str:
        """The login the token acts as (what `flux bootstrap` checks first)."""
        what = f"checking the GitHub token in {self.token_env}" if self.token_env else f"reaching {self.where}"
        return self._call(what, lambda: str(self._client.get_user().login))

    def repository_exists(self) -> bool:
        try:
            self._client.get_repo(self.params.repo_slug)
        except GithubException as e:
            if e.status == 404:
                return False
            raise github_error(e, f"reading repository {self.params.repo_slug}") from None
        except Exception as e:  # noqa: BLE001 - a transport failure, named once
            raise as_fleet_error(e, f"reading repository {self.params.repo_slug}") from None
        return True

    def ensure_repository(self, *, create: bool) -> Literal["exists", "created", "missing"]:
        """The cluster's repository: `exists`, `created` (empty, private as the parameters say), or `missing`
        when `create` is False (a dry run). A repository another bootstrap created a moment ago exists."""
        p = self.params
        if self.repository_exists():
            return "exists"
        if not create:
            return "missing"
        try:
            owner = self._client.get_user() if p.personal else self._client.get_organization(p.owner)
            owner.create_repo(p.repository, private=p.private, auto_init=False)
        except GithubException as e:
            if e.status == 422 and self.repository_exists():
                return "exists"
            raise github_error(e, f"creating repository {p.repo_slug}") from None
        except Exception as e:  # noqa: BLE001 - a transport failure, named once
            raise as_fleet_error(e, f"creating repository {p.repo_slug}") from None
        return "created"

    def host_keys(self) -> list[str]:
        """The SSH host keys GitHub publishes in /meta (`<type> <base64>`), first the one flux trusts."""
        _, meta = self._call("reading GitHub's SSH host keys (/meta)",
                             lambda: self._client.requester.requestJsonAndCheck("GET", "/meta"))
        return [str(k) for k in (meta or {}).get("ssh_keys") or []]

    def deploy_keys(self, title: str | None = None, *, repo_slug: str | None = None) -> list[DeployKey]:
        """The repository's deploy keys (those titled `title`, when given); the fleet repository by default."""
        repo_slug = repo_slug or self.params.repo_slug
        keys = self._call(f"listing the deploy keys of {repo_slug}", lambda: [
            DeployKey(k.id, k.title, " ".join(k.key.split()[:2])) for k in self._client.get_repo(repo_slug).get_keys()])
        return [k for k in keys if title is None or k.title == title]

    def reconcile_deploy_key(self, title: str, public_key: str, *, read_only: bool, keep_others: bool = False,
                             repo_slug: str | None = None) -> list[DeployKey]:
        """Make `public_key` a deploy key titled `title`, as flux titles it (of the fleet repository, or of
        `repo_slug`). Same-titled keys with other content are deleted now, or returned for the caller to delete
        once the new key is proven (`keep_others`)."""
        slug = repo_slug or self.params.repo_slug
        existing = self.deploy_keys(title, repo_slug=slug)
        stale = [k for k in existing if not _same_key(k.key, public_key)]
        if not keep_others:
            self.delete_deploy_keys(stale, repo_slug=slug)
            stale = []
        if not any(_same_key(k.key, public_key) for k in existing):
            self._call(f"registering the deploy key on {slug}", lambda: self._client.get_repo(slug).create_key(
                title, public_key, read_only=read_only))
        return stale

    def delete_deploy_keys(self, keys: list[DeployKey], *, repo_slug: str | None = None) -> None:
        for key in keys:
            self._call(f"deleting the old deploy key {key.id}",
                       partial(self._delete_key, repo_slug or self.params.repo_slug, key.id))

    def _delete_key(self, repo_slug: str, key_id: int) -> None:
        self._client.get_repo(repo_slug).get_key(key_id).delete()

    def branch_head(self, repo_slug: str, branch: str) -> str:
        """The commit a branch of any repository on this GitHub points at."""
        return self.branch_head_at(repo_slug, branch)[0]

    def branch_head_at(self, repo_slug: str, branch: str) -> tuple[str, float | None]:
        """The commit a branch points at, and when it was committed (epoch seconds; None when GitHub does not say)."""
        def read() -> tuple[str, float | None]:
            commit = self._client.get_repo(repo_slug).get_branch(branch).commit
            when = commit.commit.committer.date if commit.commit.committer else None
            return str(commit.sha), when.timestamp() if when is not None else None
        return self._call(f"reading the head of {repo_slug}@{branch}", read)

    def pull_request_for(self, branch: str) -> PullRequest | None:
        """The open pull request from `branch` into the cluster's branch, if any."""
        def find() -> PullRequest | None:
            for pr in self._client.get_repo(self.params.repo_slug).get_pulls(state="open"):
                if pr.head.ref == branch:
                    return PullRequest(pr.number, self._link(pr), "up to date")
            return None
        return self._call(f"listing the pull requests of {self.params.repo_slug}", find)

    def open_pull_request(self, branch: str, *, title: str, body: str) -> PullRequest:
        """Open a pull request from `branch` into the cluster's branch, or update the open one's title and body."""
        def upsert() -> PullRequest:
            repo = self._client.get_repo(self.params.repo_slug)
            for pr in repo.get_pulls(state="open"):
                if pr.head.ref == branch:
                    pr.edit(title=title, body=body)
                    return PullRequest(pr.number, self._link(pr), "updated")
            pr = repo.create_pull(title=title, body=body, head=branch, base=self.params.branch)
            return PullRequest(pr.number, self._link(pr), "opened")
        return self._call(f"opening a pull request on {self.params.repo_slug}", upsert)

    def clone(self, repo_slug: str | None = None, branch: str | None = None) -> Checkout:
        """A checkout of the cluster's branch (or `branch` of `repo_slug` on this GitHub) in a new scratch folder,
        over HTTP(S) with the token. The folders go when this client does (or at exit)."""
        if self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(prefix="fleet-clone-"))
            weakref.finalize(self, shutil.rmtree, self._scratch, True)
        dest = self._scratch / f"repo-{time.monotonic_ns()}"
        slug, branch = repo_slug or self.params.repo_slug, branch or self.params.branch
        try:
            return Checkout.clone(f"{self.web_url}/{slug}.git", branch, dest, env=auth_env(self._token))
        except GitError as e:
            raise GitError(f"cloning {slug}: {e.message}", hint="check the token's access to the repository") from e


def connect(params: ClusterParams, *, home: Path, env: Mapping[str, str] = os.environ) -> GitHub:
    """A client of the cluster's GitHub through its target's endpoints (the token from the environment for live)."""
    return open_client(targets.resolve(params, home=home, env=env))


def open_client(where: Endpoints) -> GitHub:
    client = Github(base_url=where.github_api, auth=Auth.Token(where.token()), **dict(where.github_options))
    return GitHub(where.params, client, where.github_web, where.token(), where.github_where, where.token_env,
                  where.review)
