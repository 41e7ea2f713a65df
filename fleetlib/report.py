"""The fleet report of one or more runs: what each cluster's notebook recorded, as pandas tables, charts
and one self-contained HTML page (charts inlined as PNG), plus a CSV per table.

Tables, each present when some run recorded it:
- `runs`: per cluster and runbook, the status, duration, failing cell and error (from index.json);
- `bootstrap`: per cluster, the bootstrap status, Flux version, revision and commits;
- `findings`: every troubleshooting finding, and `severity` counts per cluster;
- `recommendations`: the tuning rows across the fleet;
- `usage`: per cluster and controller, what it used (median, p95, peak) beside its request and limit;
- `changes`: per cluster, what the add-app, alerts and tenants runbooks did (app, provider or tenant, status,
  commit);
- `drift`: per cluster, each file of its folder that two stages do not agree on (the promote runbook's
  comparison), and what a promotion did;
- `upgrades`: per cluster, the upgrade runbook's release before and after, its steps, what is left at
  deprecated or removed API versions in Git and in storage, and a preflight's refusal.

    written = write([run_folder], out=None)     # {"html": ..., "runs.csv": ..., ...}
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from fleetlib import charts
from fleetlib.files import write_atomic
from fleetlib.locations import fleet_home
from fleetlib.runindex import read_index, run_folder
from fleetlib.troubleshoot.diagnose import GROUPED_COLUMNS, grouped

SEVERITIES = ("critical", "error", "warning", "info")
SEVERITY_COLOURS = {"critical": "#6a1b9a", "error": "#c62828", "warning": "#f9a825", "info": "#90a4ae"}


@dataclass
class FleetReport:
    run_ids: list[str]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    out: Path | None = None
    """The folder the page is written in (links to the notebooks are relative to it)."""

    @classmethod
    def load(cls, folders: Sequence[Path]) -> FleetReport:
        indexes = [(Path(f), read_index(Path(f))) for f in folders]
        runs, bootstrap, findings, recommendations, usage, changes, drift, upgrades = [], [], [], [], [], [], [], []
        for folder, index in indexes:
            for c in index["clusters"]:
                cluster = f"{c['stage']}/{c['cluster']}"
                cell = c.get("cell") or {}
                notebook = folder / c["stage"] / c["cluster"] / f"{index['runbook']}.ipynb"
                runs.append({"cluster": cluster, "runbook": index["runbook"], "run": index["run_id"],
                             "status": c["status"], "seconds": c["seconds"],
                             "failing cell": "" if cell.get("index") is None else str(cell["index"]),
                             "error": c.get("error"), "notebook": str(notebook) if notebook.exists() else ""})
                records = c.get("records") or {}
                if "bootstrap" in records:
                    b = records["bootstrap"]
                    bootstrap.append({"cluster": cluster, "status": b.get("status"), "flux": b.get("flux_version"),
                                      "revision": b.get("revision"), "commits": len(b.get("commits") or []),
                                      "dry run": b.get("dry_run")})
                findings += [{"cluster": cluster, "run": index["run_id"], **f}
                             for f in grouped(records.get("findings") or [])]
                recommendations += [{**r, "cluster": cluster} for r in records.get("recommendations") or []]
                usage += [{**r, "cluster": cluster} for r in records.get("usage") or []]
                if "promote" in records:
                    drift += _drift(cluster, records["promote"])
                if "upgrade" in records:
                    u = records["upgrade"]
                    upgrades.append({"cluster": cluster, "from": u.get("from"), "to": u.get("to"),
                                     "steps": " -> ".join(u.get("steps") or []), "status": u.get("status"),
                                     "old in Git": len(u.get("git") or []), "old in storage": len(u.get("storage") or []),
                                     "refused": "; ".join(u.get("preflight") or [])})
                for key, what in (("app", "app"), ("alerts", "provider"), ("tenant", "tenant")):
                    if key in records:
                        r = records[key]
                        changes.append({"cluster": cluster, "runbook": index["runbook"],
                                        "change": f"{r.get('action', 'alerts')} {r.get(what)}",
                                        "status": r.get("status"), "commit": (r.get("commit") or "")[:12],
                                        "pull request": r.get("url"), "file": r.get("file")})
        report = cls([i["run_id"] for _, i in indexes])
        report.tables["runs"] = pd.DataFrame(runs)
        if bootstrap:
            report.tables["bootstrap"] = pd.DataFrame(bootstrap)
        if any("findings" in (c.get("records") or {}) for _, i in indexes for c in i["clusters"]):
            frame = pd.DataFrame(findings, columns=["cluster", "run", *GROUPED_COLUMNS])
            report.tables["findings"] = frame
            keys = sorted({run_label(r["cluster"], r["run"]) for r in runs if r["runbook"] == "troubleshoot"})
            labelled = frame.assign(key=[run_label(c, r) for c, r in zip(frame["cluster"], frame["run"], strict=True)])
            counts = labelled.groupby(["key", "severity"])["count"].sum().unstack(fill_value=0) if len(frame) \
                else pd.DataFrame()
            report.tables["severity"] = counts.reindex(index=keys, columns=list(SEVERITIES), fill_value=0)
            report.tables["severity"].index.name = "cluster (run)"
        if recommendations:
            report.tables["recommendations"] = pd.DataFrame(recommendations)
        if usage:
            report.tables["usage"] = pd.DataFrame(usage, columns=["cluster", "controller", "resource", "p50", "p95",
                                                                  "peak", "request", "limit", "oom_kills"])
        if changes:
            report.tables["changes"] = pd.DataFrame(changes)
        if any("promote" in (c.get("records") or {}) for _, i in indexes for c in i["clusters"]):
            report.tables["drift"] = pd.DataFrame(drift, columns=["cluster", "stages", "file", "state", "promotion"])
        if upgrades:
            report.tables["upgrades"] = pd.DataFrame(upgrades)
        return report

    # --- charts ---------------------------------------------------------------------------------

    def figures(self) -> dict[str, Figure]:
        out = {"runs": _status_chart(self.tables["runs"])}
        if "bootstrap" in self.tables:
            out["bootstrap"] = _bootstrap_chart(self.tables["bootstrap"])
        if "severity" in self.tables:
            out["findings"] = _severity_chart(self.tables["severity"])
        if "recommendations" in self.tables:
            rows = _numeric(self.tables["recommendations"])
            out["memory"] = charts.fleet_view(rows, resource="memory", kind="request")
            out["cpu"] = charts.fleet_view(rows, resource="cpu", kind="request")
        if "usage" in self.tables:
            for resource in ("memory", "cpu"):
                out[f"{resource} usage"] = charts.fleet_usage(self.tables["usage"], resource=resource)
        return out

    # --- HTML -----------------------------------------------------------------------------------

    def html(self) -> str:
        figures = self.figures()
        runs = self.tables["runs"]
        ok, failed = int((runs["status"] == "ok").sum()), int((runs["status"] != "ok").sum())
        parts = [f"<h1>Fleet report</h1><p class=meta>runs {html.escape(', '.join(self.run_ids))} · generated "
                 f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC · <b>{ok}</b> ok, <b class=bad>{failed}</b> failed</p>",
                 "<h2>Runs per cluster</h2>", _img(figures["runs"], "run status per cluster"),
                 _table(runs, links={"notebook": self.out})]
        if "bootstrap" in self.tables:
            parts += ["<h2>Bootstrap state</h2>", _img(figures["bootstrap"], "bootstrap state per cluster"),
                      _table(self.tables["bootstrap"])]
        if "findings" in self.tables:
            parts += ["<h2>Findings per cluster and severity</h2>", _img(figures["findings"], "findings per cluster"),
                      _table(self.tables["severity"].reset_index()), "<h3>Findings, one row per run, id and cause</h3>",
                      _table(self.tables["findings"])]
        if "recommendations" in self.tables:
            rec = self.tables["recommendations"]
            changes = rec[rec["recommended"].notna() & (rec["recommended"] != rec["current"])]
            parts += ["<h2>Tuning recommendations across the fleet</h2>", _img(figures["memory"], "memory requests"),
                      _img(figures["cpu"], "CPU requests"), f"<p>{len(changes)} value(s) would change.</p>",
                      _table(rec[["cluster", "controller", "resource", "kind", "current", "recommended", "severity",
                                  "reason"]])]
        if "usage" in self.tables:
            parts += ["<h2>Controller usage across the fleet</h2>",
                      _img(figures["memory usage"], "memory usage per controller"),
                      _img(figures["cpu usage"], "CPU usage per controller"), _table(_usage_text(self.tables["usage"]))]
        if "changes" in self.tables:
            parts += ["<h2>Applications, alerts and tenants</h2>", _table(self.tables["changes"])]
        if "drift" in self.tables:
            drift = self.tables["drift"]
            parts += ["<h2>Drift between stages</h2>",
                      f"<p>{(drift['state'] != 'agree').sum()} file(s) differ between stages.</p>" if len(drift) else
                      "<p>The stages agree on every file compared.</p>", _table(drift)]
        if "upgrades" in self.tables:
            parts += ["<h2>Flux upgrades</h2>", "<p>Objects at API versions the target release does not store, in "
                      "each cluster's folder and in its storage, and what the upgrade did.</p>",
                      _table(self.tables["upgrades"])]
        return PAGE.format(title="Fleet report", body="\n".join(parts))


def _drift(cluster: str, record: dict[str, Any]) -> list[dict[str, Any]]:
    """A promote record's files the stages do not agree on, and those it promoted (one row saying so when the
    cluster has no counterpart in the second stage)."""
    stages = f"{record.get('from')} → {record.get('to')}"
    promotion = "" if record.get("status") in ("compared", "no counterpart") else \
        f"{record.get('what')}: {record.get('status')}"
    if record.get("status") == "no counterpart":
        return [{"cluster": cluster, "stages": stages, "file": "", "state": "no counterpart", "promotion": ""}]
    return [{"cluster": cluster, "stages": stages, "file": f["file"], "state": f["state"],
             "promotion": promotion if f["file"] in (record.get("chosen") or []) else ""}
            for f in record.get("files") or [] if f["state"] != "agree" or f["file"] in (record.get("chosen") or [])]


def _numeric(rows: pd.DataFrame) -> pd.DataFrame:
    from fleetlib.quantity import parse_quantity

    def value(text: Any) -> float | None:
        return None if text is None or (isinstance(text, float) and pd.isna(text)) else parse_quantity(str(text))
    return rows.assign(current_value=rows["current"].map(value), recommended_value=rows["recommended"].map(value))


def _usage_text(usage: pd.DataFrame) -> pd.DataFrame:
    """The usage table in a person's units (millicores, MiB), unset values blank."""
    from fleetlib.quantity import format_cpu, format_memory

    def shown(row: pd.Series, column: str) -> str:
        value = row[column]
        if value is None or pd.isna(value):
            return ""
        return format_cpu(float(value)) if row["resource"] == "cpu" else format_memory(float(value))
    columns = ("p50", "p95", "peak", "request", "limit")
    text = usage.assign(**{c: usage.apply(shown, axis=1, args=(c,)) for c in columns})
    return text.rename(columns={"p50": "median", "oom_kills": "OOM kills"})


def run_label(cluster: str, run: str) -> str:
    """`dev/services-amer · 20261205T210041Z-088abb`: a cluster's row of one run (its time and the run id's unique
    tail), so runs of the same cluster never share a bar."""
    stamp, _, rest = run.partition("-")
    return f"{cluster} · {stamp}-{rest.rsplit('-', 1)[-1]}" if rest else f"{cluster} · {run}"


def _status_chart(runs: pd.DataFrame) -> Figure:
    fig, ax = plt.subplots(figsize=(8, 0.4 * max(3, len(runs)) + 1))
    labels = [f"{run_label(str(r.cluster), str(r.run))} ({r.runbook})" for r in runs.itertuples()]
    colours = ["#2e7d32" if s == "ok" else "#c62828" for s in runs["status"]]
    ax.barh(labels, runs["seconds"], color=colours)
    ax.set_xlabel("seconds (green ok, red failed)")
    ax.invert_yaxis()
    ax.set_title("Runs per cluster")
    fig.tight_layout()
    plt.close(fig)
    return fig


BOOTSTRAP_COLOURS = {"up to date": "#2e7d32", "changed": "#1565c0", "failed": "#c62828"}


def _bootstrap_chart(rows: pd.DataFrame) -> Figure:
    """One bar per cluster, coloured by the bootstrap's status, its length the commits it made."""
    fig, ax = plt.subplots(figsize=(8, 0.4 * max(3, len(rows)) + 1))
    colours = [BOOTSTRAP_COLOURS.get(str(s), "#9e9e9e") for s in rows["status"]]
    ax.barh([f"{r.cluster}: {r.status}" for r in rows.itertuples()], [max(0.2, float(c)) for c in rows["commits"]],
            color=colours)
    ax.set_xlabel("commits made (green up to date, blue changed, red failed)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.invert_yaxis()
    ax.set_title("Bootstrap state per cluster")
    fig.tight_layout()
    plt.close(fig)
    return fig


def _severity_chart(counts: pd.DataFrame) -> Figure:
    fig, ax = plt.subplots(figsize=(8, 0.4 * max(3, len(counts)) + 1))
    if counts.to_numpy().sum() == 0:
        ax.text(0.5, 0.5, "no findings", ha="center", va="center", transform=ax.transAxes)
    else:
        counts.plot.barh(stacked=True, ax=ax, color=[SEVERITY_COLOURS[s] for s in counts.columns])
        ax.legend(title="severity", loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
        ax.set_ylabel("")
        ax.invert_yaxis()
        ax.set_xlabel("findings")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("Findings per cluster and severity")
    fig.tight_layout()
    plt.close(fig)
    return fig


def _img(fig: Figure, alt: str) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    data = base64.b64encode(buffer.getvalue()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _table(frame: pd.DataFrame, *, links: dict[str, Path | None] | None = None) -> str:
    """An HTML table, every cell escaped; a column of `links` holds file paths, shown as links relative to the
    folder the page is written in (its value)."""
    shown = frame.astype(object).where(frame.notna(), "")  # no "None" or "NaN" in cells
    shown.columns.name = None
    shown = shown.map(_cell)
    for column, base in (links or {}).items():
        if column in shown:
            shown[column] = [f'<a href="{html.escape(_relative(str(p), base))}">{html.escape(Path(str(p)).name)}</a>'
                             if p else "" for p in frame[column]]
    return shown.to_html(index=False, escape=False, border=0, classes="t")


def _cell(value: Any) -> str:
    """A cell's HTML: a short word (an id like `stale-revision`, a severity, a quantity) kept on one line, so its
    column is as wide as its content; prose wraps, in a column never narrower than a short sentence."""
    text = html.escape(str(value))
    if text and len(text) <= 32 and not any(c.isspace() for c in text):
        return f"<span class=w>{text}</span>"
    return f"<div class=p>{text}</div>" if len(text) > 40 else text


def _relative(path: str, base: Path | None) -> str:
    return os.path.relpath(path, base) if base is not None else Path(path).as_uri()


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #212121; }}
h1 {{ margin-bottom: .2rem; }} .meta {{ color: #616161; }} .bad {{ color: #c62828; }}
table.t {{ border-collapse: collapse; font-size: .85rem; margin: .5rem 0 1.5rem; }}
table.t th, table.t td {{ border-bottom: 1px solid #e0e0e0; padding: .25rem .6rem; text-align: left; vertical-align: top;
  min-width: 6ch; max-width: 60ch; overflow-wrap: break-word; }}
table.t th {{ background: #f5f5f5; }} table.t .w {{ white-space: nowrap; }}
table.t .p {{ min-width: 24ch; }} img {{ max-width: 100%; display: block; margin: .5rem 0; }}
</style></head>
<body>
{body}
</body></html>
"""


def write(runs: Sequence[Path | str], out: Path | None = None) -> dict[str, Path]:
    """The report of runs (folders or run ids) as HTML and CSVs in `out` (default FLEET_HOME/reports/<run-id>);
    returns the paths."""
    report = FleetReport.load([run_folder(str(r), home=fleet_home()) for r in runs])
    name = report.run_ids[0] + (f"+{len(report.run_ids) - 1}-more" if len(report.run_ids) > 1 else "")
    out = (out or fleet_home() / "reports" / name).resolve()
    report.out = out
    written = {"html": out / "report.html"}
    write_atomic(written["html"], report.html())
    for name, frame in report.tables.items():
        path = out / f"{name}.csv"
        write_atomic(path, frame.to_csv(index=name == "severity"))
        written[f"{name}.csv"] = path
    return written
