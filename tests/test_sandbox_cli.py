"""`fleet sandbox serve|kubeconfig|status|reset` from the terminal, with kubectl as the client."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from .conftest import REPO, _kubectl


def fleet(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fleetlib", *args], cwd=REPO, env={**os.environ, "FLEET_HOME": str(home)},
                          capture_output=True, text=True, timeout=120, check=False)


def test_serve_kubeconfig_status_reset(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert fleet(home, "sandbox", "kubeconfig").returncode == 1
    proc = subprocess.Popen([sys.executable, "-m", "fleetlib", "sandbox", "serve", "--all"], cwd=REPO,
                            env={**os.environ, "FLEET_HOME": str(home)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        lines = []
        while not lines or "press Ctrl-C" not in lines[-1]:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            assert line, proc.stderr.read()  # type: ignore[union-attr]
            lines.append(line)
        assert lines[0].startswith("sandbox serving 4 cluster(s): dev/other-dev-cluster, dev/services-amer")
        kubeconfig = fleet(home, "sandbox", "kubeconfig", "--cluster", "services-amer").stdout.strip()
        assert kubeconfig == str(home / "sandbox" / "kubeconfig")
        contexts = subprocess.run([_kubectl(), "--kubeconfig", kubeconfig, "config", "get-contexts", "-o", "name"],
                                  capture_output=True, text=True, check=True).stdout.split()
        assert sorted(contexts) == ["sandbox-dev-other-dev-cluster", "sandbox-dev-services-amer",
                                    "sandbox-prod-services-amer", "sandbox-staging-services-amer"]
        namespaces = subprocess.run([_kubectl(), "--kubeconfig", kubeconfig, "--context", "sandbox-prod-services-amer",
                                     "get", "ns", "-o", "name"], capture_output=True, text=True, check=True).stdout
        assert "namespace/kube-system" in namespaces
        st = fleet(home, "sandbox", "status")
        assert "services-amer" in st.stdout and f"serving: process {proc.pid}" in st.stdout
        refused = fleet(home, "sandbox", "reset")
        assert refused.returncode == 1 and "is serving" in refused.stderr
        again = fleet(home, "sandbox", "serve")
        assert again.returncode == 1 and "already serving" in again.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    assert proc.returncode == 0
    assert not (home / "sandbox" / "kubeconfig").exists()
    done = fleet(home, "sandbox", "reset", "--stage", "dev", "--cluster", "services-amer")
    assert done.returncode == 0 and "clusters/dev/services-amer" in done.stdout
    assert "dev      services-amer" not in fleet(home, "sandbox", "status").stdout
    assert fleet(home, "sandbox", "reset").returncode == 0
    assert not (home / "sandbox" / "clusters").exists()


def test_reset_says_it_keeps_the_clusters_folder_and_can_remove_it(tmp_path: Path) -> None:
    """The cluster's folder in the sandbox's fleet repository survives a reset (the next bootstrap applies it
    again), and the reset says so; --repo-folder removes it in a commit."""
    from fleetlab.github.home import github_token, sandbox_root
    from fleetlab.github.hub import Hub

    home = tmp_path / "home"
    hub = Hub(sandbox_root(home) / "github", token=github_token(home))
    hub.ensure_account("JiwooL0920", personal=True)
    hub.create_repo("JiwooL0920", "fleet-infra", private=True)
    folder = "clusters/stages/dev/clusters/services-amer"
    bare = hub.bare("JiwooL0920", "fleet-infra")
    bare.commit_files("main", {f"{folder}/apps/seeded.yaml": b"kind: ConfigMap\n", "README.md": b"fleet\n"},
                      message="seed", author=("t", "t@x"))
    kept = fleet(home, "sandbox", "reset", "--stage", "dev", "--cluster", "services-amer")
    assert kept.returncode == 0 and f"kept JiwooL0920/fleet-infra@main:{folder}" in kept.stdout
    assert bare.entry(str(bare.branch_sha("main")), folder) is not None
    gone = fleet(home, "sandbox", "reset", "--stage", "dev", "--cluster", "services-amer", "--repo-folder")
    assert gone.returncode == 0 and f"removed JiwooL0920/fleet-infra@main:{folder}" in gone.stdout, gone.stderr
    head = str(bare.branch_sha("main"))
    assert bare.entry(head, folder) is None and bare.entry(head, "README.md") is not None  # only that folder
