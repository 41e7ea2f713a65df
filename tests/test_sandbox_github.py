"""The sandbox GitHub, driven by PyGithub over HTTP and by real git over smart HTTP."""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml
from github import Auth, Github, GithubException

from fleetlab.github.hub import ssh_fingerprint
from fleetlab.sandbox import Sandbox
from fleetlab.sandbox.server import github_token
from fleetlib.errors import GitError
from fleetlib.gitcli import auth_env, run_git


def gh(sandbox: Sandbox, token: str | None = None) -> Github:
    return Github(base_url=sandbox.github_api_url, auth=Auth.Token(token or github_token(sandbox.home)),
                  retry=None, seconds_between_requests=None, seconds_between_writes=None)


@pytest.fixture()
def user(sandbox: Sandbox) -> str:
    sandbox.hub.ensure_account("JiwooL0920", personal=True)
    return "JiwooL0920"


@pytest.fixture()
def repo_name() -> str:
    return f"fleet-{uuid.uuid4().hex[:8]}"


def test_user_and_bad_credentials(sandbox: Sandbox, user: str) -> None:
    assert gh(sandbox).get_user().login == user
    with pytest.raises(GithubException) as info:
        gh(sandbox, "ghp_" + "0" * 36).get_user().login  # noqa: B018
    assert info.value.status == 401 and info.value.data["message"] == "Bad credentials"


def test_create_and_get_user_repository(sandbox: Sandbox, user: str, repo_name: str) -> None:
    g = gh(sandbox)
    repo = g.get_user().create_repo(repo_name, private=True, auto_init=False)
    assert repo.full_name == f"{user}/{repo_name}" and repo.private is True
    got = g.get_repo(f"{user}/{repo_name}")
    assert got.id == repo.id and got.default_branch == "main"
    assert repo_name in [r.name for r in g.get_user().get_repos()]
    with pytest.raises(GithubException) as info:
        g.get_user().create_repo(repo_name)
    assert info.value.status == 422
    with pytest.raises(GithubException) as info:
        g.get_repo(f"{user}/does-not-exist")
    assert info.value.status == 404 and info.value.data["message"] == "Not Found"
    assert (sandbox.hub.root / user / f"{repo_name}.git" / "HEAD").is_file()


def test_organisation_repository(sandbox: Sandbox, user: str, repo_name: str) -> None:
    sandbox.hub.ensure_account("platform-team", personal=False)
    org = gh(sandbox).get_organization("platform-team")
    repo = org.create_repo(repo_name, private=True)
    assert repo.full_name == f"platform-team/{repo_name}"
    with pytest.raises(GithubException) as info:
        gh(sandbox).get_organization("nobody-here")
    assert info.value.status == 404


def test_deploy_keys(sandbox: Sandbox, user: str, repo_name: str) -> None:
    repo = gh(sandbox).get_user().create_repo(repo_name)
    public = sandbox.hub.host_keys[1]  # any OpenSSH public key will do
    key = repo.create_key("flux-system-main-flux-system-./clusters/x", public, read_only=True)
    assert key.read_only is True and key.title == "flux-system-main-flux-system-./clusters/x"
    assert [k.id for k in repo.get_keys()] == [key.id]
    assert repo.get_key(key.id).key == public
    with pytest.raises(GithubException) as info:
        repo.create_key("again", public)
    assert info.value.status == 422 and info.value.data["errors"][0]["message"] == "key is already in use"
    assert sandbox.hub.deploy_key_allows(user, repo_name, public + " comment")
    key.delete()
    assert list(repo.get_keys()) == []
    assert not sandbox.hub.deploy_key_allows(user, repo_name, public)


def test_contents_branches_refs_and_pulls(sandbox: Sandbox, user: str, repo_name: str) -> None:
    repo = gh(sandbox).get_user().create_repo(repo_name, auto_init=True)
    main = repo.get_branch("main")
    made = repo.create_file("clusters/dev/a.yaml", "Add a", "a: 1\n", branch="main")
    assert made["commit"].sha != main.commit.sha
    got = repo.get_contents("clusters/dev/a.yaml", ref="main")
    assert got.decoded_content == b"a: 1\n"
    listing = repo.get_contents("clusters/dev")
    assert [c.path for c in listing] == ["clusters/dev/a.yaml"]
    with pytest.raises(GithubException) as info:
        repo.update_file("clusters/dev/a.yaml", "stale", "a: 3\n", "0" * 40, branch="main")
    assert info.value.status == 409
    head = repo.get_branch("main").commit.sha
    ref = repo.create_git_ref("refs/heads/tune/dev-x", head)
    assert ref.object.sha == head
    repo.update_file("clusters/dev/a.yaml", "Tune a", "a: 2\n", got.sha, branch="tune/dev-x")
    pr = repo.create_pull(base="main", head="tune/dev-x", title="Tune", body="table here")
    assert pr.number == 1 and pr.state == "open"
    assert [p.number for p in repo.get_pulls(state="open")] == [1]
    result = pr.merge()
    assert result.merged is True
    assert repo.get_contents("clusters/dev/a.yaml", ref="main").decoded_content == b"a: 2\n"
    assert repo.get_pull(1).merged is True
    with pytest.raises(GithubException) as info:
        repo.get_branch("nope")
    assert info.value.status == 404


def test_meta_publishes_the_ssh_host_keys(sandbox: Sandbox) -> None:
    g = gh(sandbox)  # PyGithub has no /meta wrapper; read it through its requester
    _, data = g.requester.requestJsonAndCheck("GET", "/meta")
    assert data["ssh_keys"] == sandbox.hub.host_keys
    assert data["ssh_keys"][0].startswith("ssh-ed25519 ")
    assert data["ssh_key_fingerprints"]["SHA256_ED25519"] == ssh_fingerprint(data["ssh_keys"][0]).removeprefix("SHA256:")


def test_real_git_clone_and_push_with_the_token(sandbox: Sandbox, user: str, repo_name: str, tmp_path: Path) -> None:
    gh(sandbox).get_user().create_repo(repo_name)
    url = f"{sandbox.github_url}/{user}/{repo_name}.git"
    env = auth_env(github_token(sandbox.home))
    work = tmp_path / "work"
    run_git(["clone", "--quiet", url, str(work)], env=env)
    (work / "README.md").write_text("hello\n")
    run_git(["add", "."], cwd=work)
    run_git(["-c", "user.name=t", "-c", "user.email=t@x", "commit", "-qm", "first"], cwd=work)
    run_git(["push", "-q", "origin", "HEAD:main"], cwd=work, env=env)
    head = run_git(["rev-parse", "HEAD"], cwd=work).strip()
    assert gh(sandbox).get_repo(f"{user}/{repo_name}").get_branch("main").commit.sha == head
    with pytest.raises(GitError) as info:
        run_git(["clone", "--quiet", url, str(tmp_path / "nope")], env=auth_env("wrong-token"))
    assert "wrong-token" not in str(info.value)
    again = tmp_path / "again"
    run_git(["clone", "--quiet", "--branch", "main", url, str(again)], env=env)
    assert (again / "README.md").read_text() == "hello\n"


def test_flux_release_download(sandbox: Sandbox) -> None:
    url = f"{sandbox.github_url}/fluxcd/flux2/releases/download/v2.5.1/install.yaml"
    out = urllib.request.urlopen(url).read().decode()  # a local URL
    kinds = [d["kind"] for d in yaml.safe_load_all(out) if d]
    assert kinds[0] == "Namespace" and kinds.count("Deployment") == 6 and kinds.count("CustomResourceDefinition") == 13
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(url.replace("v2.5.1", "v0.0.1"))
    assert info.value.code == 404
