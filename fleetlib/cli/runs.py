"""`fleet run`, `fleet runs` and `fleet report`: a runbook over many clusters, the archive, the report.

    fleet run troubleshoot --all --parallel 2
    fleet run tune-resources --stage prod --all -p history 7d
    fleet runs
    fleet report 20261125T101500Z-troubleshoot-1a2b3c [more run ids or folders]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fleetlib import options as options_model
from fleetlib.cli.core import override_layers
from fleetlib.errors import InputError
from fleetlib.locations import fleet_home, fleet_root
from fleetlib.parameters import Catalog
from fleetlib.texttable import render_table


def cmd_run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from fleetlib import fleetrun

    catalog = Catalog.load(fleet_root())
    parameters: dict[str, object] = {}
    for layer in override_layers(args):
        parameters.update(layer.values)
    if args.parallel < 1:
        raise InputError(f"--parallel {args.parallel}: must be 1 or more", hint="e.g. --parallel 2 on 2 cores")
    plan = fleetrun.plan_run(catalog, args.runbook, stage=args.stage, cluster=args.cluster, everything=args.all,
                             parameters=parameters, out=Path(args.out) if args.out else None)
    where = f"dask at {args.scheduler}" if args.executor == "dask" else f"{args.parallel} local worker(s)"
    print(f"run {plan.run_id}: {plan.runbook} on {len(plan.jobs)} cluster(s) with {where}", flush=True)
    with tqdm(total=len(plan.jobs), unit="cluster", file=sys.stderr, disable=args.quiet) as bar:
        def progress(outcome: dict[str, object]) -> None:
            bar.write(fleetrun.outcome_line(outcome))
            bar.update(1)

        index = fleetrun.run(plan, parallel=args.parallel, executor=args.executor, scheduler=args.scheduler,
                             progress=progress)
    print(f"{index['ok']} ok, {index['failed']} failed in {index['seconds']:.1f} s: {plan.folder}")
    for outcome in index["clusters"]:
        if outcome["status"] != "ok":
            cell = outcome.get("cell") or {}
            print(f"  {outcome['stage']}/{outcome['cluster']}: cell {cell.get('index', '?')}: {outcome['error']}")
    return 1 if index["failed"] else 0


def cmd_runs(args: argparse.Namespace) -> int:
    from fleetlib import fleetrun

    rows = fleetrun.past_runs(fleet_home())
    print(render_table(rows, ["run", "runbook", "started", "clusters", "ok", "failed", "seconds"]) if rows else
          f"no runs yet under {fleet_home() / fleetrun.RUNS_DIR}")
    return 0


def latest_run() -> str:
    """The newest finished run's folder (what `fleet runs` lists first), or InputError when there is none."""
    from fleetlib import fleetrun

    finished = [r for r in fleetrun.past_runs(fleet_home()) if r["runbook"] != "?"]
    if not finished:
        raise InputError(f"no finished run under {fleet_home() / fleetrun.RUNS_DIR}",
                         hint="run one first: fleet run troubleshoot --all")
    print(f"run {finished[0]['run']} ({finished[0]['runbook']}, {finished[0]['started']})")
    return str(finished[0]["folder"])


def cmd_report(args: argparse.Namespace) -> int:
    from fleetlib import report

    runs = args.run_dir or [latest_run()]
    written = report.write(runs, Path(args.out) if args.out else None)
    for kind, path in written.items():
        print(f"{kind}: {path}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="run a runbook on clusters in parallel, into a new run folder")
    p.add_argument("runbook", help=f"runbook name ({', '.join(options_model.RUNBOOKS)}) or its path")
    p.add_argument("--stage", help="only clusters of this stage")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--cluster", help="one cluster")
    which.add_argument("--all", action="store_true", help="every cluster (of --stage, or of the fleet)")
    p.add_argument("-p", "--parameters", nargs=2, action="append", metavar=("KEY", "VALUE"),
                   help="a runbook parameter, as papermill takes it")
    p.add_argument("-y", "--yaml", action="append", metavar="YAML", help="runbook parameters as a YAML mapping")
    p.add_argument("-f", "--file", action="append", metavar="FILE", help="runbook parameters from a YAML file")
    p.add_argument("--parallel", type=int, default=2, help="local worker processes (default 2)")
    p.add_argument("--out", help="parent folder of the run folder (default FLEET_HOME/runs)")
    p.add_argument("--executor", choices=("local", "dask"), default="local", help="where the runs execute")
    p.add_argument("--scheduler", help="Dask scheduler address, for --executor dask")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("runs", help="list past fleet runs")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("report", help="write the HTML and CSV report of a fleet run")
    p.add_argument("run_dir", nargs="*", metavar="RUN", help="run ids or folders (see `fleet runs`; default: the "
                                                              "latest finished run); several make one fleet report")
    p.add_argument("--out", help="report folder (default FLEET_HOME/reports/<run-id>)")
    p.set_defaults(func=cmd_report)
