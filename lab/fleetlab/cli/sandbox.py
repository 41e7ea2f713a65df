"""`fleet sandbox serve|kubeconfig|status|reset`: the embedded sandbox from the terminal.

Runbooks start the sandbox by themselves; `serve` is for using kubectl, k9s or a browser against it.

    fleet sandbox serve --all            # foreground; prints the kubeconfig path
    KUBECONFIG=$(fleet sandbox kubeconfig) kubectl get ns
"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path
from typing import Any

from fleetlab.cli import fluxcli
from fleetlab.faults import scenarios as faults
from fleetlab.faults.scenarios import SCENARIOS
from fleetlab.sandbox import Sandbox, reset, seed, status
from fleetlab.sandbox.server import (
    clear_serving_record,
    cluster_db,
    offline,
    serving_record,
    write_serving_record,
)
from fleetlib import targets
from fleetlib.errors import FleetError, InputError
from fleetlib.locations import fleet_home, fleet_root
from fleetlib.model import ClusterId
from fleetlib.parameters import Catalog
from fleetlib.texttable import render_table


def _selection(args: argparse.Namespace) -> list[ClusterId]:
    catalog = Catalog.load(fleet_root())
    if args.cluster:
        return [catalog.find(args.cluster, stage=args.stage)]
    params = catalog.resolve_all(stage=args.stage)
    return [p.id for p in params if p.target == "sandbox" or args.stage]


def cmd_serve(args: argparse.Namespace) -> int:
    clusters = _selection(args)
    if not clusters:
        raise InputError("no cluster targets the sandbox", hint="name one with --stage S --cluster C")
    home = fleet_home()
    running = serving_record(home)
    if running:
        raise FleetError(f"a sandbox is already serving from process {running['pid']}",
                         hint=f"use KUBECONFIG={running['kubeconfig']}, or stop that process first")
    sandbox = Sandbox.running(home)
    for cid in clusters:
        sandbox.add_cluster(cid)
    path = write_serving_record(sandbox)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"sandbox serving {len(clusters)} cluster(s): {', '.join(str(c) for c in clusters)}")
    print(f"kubeconfig: {path}")
    print(f"  contexts: {', '.join(f'sandbox-{c.stage}-{c.cluster}' for c in clusters)}")
    print(f"github api: {sandbox.github_api_url} (token in {home / 'sandbox' / 'github' / 'token'})")
    for cid in clusters:
        print(f"prometheus: {sandbox.prometheus_url(cid)}")
    print("press Ctrl-C to stop", flush=True)
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        clear_serving_record(home)
        sandbox.stop()
    return 0


def _serving(args: argparse.Namespace) -> tuple[dict[str, Any], ClusterId | None]:
    """The serving sandbox's record, and the cluster asked for (checked to be served)."""
    record = serving_record(fleet_home())
    if record is None:
        raise FleetError("no sandbox is serving", hint="start one with `fleet sandbox serve` (runbooks start their own)")
    cid = None
    if args.cluster:
        cid = Catalog.load(fleet_root()).find(args.cluster, stage=args.stage)
        if f"sandbox-{cid.stage}-{cid.cluster}" not in record["contexts"]:
            raise InputError(f"the serving sandbox does not serve {cid}",
                             hint="restart it with `fleet sandbox serve --all` or with that cluster")
    return record, cid


def cmd_kubeconfig(args: argparse.Namespace) -> int:
    record, _ = _serving(args)
    print(record["kubeconfig"])
    return 0


def cmd_flux(args: argparse.Namespace) -> int:
    """The flux CLI of the cluster's Flux version against the serving sandbox (`--which` needs none)."""
    version = Catalog.load(fleet_root()).resolve(args.cluster, stage=args.stage).version if args.cluster else "v2.5.1"
    if args.which:
        return fluxcli.run(version, Path(), None, args)
    record, cid = _serving(args)
    context = f"sandbox-{cid.stage}-{cid.cluster}" if cid else None
    return fluxcli.run(version, Path(record["kubeconfig"]), context, args)


def cmd_status(args: argparse.Namespace) -> int:
    home = fleet_home()
    rows = status(home)
    print(render_table(rows, ["stage", "cluster", "objects", "resourceVersion", "created", "state"]) if rows
          else "no sandbox cluster has state yet")
    for row in rows:
        if row["state"] != "ok":
            print(f"{row['stage']}/{row['cluster']}: {row['state']}; `fleet sandbox reset --stage {row['stage']} "
                  f"--cluster {row['cluster']}` starts it afresh")
    record = serving_record(home)
    print(f"serving: process {record['pid']}, kubeconfig {record['kubeconfig']}" if record else "serving: no")
    return 0


def cmd_reset(args: argparse.Namespace) -> int:
    home = fleet_home()
    cid = Catalog.load(fleet_root()).find(args.cluster, stage=args.stage) if args.cluster else None
    if args.stage and not args.cluster:
        raise InputError("--stage needs --cluster", hint="reset one cluster with --stage S --cluster C, or all with no flags")
    record = serving_record(home)
    if record:
        raise FleetError(f"a sandbox is serving from process {record['pid']}", hint="stop it before resetting")
    removed = reset(home, cid)
    print("\n".join(f"removed {p}" for p in removed) if removed else "nothing to reset")
    if cid is not None:
        params = Catalog.load(fleet_root()).resolve(cid.cluster, stage=cid.stage)
        print(_reset_folder(home, params, remove=args.repo_folder))
    elif args.repo_folder:
        raise InputError("--repo-folder needs --stage and --cluster (with no flags the whole sandbox GitHub goes)")
    return 0


def _reset_folder(home: Path, params: Any, *, remove: bool) -> str:
    """The cluster's folder in the sandbox's fleet repository: kept (and said so), or removed in a commit."""
    from fleetlab.github.home import github_token, sandbox_root
    from fleetlab.github.hub import Hub

    hub = Hub(sandbox_root(home) / "github", token=github_token(home))
    folder = params.path.removeprefix("./")
    where = f"{params.repo_slug}@{params.branch}:{folder}"
    if not hub.repo_path(params.owner, params.repository).exists():
        return f"the sandbox GitHub has no {params.repo_slug}: no folder to keep"
    bare = hub.bare(params.owner, params.repository)
    head = bare.resolve(params.branch)
    if head is None or bare.entry(head, folder) is None:
        return f"the sandbox GitHub has no {where}: nothing kept"
    if not remove:
        return (f"kept {where} in the sandbox GitHub (the next bootstrap applies what it holds again); "
                "--repo-folder removes it too")
    bare.commit_files(params.branch, {folder: None}, message=f"Remove {folder} (fleet sandbox reset)",
                      author=("fleet", "fleet@localhost"))
    return f"removed {where} from the sandbox GitHub in a commit"


def cmd_fault(args: argparse.Namespace) -> int:
    if args.list:
        print(render_table([{"scenario": k, "what": s.what} for k, s in SCENARIOS.items()], ["scenario", "what"]))
        return 0
    if not args.cluster:
        raise InputError("--cluster is required", hint="fleet sandbox fault --stage S --cluster C SCENARIO")
    if args.scenario and args.scenario not in SCENARIOS:
        raise InputError(f"unknown fault scenario {args.scenario!r}", hint="scenarios: " + ", ".join(SCENARIOS))
    if not args.clear and not args.scenario:
        raise InputError("name a scenario", hint="fleet sandbox fault --list shows them")
    if args.timeout <= 0:
        raise InputError(f"--timeout {args.timeout}: must be more than 0 seconds", hint="e.g. --timeout 180")
    catalog = Catalog.load(fleet_root())
    stand_in = getattr(args, "stand_in", "sandbox")  # `fleet sandbox fault` or `fleet local fault`
    cid = catalog.find(args.cluster, stage=args.stage)
    if stand_in == "sandbox":
        _existing(cid)  # a local cluster is checked by targets.rehearsal: it must be running
    params = catalog.resolve(cid.cluster, stage=cid.stage)
    if params.target != stand_in:
        params = params.model_copy(update={"target": stand_in})
    # the cluster's stand-in: the sandbox (its controllers run in this process) or its running local cluster
    rehearsal = targets.rehearsal(params, home=fleet_home())

    def progress(text: str) -> None:
        print(f"◎ {text}", flush=True)

    if args.clear:
        records = rehearsal.active()
        cleared = rehearsal.clear(args.scenario)
        if not cleared:
            print(f"no fault to clear on {rehearsal.name}")
            return 0
        for name in cleared:
            seen = faults.settle(rehearsal.kube, rehearsal.hub, name, records.get(name) or {}, cleared=True,
                                 timeout=args.timeout, progress=progress)
            print(f"✔ {seen} on {rehearsal.name}")
        return 0
    record = rehearsal.inject(args.scenario, target=args.target)
    target = f" (target {record['target']})" if record.get("target") else ""
    print(f"✚ injected {args.scenario} on {rehearsal.name}{target}", flush=True)
    seen = faults.settle(rehearsal.kube, rehearsal.hub, args.scenario, record, timeout=args.timeout,
                         progress=progress)
    print(f"✔ {seen}; clear it with --clear {args.scenario}")
    return 0


def _existing(cid: ClusterId) -> ClusterId:
    """A cluster that has sandbox state (a fault or a seed on a cluster never used would create it)."""
    if not cluster_db(fleet_home(), cid).exists():
        raise InputError(f"sandbox cluster {cid} has no state yet",
                         hint=f"bootstrap it first: papermill runbooks/bootstrap.ipynb out.ipynb -p cluster "
                              f"{cid.cluster} -p stage {cid.stage}")
    return cid


def cmd_seed(args: argparse.Namespace) -> int:
    seed.check_count(args.apps)
    cid = _existing(Catalog.load(fleet_root()).find(args.cluster, stage=args.stage))
    api, hub = offline(fleet_home(), cid)
    added = seed.seed(api, hub, apps=args.apps)
    print(f"seeded {cid}: {seed.describe(added)}; committed to the fleet repository and applied")
    return 0


def _hub_and_repo(args: argparse.Namespace) -> tuple[Any, str, str]:
    """The sandbox GitHub (its files, with or without a serve running) and the repository to act on: --repo
    OWNER/NAME, else the fleet repository of the cluster (default: the first cluster whose target is sandbox)."""
    from fleetlab.github.home import github_token, sandbox_root
    from fleetlab.github.hub import Hub

    home = fleet_home()
    slug = args.repo
    if not slug:
        catalog = Catalog.load(fleet_root())
        params = catalog.resolve(args.cluster, stage=args.stage) if args.cluster else next(
            (p for p in catalog.resolve_all() if p.target in ("sandbox", "local")), None)
        if params is None:
            raise InputError("no cluster targets a stand-in", hint="name the repository: --repo OWNER/NAME")
        slug = params.repo_slug
    owner, _, name = str(slug).partition("/")
    hub = Hub(sandbox_root(home) / "github", token=github_token(home))
    if not name or not hub.repo_path(owner, name).exists():
        raise InputError(f"the sandbox GitHub has no repository {slug!r}",
                         hint="bootstrap a cluster first, or name one with --repo OWNER/NAME")
    return hub, owner, name


def cmd_pr(args: argparse.Namespace) -> int:
    from fleetlab.github.hubrepos import HubError, PullRequests

    hub, owner, name = _hub_and_repo(args)
    pulls = PullRequests(hub)
    try:
        if args.action == "list":
            rows = [{"number": f"#{pr['number']}", "state": "merged" if pr["merged"] else pr["state"],
                     "head": pr["head"]["ref"], "base": pr["base"]["ref"], "title": pr["title"],
                     "created": pr["created_at"]} for pr in pulls.list(owner, name, args.state)]
            print(render_table(rows, ["number", "state", "head", "base", "title", "created"], width=100) if rows else
                  f"no {'' if args.state == 'all' else args.state + ' '}pull request in {owner}/{name}")
            return 0
        if args.number is None:
            raise InputError(f"`fleet sandbox pr {args.action}` needs a pull request number",
                             hint=f"see them: fleet sandbox pr list --repo {owner}/{name}")
        pr = pulls.get(owner, name, args.number)
        if args.action == "show":
            state = "merged" if pr["merged"] else pr["state"]
            print(f"#{pr['number']} {pr['title']} ({state}): {pr['head']['ref']} into {pr['base']['ref']}")
            if pr["body"]:
                print("\n" + pr["body"].rstrip() + "\n")
            base, head = pr["base"]["sha"], pr["head"]["sha"]
            bare = hub.bare(owner, name)
            merge_base = bare.git("merge-base", base, head).strip() if base and head else None
            if merge_base and head:
                print(bare.git("diff", "--stat", merge_base, head).rstrip())
                print(bare.git("diff", merge_base, head).rstrip())
            return 0
        if args.action == "merge":
            done = pulls.merge(owner, name, args.number, {})
            print(f"✔ merged #{args.number} into {pr['base']['ref']} ({done['sha'][:12]})")
            return 0
        pulls.update(owner, name, args.number, {"state": "closed"})
        print(f"✔ closed #{args.number} without merging")
        return 0
    except HubError as e:
        raise InputError(f"pull request #{args.number} of {owner}/{name}: {e.message} ({e.code})",
                         hint=f"see them: fleet sandbox pr list --repo {owner}/{name} --state all") from None


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sandbox = sub.add_parser("sandbox", help="the embedded sandbox cluster and GitHub")
    verbs = sandbox.add_subparsers(dest="verb", required=True, metavar="VERB")
    p = verbs.add_parser("serve", help="serve sandbox clusters in the foreground and write a kubeconfig")
    p.add_argument("--stage")
    p.add_argument("--cluster")
    p.add_argument("--all", action="store_true", help="every cluster whose target is sandbox (the default)")
    p.set_defaults(func=cmd_serve)
    p = verbs.add_parser("kubeconfig", help="print the path of the serving sandbox's kubeconfig")
    p.add_argument("--stage")
    p.add_argument("--cluster")
    p.set_defaults(func=cmd_kubeconfig)
    fluxcli.add_parser(verbs, "sandbox").set_defaults(func=cmd_flux)
    p = verbs.add_parser("status", help="sandbox clusters with state, and whether one is serving")
    p.set_defaults(func=cmd_status)
    add_fault_parser(verbs, "sandbox")

    p = verbs.add_parser("seed", help="add N realistic applications to a bootstrapped sandbox cluster and its repo")
    p.add_argument("--stage")
    p.add_argument("--cluster", required=True)
    p.add_argument("--apps", type=int, required=True, help="how many applications")
    p.set_defaults(func=cmd_seed)
    p = verbs.add_parser("pr", help="the sandbox GitHub's pull requests: list, show (the diff), merge, close")
    p.add_argument("action", choices=("list", "show", "merge", "close"))
    p.add_argument("number", nargs="?", type=int, help="the pull request's number (show, merge, close)")
    p.add_argument("--repo", help="OWNER/NAME (default: the fleet repository of --cluster, or of the first "
                                  "sandbox cluster)")
    p.add_argument("--stage")
    p.add_argument("--cluster")
    p.add_argument("--state", choices=("open", "closed", "all"), default="open", help="for list (default open)")
    p.set_defaults(func=cmd_pr)
    p = verbs.add_parser("reset", help="forget a sandbox cluster's state (or everything, with no flags)")
    p.add_argument("--stage")
    p.add_argument("--cluster")
    p.add_argument("--repo-folder", action="store_true",
                   help="also remove the cluster's folder from the sandbox's fleet repository (kept by default)")
    p.set_defaults(func=cmd_reset)


def add_fault_parser(verbs: argparse._SubParsersAction[argparse.ArgumentParser], stand_in: str) -> None:
    """`fleet sandbox fault` and `fleet local fault`: the same scenarios, on either stand-in."""
    p = verbs.add_parser("fault", help=f"inject or clear a fault scenario on a {stand_in} cluster")
    p.set_defaults(stand_in=stand_in)
    p.add_argument("scenario", nargs="?", help="a scenario name (see --list)")
    p.add_argument("--stage")
    p.add_argument("--cluster")
    p.add_argument("--target", help="the controller or object the scenario acts on, where it has one")
    p.add_argument("--clear", action="store_true", help="clear the scenario (or every fault, with no scenario)")
    p.add_argument("--list", action="store_true", help="list the scenarios")
    p.add_argument("--timeout", type=float, default=faults.SETTLE_TIMEOUT,
                   help="seconds to wait until the cluster shows the fault or the recovery (default 180)")
    p.set_defaults(func=cmd_fault)
