"""The bootstrap's plan before it starts (its account of each step is fleetlib.steplog)."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from fleetlib.model import Duration
from fleetlib.parameters import ClusterParams


def plan_table(params: ClusterParams, context: str, files: Iterable[str], notes: Iterable[str], *,
               dry_run: bool) -> pd.DataFrame:
    """What a bootstrap will do, before it does anything: the cluster, repository, sync, key and files."""
    p = params
    rows = [("cluster", f"{p.id} (target {p.target}, context {context})"),
            ("repository", f"{p.repo_slug} on {p.hostname} ({'personal' if p.personal else 'organisation'}, "
                           f"{'private' if p.private else 'public'}), branch {p.branch}"),
            ("path", p.path), ("flux", f"{p.version}: {', '.join(p.all_components)}"),
            ("namespace", p.namespace), ("registry", p.registry),
            ("sync", f"GitRepository every {Duration.parse(p.interval).go()}, Kustomization every "
                     f"{Duration.parse(p.kustomization_interval).go()}, prune {str(p.prune).lower()}"),
            ("deploy key", f"{'read-write' if p.read_write_key else 'read-only'} {p.ssh_key_algorithm}"
                           f"{'-' + p.ssh_ecdsa_curve if p.ssh_key_algorithm == 'ecdsa' else ''}, "
                           f"secret {p.namespace}/{p.secret_name}"),
            ("files", ", ".join(files)),
            ("mode", "dry run: nothing will change" if dry_run else "apply"),
            *(("note", note) for note in notes)]
    return pd.DataFrame(rows, columns=["what", "value"])
