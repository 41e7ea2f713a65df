"""Charts the runbooks display, as matplotlib Figures built from DataFrames (no notebook logic).

    fig = reconcile_timeline(fluxview.events(facts))
    fig = readiness_summary(fluxview.get(facts))
    fig = usage_over_time(usage, lines={"request": 0.05, "recommended request": 0.012}, resource="cpu")
    fig = fleet_view(rows, resource="memory", kind="request")
    fig = fleet_usage(usage_rows, resource="memory")
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import TwoSlopeNorm
from matplotlib.dates import date2num
from matplotlib.figure import Figure

from fleetlib.metrics import PodSeries

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
            times = np.array([str(t).removesuffix("Z") for t in rows["last_seen"]], dtype="datetime64[s]")  # UTC
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


# --- resource tuning ---------------------------------------------------------------------------------

UNITS = {"cpu": (1000.0, "millicores"), "memory": (2.0**-20, "MiB")}
LINE_STYLES = {"request": ("#1565c0", "-"), "limit": ("#c62828", "--"), "recommended request": ("#2e7d32", "-"),
               "recommended limit": ("#2e7d32", "--")}
MAX_PLOTTED = 2000


def _thin(ts: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """At most MAX_PLOTTED points: the maximum of each bucket, so peaks stay visible."""
    if ts.size <= MAX_PLOTTED:
        return ts, values
    edges = np.linspace(0, ts.size, MAX_PLOTTED + 1).astype(int)
    return ts[edges[:-1]], np.maximum.reduceat(np.nan_to_num(values, nan=0.0), edges[:-1])


def _axes(ax: Axes | None, size: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.get_figure(), ax  # type: ignore[return-value]
    return plt.subplots(figsize=size)


def usage_over_time(series: Sequence[PodSeries], *, resource: str, lines: Mapping[str, float | None],
                    title: str = "", ax: Axes | None = None, kills: Sequence[float] = ()) -> Figure:
    """Usage per pod over the window, with the current request and limit and the recommendation as lines, and the
    times its container was OOM-killed (`kills`, epoch seconds) as red marks."""
    scale, unit = UNITS[resource]
    fig, ax = _axes(ax, (10, 3))
    if not any(len(s.values) for s in series):
        ax.text(0.5, 0.5, "no samples", ha="center", va="center", transform=ax.transAxes)
    for i, s in enumerate(series):  # one legend entry for the pods (their names are long and say little here)
        ts, values = _thin(s.timestamps, s.values)
        ax.plot((np.asarray(ts) * 1000).astype("datetime64[ms]"), values * scale, lw=0.7, color="#616161",
                label=(f"usage ({len(series)} pods)" if len(series) > 1 else "usage") if i == 0 else "_nolegend_")
    peak = max([float(np.nanmax(s.values)) for s in series if len(s.values)] or [0.0])
    shown = [v for k, v in lines.items() if v is not None and k != "limit"]
    top = max([peak, *shown]) * 1.3 or 1.0
    off = []
    for name, value in lines.items():
        if value is not None:
            colour, style = LINE_STYLES.get(name, ("#6a1b9a", ":"))
            above = value > top
            if above:  # drawn as a note at the top edge, not as a line hidden on the frame
                off.append((f"{name} {value * scale:.0f} {unit} ↑ off the scale", colour))
                continue
            ax.axhline(value * scale, color=colour, ls=style, lw=1.4, label=f"{name} {value * scale:.0f} {unit}")
    for n, when in enumerate(sorted(kills)):
        ax.axvline(float(date2num(np.datetime64(int(when * 1000), "ms"))), color="#b71c1c", lw=1.0, ls="-.",
                   label="OOM kill" if n == 0 else "_nolegend_")
    for k, (text, colour) in enumerate(off):
        ax.annotate(text, xy=(0.99, 0.97 - 0.09 * k), xycoords="axes fraction", ha="right", va="top", fontsize=6,
                    color=colour)
    ax.set_ylim(0, top * scale)
    ax.set_ylabel(unit)
    ax.set_title(title or f"{resource} usage", fontsize=9)
    ax.legend(loc="upper left", fontsize=6, ncol=2, framealpha=0.8)
    ax.tick_params(axis="x", labelsize=7, rotation=20)
    plt.close(fig)
    return fig


def usage_distribution(series: Sequence[PodSeries], *, resource: str, percentile: float,
                       recommended: float | None = None, title: str = "", ax: Axes | None = None) -> Figure:
    """Histogram of all samples with the chosen percentile (CPU) or the peak (memory) marked."""
    scale, unit = UNITS[resource]
    values = np.concatenate([s.values[np.isfinite(s.values)] for s in series]) if series else np.array([])
    fig, ax = _axes(ax, (6, 3))
    if values.size == 0:
        ax.text(0.5, 0.5, "no samples", ha="center", va="center", transform=ax.transAxes)
    else:
        ax.hist(values * scale, bins=60, color="#90a4ae")
        mark, label = ((np.percentile(values, percentile), f"p{percentile:g}") if resource == "cpu"
                       else (values.max(), "peak"))
        ax.axvline(mark * scale, color="#1565c0", lw=1.5, label=f"{label} {mark * scale:.1f} {unit}")
        if recommended is not None:
            ax.axvline(recommended * scale, color="#2e7d32", ls="--", lw=1.5,
                       label=f"recommended {recommended * scale:.0f} {unit}")
        ax.legend(fontsize=7)
    ax.set_xlabel(unit)
    ax.set_ylabel("samples")
    ax.set_title(title or f"{resource} distribution", fontsize=9)
    plt.close(fig)
    return fig


def fleet_view(rows: Sequence[Mapping[str, Any]] | pd.DataFrame, *, resource: str = "memory", kind: str = "request",
               title: str = "") -> Figure:
    """Clusters x controllers, coloured by recommended / current (log scale: blue shrinks, red grows)."""
    frame = pd.DataFrame(rows)
    fig, ax = plt.subplots(figsize=(8, 0.5 * max(3, frame["cluster"].nunique() if len(frame) else 3) + 1.5))
    mine = frame[(frame["resource"] == resource) & (frame["kind"] == kind)] if len(frame) else frame
    mine = mine.dropna(subset=["current_value", "recommended_value"]) if len(mine) else mine
    if mine.empty:
        ax.text(0.5, 0.5, "no recommendations", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    elif mine["cluster"].nunique() == 1:  # one cluster: its controllers' current and recommended values, as bars
        scale, unit = UNITS[resource]
        names = [str(c).removesuffix("-controller") for c in mine["controller"]]
        y = np.arange(len(mine))
        ax.barh(y - 0.2, mine["current_value"].astype(float) * scale, height=0.4, color="#1565c0", label="current")
        ax.barh(y + 0.2, mine["recommended_value"].astype(float) * scale, height=0.4, color="#2e7d32",
                label="recommended")
        ax.set_yticks(y, names)
        ax.invert_yaxis()
        ax.set_xlabel(unit)
        ax.legend(fontsize=7, loc="lower right")
        title = title or f"{mine['cluster'].iloc[0]}: {resource} {kind}, current and recommended"
    else:
        ratio = (mine["recommended_value"] / mine["current_value"]).astype(float)
        table = mine.assign(ratio=np.log2(ratio)).pivot_table(index="cluster", columns="controller", values="ratio")
        limit = max(1.0, float(np.nanmax(np.abs(table.to_numpy()))))
        image = ax.imshow(table.to_numpy(), cmap="coolwarm", norm=TwoSlopeNorm(0.0, -limit, limit), aspect="auto")
        ax.set_xticks(range(table.shape[1]), [c.removesuffix("-controller") for c in table.columns])
        ax.set_yticks(range(table.shape[0]), list(table.index))
        for (i, j), value in np.ndenumerate(table.to_numpy()):
            if np.isfinite(value):
                ax.text(j, i, f"x{2 ** value:.2f}", ha="center", va="center", fontsize=8)
        fig.colorbar(image, ax=ax, label="log2(recommended / current)")
    ax.set_title(title or f"{resource} {kind}: recommended / current")
    fig.tight_layout()
    plt.close(fig)
    return fig


def fleet_usage(rows: Sequence[Mapping[str, Any]] | pd.DataFrame, *, resource: str = "memory",
                title: str = "") -> Figure:
    """Each cluster's controllers, one row each: p95 usage as a bar with the median and the peak marked, beside the
    current request and limit (a limit far off the scale is a note at the row's end, not a squashed axis), and a
    red row label where the container was OOM-killed (from the tuning runbook's `usage` records)."""
    frame = pd.DataFrame(rows)
    mine = frame[frame["resource"] == resource].reset_index(drop=True) if len(frame) else frame
    fig, ax = plt.subplots(figsize=(9, 0.32 * max(4, len(mine)) + 1.3))
    if mine.empty or mine["p95"].isna().all():
        ax.text(0.5, 0.5, "no usage recorded", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        plt.close(fig)
        return fig
    scale, unit = UNITS[resource]

    def values(column: str) -> np.ndarray:
        return pd.to_numeric(mine[column], errors="coerce").to_numpy(dtype=float) * scale

    p50, p95, peak, request, limit = (values(c) for c in ("p50", "p95", "peak", "request", "limit"))
    top = float(np.nanmax(np.concatenate([peak, request, p95]))) * 1.25 or 1.0
    y = np.arange(len(mine))
    ax.barh(y, np.nan_to_num(p95), height=0.55, color="#90caf9", label="p95 usage")
    ax.plot(p50, y, "|", color="#0d47a1", ms=9, mew=1.5, label="median")
    ax.plot(peak, y, "o", color="#0d47a1", ms=3.5, label="peak")
    ax.plot(request, y, "d", color="#2e7d32", ms=6, label="request")
    shown = np.where(limit <= top, limit, np.nan)
    ax.plot(shown, y, "s", color="#c62828", ms=5, label="limit")
    for i, value in enumerate(limit):
        if np.isfinite(value) and value > top:
            ax.annotate(f"limit {value:.0f} {unit} →", xy=(0.995, i), xycoords=("axes fraction", "data"),
                        ha="right", va="center", fontsize=6, color="#c62828")
    killed = pd.to_numeric(mine["oom_kills"], errors="coerce").fillna(0).astype(int).tolist() \
        if "oom_kills" in mine else [0] * len(mine)
    labels = [f"{c} · {str(n).removesuffix('-controller')}" + (f" ({k} OOM)" if k else "")
              for c, n, k in zip(mine["cluster"], mine["controller"], killed, strict=True)]
    ax.set_yticks(y, labels, fontsize=7)
    for tick, kills in zip(ax.get_yticklabels(), killed, strict=True):
        if kills:
            tick.set_color("#b71c1c")
    ax.invert_yaxis()
    ax.set_xlim(0, top)
    ax.set_xlabel(unit)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.5 / (0.32 * max(4, len(mine)))), ncol=5,
              frameon=False)  # below the axis label: never over a row or an off-scale note
    ax.set_title(title or f"{resource}: usage of each controller across the fleet, with its request and limit",
                 fontsize=9)
    fig.tight_layout()
    plt.close(fig)
    return fig
