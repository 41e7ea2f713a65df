"""Plain-text tables for the terminal, as kubectl prints them (upper-case headers, padded columns).

    print(render_table([{"stage": "dev", "cluster": "services-amer"}], ["stage", "cluster"]))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def render_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    cells = [[str(r.get(c, "") if r.get(c) is not None else "-") for c in columns] for r in rows]
    widths = [max(len(c.upper()), *(len(row[i]) for row in cells)) if cells else len(c) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)
