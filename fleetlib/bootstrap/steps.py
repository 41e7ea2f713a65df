"""The bootstrap's account of itself: its plan before it starts, a ✔/✗ line per action (when echoing) and a
row per step with its status (done, up to date, skipped, would change, failed), detail and duration."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pandas as pd

from fleetlib.errors import FleetError
from fleetlib.model import Duration
from fleetlib.parameters import ClusterParams


@dataclass
class Step:
    step: str
    status: str  # done, up to date, skipped, would change, failed
    detail: str
    seconds: float = 0.0


class StepLog:
    def __init__(self, *, echo: bool = True) -> None:
        self.echo = echo
        self.steps: list[Step] = []

    def say(self, mark: str, text: str) -> None:
        if self.echo:
            print(f"{mark} {text}", flush=True)

    @contextmanager
    def step(self, name: str) -> Iterator[list[str]]:
        """A step: the body appends its status and detail to the list it is given; a FleetError records the
        step as failed, prints ✗ and propagates."""
        notes: list[str] = []
        start = time.monotonic()
        try:
            yield notes
        except FleetError as e:
            self.steps.append(Step(name, "failed", e.message, time.monotonic() - start))
            self.say("✗", str(e))
            raise
        status, detail = (notes + ["done", ""])[:2] if notes else ("done", "")
        self.steps.append(Step(name, status, detail, round(time.monotonic() - start, 2)))

    def table(self) -> pd.DataFrame:
        return pd.DataFrame([vars(s) for s in self.steps], columns=["step", "status", "detail", "seconds"])


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
