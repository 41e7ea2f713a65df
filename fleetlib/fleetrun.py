"""Run one runbook on many clusters: one papermill execution per stage/cluster, in worker processes
(papermill and its kernels are not safe in threads, and a kernel gets its working directory from
its process), into a new, immutable run folder.

A run folder `FLEET_HOME/runs/<run-id>/` holds `<stage>/<cluster>/<runbook>.ipynb` per cluster and,
written last and all at once, `index.json`: per cluster the status, duration, attempts, the failing
cell and error on failure, and the values the notebook recorded (fleetlib.record). Files are made
read-only once written; a later run never reuses a folder.

`execute(job)` is the unit of work, a plain function of a picklable `Job`, so the local process pool
and a Dask cluster (`executor="dask"`) run exactly the same thing. A kernel that fails to start is
retried; a cell that fails is not (the notebook says why).

    plan = plan_run(catalog, "troubleshoot", stage=None, cluster=None, everything=True, parameters={})
    index = run(plan, parallel=2)
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from fleetlib import options as options_model
from fleetlib.errors import FleetError, InputError, ParameterError, clip
from fleetlib.files import (
    check_writable_dir,
    make_private_dir,
    private_files,
    write_atomic,
)
from fleetlib.locations import fleet_home
from fleetlib.model import ClusterId
from fleetlib.parameters import Catalog, Layer, check_no_secrets
from fleetlib.runbook import resolve
from fleetlib.runindex import INDEX, RUNS_DIR, read_index

PARAMETER_SOURCE = "-p/-y/-f"
"""How a refusal names the values `fleet run` was handed."""
SHIPPED_RUNBOOKS = Path(__file__).resolve().parent.parent / "runbooks"
KERNEL_ATTEMPTS = 3
"""A kernel that does not start is tried this many times (a busy machine can miss the start timeout)."""
_KERNEL_START_ERRORS = ("Kernel didn't respond", "Kernel died before replying", "kernel_info", "Timeout waiting for")


@dataclass(frozen=True)
class Job:
    """One runbook execution: what to run, with which parameters, into which file, in which environment."""

    runbook: str
    notebook: str
    stage: str
    cluster: str
    parameters: Mapping[str, Any]
    output: str
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None

    @property
    def id(self) -> str:
        return f"{self.stage}/{self.cluster}"


@dataclass(frozen=True)
class RunPlan:
    run_id: str
    runbook: str
    folder: Path
    jobs: tuple[Job, ...]
    parameters: Mapping[str, Any]


def runbook_path(root: Path, runbook: str) -> Path:
    """The notebook of a runbook by name (`troubleshoot`) or path (`runbooks/troubleshoot.ipynb`)."""
    name = Path(runbook).name.removesuffix(".ipynb")
    if name not in options_model.RUNBOOKS:
        raise InputError(f"unknown runbook {runbook!r}", hint="runbooks: " + ", ".join(sorted(options_model.RUNBOOKS)))
    for folder in (root / "runbooks", SHIPPED_RUNBOOKS):  # the fleet root's own copy first, else fleetlib's
        if (folder / f"{name}.ipynb").is_file():
            return folder / f"{name}.ipynb"
    raise InputError(f"runbook {name!r}: no {name}.ipynb in {root / 'runbooks'} or {SHIPPED_RUNBOOKS}",
                     hint="run fleet from the fleetlib checkout, or copy the runbook into <fleet root>/runbooks/")


def select(catalog: Catalog, *, stage: str | None, cluster: str | None, everything: bool) -> list[ClusterId]:
    if cluster and everything:
        raise InputError("--cluster and --all exclude each other", hint="pick one cluster, or --all of a stage or the fleet")
    if cluster:
        return [catalog.find(cluster, stage=stage)]
    if not everything:
        raise InputError("say which clusters", hint="--cluster NAME, or --all (with --stage S for one stage)")
    return [p.id for p in catalog.resolve_all(stage=stage)]


def new_run_id(runbook: str, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{runbook}-{secrets.token_hex(3)}"


def plan_run(catalog: Catalog, runbook: str, *, stage: str | None = None, cluster: str | None = None,
             everything: bool = False, parameters: Mapping[str, Any] | None = None, out: Path | None = None,
             home: Path | None = None) -> RunPlan:
    """Check everything before anything runs: the runbook, its parameters, each cluster's resolution."""
    notebook = runbook_path(catalog.root, runbook)
    name = notebook.stem
    model = options_model.model(name)
    parameters = dict(parameters or {})
    unknown = sorted(set(parameters) - set(model.model_fields) | set(parameters) & {"cluster", "stage"})
    if unknown:
        raise ParameterError(f"runbook {name!r} does not take {', '.join(unknown)}", source=PARAMETER_SOURCE,
                             hint=f"it takes {', '.join(n for n in model.model_fields if n not in ('cluster', 'stage'))}"
                                  "; choose clusters with --stage/--cluster/--all")
    check_no_secrets(Layer(PARAMETER_SOURCE, parameters))
    ids = select(catalog, stage=stage, cluster=cluster, everything=everything)
    for cid in ids:  # a bad value fails here, for every cluster, before any kernel starts or any folder exists
        opts = options_model.parse(name, {**parameters, "cluster": cid.cluster, "stage": cid.stage},
                                   source=PARAMETER_SOURCE)
        resolve(catalog, opts, source=PARAMETER_SOURCE)
    home = home or fleet_home()
    run_id = new_run_id(name)
    if out is not None:
        check_writable_dir(out, what="--out")
    folder = (out or home / RUNS_DIR) / run_id
    env = {"FLEET_HOME": str(home), "FLEET_ROOT": str(catalog.root)}
    jobs = tuple(Job(name, str(notebook), cid.stage, cid.cluster, {"cluster": cid.cluster, "stage": cid.stage,
                                                                   **parameters},
                     str(folder / cid.stage / cid.cluster / f"{name}.ipynb"), env, str(catalog.root)) for cid in ids)
    return RunPlan(run_id, name, folder, jobs, parameters)


def _kernel_start_failed(e: BaseException) -> bool:
    return any(text in str(e) for text in _KERNEL_START_ERRORS) or type(e).__name__ in ("DeadKernelError",)


def execute(job: Job) -> dict[str, Any]:
    """Run one job with papermill; never raises for a failing notebook (the outcome says so)."""
    os.environ.update(job.env)
    private_files()
    out = Path(job.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    with _stderr_to(out.with_suffix(".log")):
        outcome = _execute(job, out)
    out.with_suffix(".log").chmod(0o400)
    return outcome


@contextmanager
def _stderr_to(path: Path) -> Iterator[None]:
    """The kernel's own stderr (IPKernelApp warnings, crashes) into a log beside the notebook."""
    saved = os.dup(2)
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _execute(job: Job, out: Path) -> dict[str, Any]:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from fleetlib.record import read_records

    started = time.monotonic()
    outcome: dict[str, Any] = {"stage": job.stage, "cluster": job.cluster, "status": "ok", "cell": None, "error": None}
    for attempt in range(1, KERNEL_ATTEMPTS + 1):
        outcome["attempts"] = attempt
        try:
            papermill.execute_notebook(job.notebook, str(out), parameters=dict(job.parameters), kernel_name="python3",
                                       progress_bar=False, log_output=False, cwd=job.cwd)
            break
        except PapermillExecutionError as e:
            index, source = _failed_cell(out, e.cell_index)
            outcome.update(status="failed", cell={"index": index, "execution_count": e.exec_count,
                                                  "source": clip(source, 400)},
                           error=f"{e.ename}: {clip(_plain(e.evalue), 500)}")
            break
        except Exception as e:  # noqa: BLE001 - a kernel that did not start, or papermill itself failing
            if _kernel_start_failed(e) and attempt < KERNEL_ATTEMPTS:
                time.sleep(attempt)
                continue
            outcome.update(status="failed", error=f"{type(e).__name__}: {clip(_plain(str(e)), 500)}")
            break
    outcome["seconds"] = round(time.monotonic() - started, 2)
    outcome["notebook"] = f"{job.stage}/{job.cluster}/{out.name}"
    try:
        outcome["records"] = read_records(out) if out.exists() else {}
    except FleetError:
        outcome["records"] = {}
    if out.exists():
        out.chmod(0o400)
    return outcome


def _failed_cell(path: Path, fallback: int) -> tuple[int, str]:
    """The index (in the executed notebook) and source of the cell that holds the error output."""
    try:
        cells = json.loads(path.read_text())["cells"]
    except (OSError, ValueError, KeyError):
        return fallback, ""
    for i, cell in enumerate(cells):
        if any(o.get("output_type") == "error" for o in cell.get("outputs") or []):
            return i, "".join(cell["source"])
    return fallback, ""


def _plain(text: str) -> str:
    """Without terminal colour codes (IPython colours its tracebacks)."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


# --- executors ----------------------------------------------------------------------------------------


Progress = Callable[[dict[str, Any]], None]


def run_local(jobs: Iterable[Job], *, parallel: int) -> Iterator[dict[str, Any]]:
    """Outcomes as jobs finish, from a pool of `parallel` spawned processes."""
    jobs = list(jobs)
    with ProcessPoolExecutor(max_workers=max(1, min(parallel, len(jobs) or 1)), mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(execute, job) for job in jobs]
        for future in as_completed(futures):
            yield future.result()


def dask_client(scheduler: str) -> Any:
    """A client of an existing Dask distributed scheduler (its workers need fleetlib and the same paths)."""
    try:
        from distributed import Client
    except ImportError as e:
        raise InputError("the Dask executor needs the distributed package", hint="pip install 'fleetlib[dask]'") from e
    try:
        return Client(scheduler, timeout="10s")
    except (OSError, TimeoutError, ValueError) as e:
        raise InputError(f"no Dask scheduler answers at {scheduler}: {clip(str(e), 200)}",
                         hint="start one (`dask scheduler`) or pass its address with --scheduler") from None


def run_dask(jobs: Iterable[Job], client: Any) -> Iterator[dict[str, Any]]:
    """The same jobs as tasks of a Dask cluster, outcomes as they finish."""
    from distributed import as_completed as dask_completed

    try:
        for future in dask_completed(client.map(execute, list(jobs), pure=False)):
            yield future.result()
    finally:
        client.close()


def run(plan: RunPlan, *, parallel: int = 2, executor: str = "local", scheduler: str | None = None,
        progress: Progress | None = None) -> dict[str, Any]:
    """Execute a plan into its new folder and write its index; returns the index."""
    if executor not in ("local", "dask"):
        raise InputError(f"unknown executor {executor!r}", hint="local (the default) or dask")
    if executor == "dask" and not scheduler:
        raise InputError("--executor dask needs --scheduler ADDRESS", hint="e.g. --scheduler tcp://10.0.0.5:8786")
    client = dask_client(scheduler) if executor == "dask" and scheduler else None  # before any folder is made
    try:
        make_private_dir(plan.folder, exist_ok=False)
    except FileExistsError:
        if client is not None:
            client.close()
        raise InputError(f"{plan.folder} already exists", hint="runs are never overwritten; start a new run") from None
    except OSError as e:
        if client is not None:
            client.close()
        raise InputError(f"cannot create the run folder {plan.folder}: {e.strerror or e}",
                         hint="pass --out a folder you can write to (default FLEET_HOME/runs)") from None
    started = datetime.now(UTC)
    t0 = time.monotonic()
    outcomes = run_dask(plan.jobs, client) if client is not None else run_local(plan.jobs, parallel=parallel)
    results: dict[str, dict[str, Any]] = {}
    for outcome in outcomes:
        results[f"{outcome['stage']}/{outcome['cluster']}"] = outcome
        if progress:
            progress(outcome)
    order = [j.id for j in plan.jobs]
    index = {"run_id": plan.run_id, "runbook": plan.runbook, "started": started.isoformat(timespec="seconds"),
             "seconds": round(time.monotonic() - t0, 2), "executor": executor, "parallel": parallel,
             "parameters": dict(plan.parameters),
             "clusters": [results[k] for k in order if k in results],
             "ok": sum(r["status"] == "ok" for r in results.values()),
             "failed": sum(r["status"] != "ok" for r in results.values())}
    path = plan.folder / INDEX
    write_atomic(path, json.dumps(index, indent=2, default=str) + "\n", exclusive=True)
    path.chmod(0o400)
    return index


# --- past runs ----------------------------------------------------------------------------------------


def past_runs(home: Path | None = None) -> list[dict[str, Any]]:
    base = (home or fleet_home()) / RUNS_DIR
    rows: list[dict[str, Any]] = []
    for folder in sorted(base.iterdir() if base.is_dir() else [], reverse=True):
        try:
            index = read_index(folder)
        except InputError:
            rows.append({"run": folder.name, "runbook": "?", "started": "?", "clusters": "?", "ok": "?",
                         "failed": "?", "seconds": "(no index: running or interrupted)", "folder": str(folder)})
            continue
        rows.append({"run": index["run_id"], "runbook": index["runbook"], "started": index["started"],
                     "clusters": len(index["clusters"]), "ok": index["ok"], "failed": index["failed"],
                     "seconds": index["seconds"], "folder": str(folder)})
    return rows


def outcome_line(outcome: Mapping[str, Any]) -> str:
    mark = "✔" if outcome["status"] == "ok" else "✗"
    tail = f" ({outcome['error']})" if outcome.get("error") else ""
    return f"{mark} {outcome['stage']}/{outcome['cluster']} {outcome['status']} in {outcome['seconds']:.1f} s{tail}"


__all__ = ["Job", "RunPlan", "execute", "outcome_line", "past_runs", "plan_run", "read_index", "run"]
