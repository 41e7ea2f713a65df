"""The one module that talks to the GitHub API, through PyGithub.

For the `sandbox` target it uses the sandbox GitHub and its token; for `live`, api.github.com (or
`https://<hostname>/api/v3` for GitHub Enterprise) with the token from the environment variable named
by `token_env`. A token never appears in a message.

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

from fleetlib.errors import FleetError, GitError, InputError, clip
from fleetlib.git import Checkout, auth_env
from fleetlib.parameters import ClusterParams
from fleetlib.sandbox import Sandbox
from fleetlib.sandbox.server import github_token


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


def api_url(hostname: str) -> str:
    return "https://api.github.com" if hostname == "github.com" else f"https://{hostname}/api/v3"


def connect(params: ClusterParams, *, home: Path, env: Mapping[str, str] = os.environ) -> GitHub:
    if params.target == "sandbox":
        sandbox = Sandbox.running(home)
        sandbox.hub.ensure_account(params.owner, personal=params.personal)
        token = github_token(home)
        base, web = sandbox.github_api_url, sandbox.github_url
        kwargs = {"retry": None, "seconds_between_requests": None, "seconds_between_writes": None}
        where, token_env = f"the sandbox GitHub at {web} (as {params.hostname})", None
    else:
        token = env.get(params.token_env, "")
        if not token:
            raise InputError(f"the environment variable {params.token_env} is empty or unset",
                             hint=f"export {params.token_env} with a GitHub token (repo scope, admin on the repository)")
        base, web = api_url(params.hostname), f"https://{params.hostname}"
        kwargs = {}
        where, token_env = params.hostname, params.token_env
    return GitHub(params, Github(base_url=base, auth=Auth.Token(token), **kwargs), web, token, where, token_env)
