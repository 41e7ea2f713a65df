"""What a runbook's outputs say as text: papermill's `--log-output`, `jupyter nbconvert --to markdown` and a terminal
read an output's text/plain form, where pandas would print 282-column lines wrapped with `\\`, `Empty DataFrame` and
`<Figure size 800x300 with 1 Axes>`. `install()` (called by runbook.start) registers, in the kernel, a text form
for tables as the flux CLI prints them (aligned columns, at most 100 columns, long text wrapped in its own column;
one line saying so for an empty table) and for charts (what the chart shows: its title, axes and series). The HTML
table and the PNG image JupyterLab shows are unchanged.

    install()                      # in a notebook's kernel; nothing outside IPython
    table_text(df)                 # the same text, anywhere
"""

from __future__ import annotations

import textwrap
from typing import Any

import pandas as pd

from fleetlib.texttable import WIDTH, render_table


def table_text(frame: pd.DataFrame, *, width: int = WIDTH) -> str:
    """A DataFrame as aligned columns within `width` (its `attrs["text_columns"]` only, when set); an empty one as
    one line (its `attrs["empty"]`, if set)."""
    if frame.empty:
        return str(frame.attrs.get("empty") or "(nothing to show)")
    data = frame.reset_index() if _named_index(frame) else frame
    wanted = frame.attrs.get("text_columns")  # the columns a terminal shows, as the flux CLI's (HTML shows all)
    columns = [str(c) for c in data.columns if not wanted or c in wanted]
    rows = [{str(k): _cell(v) for k, v in record.items()} for record in data.to_dict("records")]
    return render_table(rows, columns, width=width)


def _named_index(frame: pd.DataFrame) -> bool:
    return any(name is not None for name in frame.index.names)


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "-"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def figure_text(figure: Any) -> str:
    """What a matplotlib figure shows, in words: its title, and each plot's title, axes and series."""
    parts = []
    title = figure._suptitle.get_text() if getattr(figure, "_suptitle", None) else ""
    if title:
        parts.append(title)
    for ax in figure.get_axes():
        if not ax.get_visible():
            continue
        if not ax.has_data() and not ax.get_title():  # a placeholder ("no samples") says so in its text
            parts += [t.get_text() for t in ax.texts if t.get_visible() and t.get_text()]
            continue
        what = ax.get_title() or "a plot"
        axes = " against ".join(x for x in (ax.get_ylabel(), ax.get_xlabel()) if x)
        series = [str(line.get_label()) for line in ax.get_lines() if not str(line.get_label()).startswith("_")]
        series += [str(c.get_label()) for c in ax.containers if not str(c.get_label()).startswith("_")]
        legend = ax.get_legend()
        if legend is not None:
            series += [t.get_text() for t in legend.get_texts() if t.get_text() not in series]
        text = what + (f": {axes}" if axes else "")
        if series:
            shown = series[:8]
            text += f" ({', '.join(shown)}{f' and {len(series) - 8} more' if len(series) > 8 else ''})"
        parts.append(text)
    if not parts:
        return "chart: empty"
    lines = []  # one line per plot, wrapped to a 100-column terminal
    for i, part in enumerate(parts):
        lines += textwrap.wrap(("chart: " if i == 0 else "  ") + part, WIDTH, subsequent_indent="    ",
                               break_long_words=True, break_on_hyphens=False)
    return "\n".join(lines)


def install() -> None:
    """Register the text forms in the running IPython kernel (nothing to do outside one)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is installed with jupyterlab
        return
    shell = get_ipython()
    if shell is None or getattr(shell, "_fleetlib_textview", False):  # once per kernel, however many runs start
        return
    shell._fleetlib_textview = True
    plain = shell.display_formatter.formatters["text/plain"]
    plain.for_type(pd.DataFrame, lambda obj, p, cycle: p.text(table_text(obj)))
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    plt.close(plt.figure())  # the inline backend sets itself up now (clearing Figure's formatters), not later

    def register(*_: Any) -> None:
        plain.for_type(Figure, lambda obj, p, cycle: p.text(figure_text(obj)))

    register()
    shell.events.register("pre_execute", register)  # should anything select the figure formats again
