"""The one module that talks to the GitHub API, through PyGithub.

Where it talks to comes from fleetlib.targets: the sandbox GitHub and its token for `sandbox` and
`local`, api.github.com (or `https://<hostname>/api/v3` for GitHub Enterprise) with the token from the
environment variable named by `token_env` for `live`. A token never appears in a message.

    hub = connect(params, home=fleet_home())
    repo = hub.client.get_repo(params.repo_slug)
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from github import Auth, Github, GithubException

from fleetlib import targets
from fleetlib.errors import FleetError, GitError, clip
from fleetlib.git import Checkout, auth_env
from fleetlib.parameters import ClusterParams
from fleetlib.targets import Endpoints


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
    client: Github
    web_url: str
    _token: str
    where: str = ""
    """What this client really talks to, for progress lines: `github.com`, or the sandbox GitHub's address."""
    token_env: str | None = None
    """The environment variable the token came from; None when no real token is used (the sandbox)."""

    def __repr__(self) -> str:
        return f"GitHub({self.params.repo_slug} at {self.web_url})"

    def clone_url(self) -> str:
        return f"{self.web_url}/{self.params.owner}/{self.params.repository}.git"

    def token(self) -> str:
        return self._token

    def clone(self, folder: Path) -> Checkout:
        """A checkout of the cluster's branch in a new folder under `folder`, over HTTP(S) with the token."""
        dest = folder / f"repo-{time.monotonic_ns()}"
        try:
            return Checkout.clone(self.clone_url(), self.params.branch, dest, env=auth_env(self._token))
        except GitError as e:
            raise GitError(f"cloning {self.params.repo_slug}: {e.message}",
                           hint="check the token's access to the repository") from e


def connect(params: ClusterParams, *, home: Path, env: Mapping[str, str] = os.environ) -> GitHub:
    """A client of the cluster's GitHub through its target's endpoints (the token from the environment for live)."""
    return open_client(targets.resolve(params, home=home, env=env))


def open_client(where: Endpoints) -> GitHub:
    client = Github(base_url=where.github_api, auth=Auth.Token(where.token()), **dict(where.github_options))
    return GitHub(where.params, client, where.github_web, where.token(), where.github_where, where.token_env)
