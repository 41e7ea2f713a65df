"""Bootstrap on the sandbox, through the same adapters as live: the acceptance of the bootstrap runbook."""

from __future__ import annotations

import base64
import os
import uuid
from pathlib import Path
from typing import Any

import papermill
import pytest

from fleetlab.sandbox import Sandbox
from fleetlab.sandbox.server import github_token
from fleetlib.bootstrap import Bootstrap
from fleetlib.errors import ClusterError, GitError
from fleetlib.model import ClusterId
from fleetlib.parameters import Catalog, Layer, merge_and_validate

from .conftest import REPO

STEPS = ("preflight", "repository", "components", "install", "source_secret", "sync", "verify")
FILES = ("gotk-components.yaml", "gotk-sync.yaml", "kustomization.yaml")


def params_for(name: str, **extra: Any):  # type: ignore[no-untyped-def]
    catalog = Catalog.load(REPO)
    cid = ClusterId("boot", name)
    values = {"target": "sandbox", "repository": f"fleet-{name}", "path": f"./clusters/stages/boot/clusters/{name}",
              **extra}
    return merge_and_validate(cid, [*catalog.base_layers("dev"), Layer("test", values)])


def make(sandbox: Sandbox, params: Any, **options: Any) -> Bootstrap:
    return Bootstrap.connect(params, home=sandbox.home, echo=False, timeout="60s", **options)


@pytest.fixture()
def name() -> str:
    return f"b{uuid.uuid4().hex[:6]}"


def deploy_keys(sandbox: Sandbox, params: Any) -> list[dict[str, Any]]:
    return sandbox.hub.keys(params.owner, params.repository)


def ready(obj: dict[str, Any] | None) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in ((obj or {}).get("status") or {}).get("conditions") or [])


def check_bootstrapped(sandbox: Sandbox, boot: Bootstrap) -> None:
    p = boot.params
    bare = sandbox.hub.bare(p.owner, p.repository)
    head = bare.branch_sha("main")
    assert head
    base = p.path.removeprefix("./") + "/flux-system/"
    for f in FILES:
        assert bare.entry(head, base + f) is not None, f
    k = boot.kube
    assert k.get("v1", "Namespace", None, "flux-system")
    for name in ("source-controller", "kustomize-controller", "helm-controller", "notification-controller"):
        d = k.get("apps/v1", "Deployment", "flux-system", name)
        assert d and d["status"]["readyReplicas"] == 1, name
    secret = k.get("v1", "Secret", "flux-system", "flux-system")
    assert secret and set(secret["data"]) == {"identity", "identity.pub", "known_hosts"}
    assert base64.b64decode(secret["data"]["identity"]).startswith(b"-----BEGIN " + b"PRIVATE KEY-----")  # PKCS#8
    assert base64.b64decode(secret["data"]["identity.pub"]).startswith(b"ecdsa-sha2-nistp384 ")
    revision = f"main@sha1:{head}"
    repo = k.get("source.toolkit.fluxcd.io/v1", "GitRepository", "flux-system", "flux-system")
    ks = k.get("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "flux-system", "flux-system")
    assert ready(repo) and repo["status"]["artifact"]["revision"] == revision
    assert ready(ks) and ks["status"]["lastAttemptedRevision"] == revision
    keys = [k for k in deploy_keys(sandbox, p) if k["title"] == f"flux-system-main-flux-system-{p.path}"]
    assert len(keys) == 1 and keys[0]["read_only"] is True  # one per cluster, even when clusters share a repo


def test_fresh_bootstrap_then_a_second_run_changes_nothing(sandbox: Sandbox, name: str) -> None:
    p = params_for(name)
    boot = make(sandbox, p)
    boot.run()
    check_bootstrapped(sandbox, boot)
    assert len(boot.commits) == 2 and boot.result()["status"] == "changed"
    head = sandbox.hub.bare(p.owner, p.repository).branch_sha("main")
    keys = deploy_keys(sandbox, p)
    again = make(sandbox, p)
    table = again.run()
    assert again.commits == [] and again.result()["status"] == "up to date"
    assert list(table.set_index("step")["status"][["components", "install", "source secret", "sync"]]) == \
        ["up to date"] * 4
    assert sandbox.hub.bare(p.owner, p.repository).branch_sha("main") == head and deploy_keys(sandbox, p) == keys
    assert again.result()["deploy_key_fingerprint"] == boot.result()["deploy_key_fingerprint"]


def test_dry_run_makes_no_change(sandbox: Sandbox, name: str) -> None:
    p = params_for(name)
    boot = make(sandbox, p, dry_run=True)
    table = boot.run()
    assert set(table["status"]) <= {"done", "would change", "skipped"}
    assert not sandbox.hub.repo_path(p.owner, p.repository).exists()
    assert boot.kube.get("v1", "Namespace", None, "flux-system") is None


@pytest.mark.parametrize("stop_after", range(1, len(STEPS)))
def test_an_interrupted_run_completes_on_the_next(sandbox: Sandbox, name: str, stop_after: int) -> None:
    p = params_for(name)
    first = make(sandbox, p)
    for step in STEPS[:stop_after]:
        getattr(first, step)()
    second = make(sandbox, p)
    second.run()
    check_bootstrapped(sandbox, second)


def test_a_crash_between_deploy_key_and_secret_leaves_no_orphan_key(sandbox: Sandbox, name: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    p = params_for(name)
    first = make(sandbox, p)
    for step in STEPS[:4]:
        getattr(first, step)()

    def crash(*_: Any, **__: Any) -> None:
        raise ClusterError("injected crash before the secret was written")

    monkeypatch.setattr(first.source, "write_secret", crash)
    with pytest.raises(ClusterError, match="injected crash"):
        first.source_secret()
    assert len(deploy_keys(sandbox, p)) == 1
    monkeypatch.undo()
    second = make(sandbox, p)
    second.run()
    check_bootstrapped(sandbox, second)


def test_a_different_path_is_refused(sandbox: Sandbox, name: str) -> None:
    make(sandbox, params_for(name)).run()
    moved = params_for(name, path=f"./clusters/elsewhere/{name}")
    with pytest.raises(ClusterError, match=r'sync path configuration \("\./clusters/elsewhere/.*"\) would overwrite path'):
        make(sandbox, moved).preflight()


@pytest.mark.parametrize(("scenario", "message"), [
    ("deploy-key-revoked", "unable to authenticate, attempted methods [none publickey]"),
    ("known-hosts-mismatch", "knownhosts: key mismatch"),
])
def test_source_faults_end_in_clear_errors(sandbox: Sandbox, name: str, scenario: str, message: str) -> None:
    p = params_for(name)
    make(sandbox, p).run()
    sandbox.inject_fault(p.id, scenario)
    try:
        with pytest.raises(ClusterError) as info:
            make(sandbox, p).run()
        text = str(info.value)
        assert "GitRepository flux-system/flux-system is not ready" in text and message in text
        assert f"kubectl --context sandbox-{p.stage}-{p.cluster} -n flux-system describe gitrepository flux-system" in text
        assert f"runbooks/troubleshoot.ipynb out.ipynb -p cluster {p.cluster} -p stage {p.stage}" in text
    finally:
        sandbox.clear_fault(p.id, scenario)


def test_rate_limited_github_ends_in_a_clear_error(sandbox: Sandbox, name: str) -> None:
    p = params_for(name)
    make(sandbox, p).run()
    sandbox.inject_fault(p.id, "github-rate-limited")
    try:
        with pytest.raises(GitError, match="GitHub answered 403 API rate limit exceeded"):
            make(sandbox, p).preflight()
    finally:
        sandbox.clear_fault(p.id, "github-rate-limited")


def test_rotate_key_replaces_the_deploy_key_without_a_gap(sandbox: Sandbox, name: str) -> None:
    p = params_for(name)
    first = make(sandbox, p)
    first.run()
    rotated = make(sandbox, p, rotate_key=True)
    rotated.run()
    assert rotated.key_fingerprint != first.key_fingerprint
    keys = deploy_keys(sandbox, p)
    assert len(keys) == 1 and keys[0]["key"].split()[1] in base64.b64decode(
        rotated.kube.get("v1", "Secret", "flux-system", "flux-system")["data"]["identity.pub"]).decode()
    check_bootstrapped(sandbox, rotated)


def test_every_shipped_cluster_bootstraps(tmp_path: Path) -> None:
    sandbox = Sandbox.running(tmp_path / "home")
    catalog = Catalog.load(REPO)
    for cid in catalog.clusters:
        p = catalog.resolve(cid.cluster, stage=cid.stage)
        boot = make(sandbox, p)
        boot.run()
        check_bootstrapped(sandbox, boot)
    sandbox.stop()


def test_no_private_key_or_token_reaches_the_executed_notebook(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env_before = dict(os.environ)
    os.environ["FLEET_HOME"] = str(home)
    try:
        out = tmp_path / "bootstrap.ipynb"
        papermill.execute_notebook(str(REPO / "runbooks" / "bootstrap.ipynb"), str(out),
                                   parameters={"cluster": "services-amer"}, progress_bar=False, cwd=str(REPO))
        text = out.read_text()
        token = github_token(home)
        assert "PRIVATE KEY" not in text and token not in text
        kernel_secret = (home / "sandbox" / "pki" / "token").read_text().strip()
        assert kernel_secret not in text
        assert "✔ all components are healthy" in text
    finally:
        os.environ.clear()
        os.environ.update(env_before)


def test_a_branch_that_moved_is_retried_from_a_fresh_clone(sandbox: Sandbox, name: str) -> None:
    p = params_for(name)
    boot = make(sandbox, p)
    boot.preflight()
    boot.repository()
    # someone pushes to the branch between our clone and our push
    sandbox.hub.bare(p.owner, p.repository).commit_file("main", "README.md", b"hello\n", message="Add README",
                                                         author=("someone", "s@x"))
    boot.echo = True
    boot.components()
    bare = sandbox.hub.bare(p.owner, p.repository)
    log = bare.git("log", "--format=%s", "main").splitlines()
    assert log[:2] == ["Add Flux v2.5.1 component manifests", "Add README"]


def test_dry_run_shows_diffs_objects_and_github_calls(sandbox: Sandbox, name: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    p = params_for(name)
    make(sandbox, p).run()
    moved = params_for(name, interval="5m")
    boot = make(sandbox, moved, dry_run=True)
    boot.echo = True
    boot.run()
    out = capsys.readouterr().out
    assert "would write clusters/stages/boot/clusters/" in out and "-  interval: 1m0s" in out and "+  interval: 5m0s" in out
    fresh = make(sandbox, params_for(name + "x"), dry_run=True)
    fresh.echo = True
    fresh.run()
    out = capsys.readouterr().out
    assert "would POST /user/repos" in out and "would server-side apply 31 objects" in out
    assert f"POST /repos/JiwooL0920/fleet-{name}x/keys" in out


def test_troubleshoot_runbook_records_the_root_cause(tmp_path: Path) -> None:
    from fleetlib.record import read_records

    home = tmp_path / "home"
    sandbox = Sandbox.running(home)
    p = Catalog.load(REPO).resolve("services-amer", stage="dev")
    make(sandbox, p).run()
    sandbox.inject_fault(p.id, "known-hosts-mismatch")
    env_before = dict(os.environ)
    os.environ["FLEET_HOME"] = str(home)
    try:
        import time

        deadline = time.time() + 30
        while time.time() < deadline:  # let the source-controller meet the new host key
            repo = sandbox.add_cluster(p.id)
            obj = repo.get(repo.registry().by_kind("source.toolkit.fluxcd.io/v1", "GitRepository"), "flux-system",
                           "flux-system")
            if any(c["type"] == "Ready" and c["status"] == "False" for c in obj["status"].get("conditions", [])):
                break
            time.sleep(0.2)
        out = tmp_path / "troubleshoot.ipynb"
        with pytest.raises(papermill.PapermillExecutionError) as failed:  # the verdict: a finding at error
            papermill.execute_notebook(str(REPO / "runbooks" / "troubleshoot.ipynb"), str(out),
                                       parameters={"cluster": "services-amer"}, progress_bar=False, cwd=str(REPO))
        assert "known-hosts-mismatch on GitRepository/flux-system/flux-system" in failed.value.evalue
        assert "conclude" in failed.value.source
        records = read_records(out)
        first = records["findings"][0]
        assert first["id"] == "known-hosts-mismatch" and first["object"] == "GitRepository/flux-system/flux-system"
        assert records["summary"]["severities"]["error"] >= 1
    finally:
        os.environ.clear()
        os.environ.update(env_before)
        sandbox.clear_fault(p.id, "known-hosts-mismatch")
        sandbox.stop()


def test_clusters_sharing_a_new_repository_bootstrap_at_once(sandbox: Sandbox, name: str) -> None:
    """A fleet run bootstraps clusters in parallel: the repository is created once, pushes that lose a race
    are retried from a fresh clone, and each cluster accepts the newer head that contains its commits."""
    from concurrent.futures import ThreadPoolExecutor

    clusters = [params_for(f"{name}-{i}", repository=f"fleet-{name}", path=f"./clusters/stages/boot/clusters/{name}-{i}")
                for i in range(3)]
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda p: make(sandbox, p).run(), clusters))
    assert all(set(table["status"]) <= {"done", "up to date"} for table in results)
    bare = sandbox.hub.bare(clusters[0].owner, clusters[0].repository)
    head = bare.branch_sha("main")
    assert head
    for p in clusters:
        assert bare.entry(head, p.path.removeprefix("./") + "/flux-system/gotk-sync.yaml") is not None
    assert len(deploy_keys(sandbox, clusters[0])) == 3
