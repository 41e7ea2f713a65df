"""Charts the runbooks display, as matplotlib Figures built from DataFrames (no notebook logic).

    fig = reconcile_timeline(fluxview.events(facts))
    fig = readiness_summary(fluxview.get(facts))
"""

from __future__ import annotations

from datetime import datetime

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

COLOURS = {"Normal": "#2e7d32", "Warning": "#c62828"}


def reconcile_timeline(events: pd.DataFrame, *, title: str = "Flux events") -> Figure:
    """One row per object, one dot per event at its last-seen time, coloured by type."""
    fig, ax = plt.subplots(figsize=(10, max(2.0, 0.4 * max(1, events["object"].nunique() if len(events) else 1))))
    if events.empty:
        ax.text(0.5, 0.5, "no events", ha="center", va="center", transform=ax.transAxes)
    else:
        objects = sorted(events["object"].unique())
        for kind, colour in COLOURS.items():
            rows = events[events["type"] == kind]
            if rows.empty:
                continue
            times = [datetime.fromisoformat(str(t).replace("Z", "+00:00")) for t in rows["last_seen"]]
            ax.scatter(times, [objects.index(o) for o in rows["object"]], c=colour, label=kind, s=30)
        ax.set_yticks(range(len(objects)), objects)
        ax.legend(loc="upper left")
        fig.autofmt_xdate()
    ax.set_title(title)
    fig.tight_layout()
    plt.close(fig)
    return fig


def readiness_summary(objects: pd.DataFrame, *, title: str = "Readiness per kind") -> Figure:
    """Stacked bars per kind: ready, not ready, suspended."""
    fig, ax = plt.subplots(figsize=(8, 3))
    if objects.empty:
        ax.text(0.5, 0.5, "no Flux objects", ha="center", va="center", transform=ax.transAxes)
    else:
        state = objects.assign(state=objects.apply(lambda r: "suspended" if r["suspended"] else (
            "ready" if r["ready"] == "True" else "not ready"), axis=1))
        table = state.groupby(["kind", "state"]).size().unstack(fill_value=0)
        for column in ("ready", "not ready", "suspended"):
            if column not in table:
                table[column] = 0
        table[["ready", "not ready", "suspended"]].plot.barh(stacked=True, ax=ax,
                                                             color=["#2e7d32", "#c62828", "#9e9e9e"])
        ax.set_xlabel("objects")
    ax.set_title(title)
    fig.tight_layout()
    plt.close(fig)
    return fig
