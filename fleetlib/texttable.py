"""Plain-text tables for the terminal, as kubectl and the flux CLI print them: upper-case headers, padded columns,
one line per row; with `width` (WIDTH is a 100-column terminal), when the natural widths do not fit, the widest
columns are narrowed and their text wrapped within the column, so every other column stays aligned.

    print(render_table([{"stage": "dev", "cluster": "services-amer"}], ["stage", "cluster"]))
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

WIDTH = 100
GAP = 2
MIN_COLUMN = 12
PROSE_MIN = 20
LAST_RESORT = 4
"""How narrow a column may get when many columns must share the width (a table of a dozen columns)."""


def fit_widths(natural: Sequence[int], minimum: Sequence[int], width: int,
               prose: Sequence[bool] | None = None) -> list[int]:
    """Column widths whose sum with the gaps is at most `width`: the widest column of prose (text that wraps at
    spaces) gives up a character at a time down to PROSE_MIN, then the widest of any column down to its minimum
    (names and ids break only when nothing else can give), then down to LAST_RESORT, as long as something can."""
    widths = list(natural)
    budget = width - GAP * (len(widths) - 1)
    floors = [[max(minimum[i], PROSE_MIN) if (prose or [])[i:i + 1] == [True] else natural[i]
               for i in range(len(widths))], list(minimum), [min(n, LAST_RESORT) for n in natural]]
    for floor in floors:
        while sum(widths) > budget:
            shrinkable = [i for i, w in enumerate(widths) if w > floor[i]]
            if not shrinkable:
                break
            widths[max(shrinkable, key=lambda i: widths[i])] -= 1
    return widths


def render_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], *, width: int | None = None) -> str:
    cells = [[str(r.get(c, "") if r.get(c) is not None else "-") for c in columns] for r in rows]
    headers = [c.upper() for c in columns]
    natural = [max(len(h), *(len(line) for row in cells for line in row[i].splitlines() or [""]))
               for i, h in enumerate(headers)]
    prose = [any(" " in row[i] for row in cells) for i in range(len(columns))]
    widths = natural if width is None else fit_widths(natural, [min(n, MIN_COLUMN) for n in natural], width, prose)
    lines: list[str] = []
    for row in [headers, *cells]:  # a header too long for its column wraps like any cell
        wrapped = [_wrap(text, w) for text, w in zip(row, widths, strict=True)]
        for k in range(max(len(parts) for parts in wrapped)):
            lines.append((" " * GAP).join((parts[k] if k < len(parts) else "").ljust(w)
                                          for parts, w in zip(wrapped, widths, strict=True)).rstrip())
    return "\n".join(lines)


def _wrap(text: str, width: int) -> list[str]:
    out: list[str] = []
    for line in text.splitlines() or [""]:
        out += textwrap.wrap(line, width, break_long_words=True, break_on_hyphens=False) or [""]
    return out
