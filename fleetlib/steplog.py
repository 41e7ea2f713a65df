"""How fleetlib's flows account for themselves: a ✔/✗/►/~ line per action (when echoing) and a row per step
with its status (done, up to date, skipped, would change, failed), detail and duration. The bootstrap, tuning,
add-app and alerts flows all print through it.

    log = StepLog(echo=True)
    with log.step("repository") as notes:
        log.say("✔", "cloned repository"); notes += ["done", "branch main"]
"""

from __future__ import annotations

import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pandas as pd

from fleetlib.errors import FleetError
from fleetlib.texttable import WIDTH


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
        """One progress line as the flux CLI prints them (`► ...`, `✔ ...`), wrapped to a 100-column terminal with
        its continuation indented under the text; a word longer than a line (a key, a URL) is split."""
        if self.echo:
            lines = []
            for paragraph in text.splitlines() or [""]:
                lines += textwrap.wrap(paragraph, WIDTH - 2, break_long_words=True, break_on_hyphens=False) or [""]
            print(f"{mark} " + "\n  ".join(lines), flush=True)

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
