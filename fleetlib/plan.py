"""Side effects as values: a change is first a plan a notebook can show, then applied.

    plan = plan_scaffold(catalog, ClusterId("dev", "edge-1"))
    print(plan)            # what would be written
    plan.apply()           # writes it, all or nothing per file
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fleetlib.files import write_atomic


@dataclass(frozen=True)
class FileWrite:
    """Write `content` to `path`; with `create_only`, refuse to replace an existing file."""

    path: Path
    content: str
    create_only: bool = True

    def __str__(self) -> str:
        verb = "create" if self.create_only else "write"
        return f"{verb} {self.path}"

    def apply(self) -> None:
        write_atomic(self.path, self.content, exclusive=self.create_only)
