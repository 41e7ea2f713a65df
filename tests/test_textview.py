"""The text a runbook's outputs give a terminal (papermill --log-output, nbconvert --to markdown): tables as the
flux CLI prints them within 100 columns, an empty table in one line, charts described in words, registered in a
real kernel (the HTML table and the PNG stay)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import nbclient
import nbformat
import pandas as pd

from fleetlib.textview import figure_text, table_text


def test_a_wide_table_fits_100_columns_with_text_wrapped_in_its_column() -> None:
    frame = pd.DataFrame([{"id": "kustomize-build-failed", "severity": "error", "object": "Kustomization/flux-system/apps",
                           "evidence": "kustomize build failed: " + "accumulating resources " * 12,
                           "remediation": "build it locally: `kubectl kustomize ./apps` in a checkout, fix, commit"}])
    text = table_text(frame)
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["ID", "SEVERITY", "OBJECT"] and all(len(line) <= 100 for line in lines)
    assert len(lines) > 2 and "kustomize-build-failed" in lines[1]
    column = lines[1].index("kustomize build")  # the wrapped text stays in its own column
    assert all(line[column - 2:column] == "  " for line in lines[2:] if len(line) > column)


def test_an_empty_table_is_one_line_and_text_columns_choose_what_a_terminal_shows() -> None:
    assert table_text(pd.DataFrame(columns=["a", "b"])) == "(nothing to show)"
    empty = pd.DataFrame(columns=["a"])
    empty.attrs["empty"] = "no findings"
    assert table_text(empty) == "no findings"
    frame = pd.DataFrame([{"name": "apps", "ready": True, "generation": 3}])
    frame.attrs["text_columns"] = ["name", "ready"]
    assert table_text(frame).splitlines()[0].split() == ["NAME", "READY"]


def test_a_chart_says_what_it_shows() -> None:
    fig, ax = plt.subplots()
    ax.plot([1, 2], [3, 4], label="source-controller")
    ax.set_title("memory usage")
    ax.set_ylabel("MiB")
    ax.legend()
    assert figure_text(fig) == "chart: memory usage: MiB (source-controller)"
    plt.close(fig)


def test_a_runbook_kernel_shows_tables_and_charts_as_text() -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "from fleetlib import textview\ntextview.install()\nimport pandas as pd, matplotlib.pyplot as plt\n"
        "fig, ax = plt.subplots(); ax.plot([1, 2]); ax.set_title('t')\nfig"),
        nbformat.v4.new_code_cell("pd.DataFrame([{'name': 'apps', 'ready': 'True'}])")]
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=120).execute()
    chart = [o for o in nb.cells[0].outputs if o.get("output_type") in ("execute_result", "display_data")]
    assert chart and all(o["data"]["text/plain"] == "chart: t" and "image/png" in o["data"] for o in chart)
    table = nb.cells[1].outputs[0]["data"]
    assert table["text/plain"].splitlines() == ["NAME  READY", "apps  True"] and "<table" in table["text/html"]


def test_the_fleet_view_of_one_cluster_is_bars_of_current_and_recommended() -> None:
    from fleetlib.charts import fleet_view

    rows = [{"cluster": "dev/services-amer", "controller": f"{c}-controller", "resource": "memory", "kind": "request",
             "current_value": 64 * 2**20, "recommended_value": v * 2**20} for c, v in (("source", 100), ("helm", 80))]
    fig = fleet_view(rows)
    assert figure_text(fig).startswith("chart: dev/services-amer: memory request, current and recommended")
    assert "current" in figure_text(fig) and "recommended" in figure_text(fig)
    two = fleet_view(rows + [{**r, "cluster": "prod/services-amer"} for r in rows])
    assert "recommended / current" in figure_text(two)  # several clusters: the heat map


def test_a_usage_chart_marks_oom_kills() -> None:
    import numpy as np

    from fleetlib.charts import usage_over_time
    from fleetlib.metrics import PodSeries

    ts = np.arange(1_760_000_000.0, 1_760_000_000.0 + 3600, 60.0)
    fig = usage_over_time([PodSeries("p", ts, np.full(ts.shape, 50 * 2**20))], resource="memory",
                          lines={"limit": 64 * 2**20}, kills=[1_760_000_000.0 + 1800])
    assert "OOM kill" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def test_the_fleet_usage_chart_shows_request_limit_and_kills_and_notes_an_off_scale_limit() -> None:
    from fleetlib.charts import fleet_usage

    mib = 2**20
    rows = [{"cluster": "dev/a", "controller": "source-controller", "resource": "memory", "p50": 40 * mib,
             "p95": 60 * mib, "peak": 70 * mib, "request": 64 * mib, "limit": 1024 * mib, "oom_kills": 0},
            {"cluster": "dev/b", "controller": "helm-controller", "resource": "memory", "p50": 90 * mib,
             "p95": 120 * mib, "peak": 128 * mib, "request": 64 * mib, "limit": 128 * mib, "oom_kills": 2},
            {"cluster": "dev/b", "controller": "helm-controller", "resource": "cpu", "p50": 0.1, "p95": 0.2,
             "peak": 0.3, "request": 0.1, "limit": None, "oom_kills": 0}]
    ax = fleet_usage(rows, resource="memory").axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["dev/a · source", "dev/b · helm (2 OOM)"]
    assert ax.get_yticklabels()[1].get_color() == "#b71c1c"
    assert {t.get_text() for t in ax.get_legend().get_texts()} == {"p95 usage", "median", "peak", "request", "limit"}
    # a 1 GiB limit beside 70 MiB of use is a note at the row's end; the axis stays readable
    assert ax.get_xlim()[1] < 200 and "limit 1024 MiB →" in [t.get_text() for t in ax.texts]
    assert "no usage recorded" in figure_text(fleet_usage(rows[:1], resource="cpu"))


def test_a_table_of_many_columns_still_fits() -> None:
    frame = pd.DataFrame([{f"column{i}": f"value-{i}-" + "x" * 20 for i in range(12)}])
    assert all(len(line) <= 100 for line in table_text(frame).splitlines())
