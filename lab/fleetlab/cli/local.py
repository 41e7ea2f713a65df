"""`fleet local build|up|down|status|logs`: real Kubernetes and the real Flux controllers on this machine,
without containers (fleetlab.local).

    fleet local build                                  # once; 20-30 min cold on two cores, 0 s warm
    fleet local up --cluster services-amer             # API ready in seconds; context local-dev-services-amer
    KUBECONFIG=$(fleet local kubeconfig) kubectl --context local-dev-services-amer get nodes
    fleet local down --all
"""

from __future__ import annotations

import argparse
import json
import sys

from fleetlab.cli import fluxcli
from fleetlab.cli.sandbox import add_fault_parser
from fleetlab.local.build import build, cache_dir
from fleetlab.local.cluster import LocalCluster, all_clusters, context_name, fleet_kubeconfig
from fleetlab.versions import LOCAL
from fleetlib.errors import InputError
from fleetlib.locations import fleet_home, fleet_root
from fleetlib.parameters import Catalog
from fleetlib.texttable import render_table


def _say(text: str) -> None:
    print(text, flush=True)


def _selection(args: argparse.Namespace, *, running_only: bool = False) -> list[LocalCluster]:
    home = fleet_home()
    if args.cluster and args.all:
        raise InputError("--cluster and --all exclude each other", hint="pick one cluster, or --all")
    if args.all:
        clusters = all_clusters(home) if running_only else [
            LocalCluster(home, p.id) for p in Catalog.load(fleet_root()).resolve_all(stage=args.stage)]
        return [c for c in clusters if c.running()] if running_only else clusters
    if not args.cluster:
        raise InputError("say which cluster", hint="--cluster NAME (with --stage S), or --all")
    return [LocalCluster(home, Catalog.load(fleet_root()).find(args.cluster, stage=args.stage))]


def cmd_build(args: argparse.Namespace) -> int:
    result = build(cache_dir(), LOCAL, say=_say)
    if LOCAL.flux.version != LOCAL.requested_flux:
        _say(f"note: Flux {LOCAL.flux.version} is built, the nearest release the Go module proxy serves whole "
             f"({', '.join(LOCAL.unavailable)} are not served)")
    _say(f"disk: {result['disk_bytes'] / 2**30:.2f} GiB in {cache_dir() / LOCAL.key}")
    if args.json:
        print(json.dumps(result, indent=2))
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    for cluster in _selection(args):
        cluster.up(say=_say)
    print(fleet_kubeconfig(fleet_home()))
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    clusters = _selection(args, running_only=args.all)
    if not clusters:
        _say("no local cluster is running")
    for cluster in clusters:
        cluster.down(say=_say)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    rows = [c.status() for c in all_clusters(fleet_home())]
    print(render_table(rows, ["stage", "cluster", "state", "api", "flux", "pid"]) if rows
          else "no local cluster has state yet")
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    cluster = _selection(args)[0]
    path = cluster.state / "logs" / f"{args.component}.log"
    if not path.exists():
        known = sorted(p.stem for p in (cluster.state / "logs").glob("*.log"))
        raise InputError(f"no log of {args.component!r} for {cluster.cid}", hint="components: " + ", ".join(known))
    lines = path.read_text(errors="replace").splitlines()
    sys.stdout.write("\n".join(lines[-args.tail:]) + "\n")
    return 0


def cmd_kubeconfig(args: argparse.Namespace) -> int:
    print(fleet_kubeconfig(fleet_home()))
    return 0


def cmd_flux(args: argparse.Namespace) -> int:
    context = context_name(Catalog.load(fleet_root()).find(args.cluster, stage=args.stage)) if args.cluster else None
    return fluxcli.run(LOCAL.flux.version, fleet_kubeconfig(fleet_home()), context, args)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    local = sub.add_parser("local", help="real Kubernetes and Flux controllers on this machine (target: local)")
    verbs = local.add_subparsers(dest="verb", required=True, metavar="VERB")
    add_fault_parser(verbs, "local")
    p = verbs.add_parser("build", help="build the control plane, kwok and the Flux controllers from the Go proxy")
    p.add_argument("--json", action="store_true", help="print what was built and how long it took as JSON")
    p.set_defaults(func=cmd_build)
    for verb, func, what in (("up", cmd_up, "start"), ("down", cmd_down, "stop"), ("logs", cmd_logs, "show logs of")):
        p = verbs.add_parser(verb, help=f"{what} local clusters")
        p.add_argument("--stage")
        p.add_argument("--cluster")
        if verb != "logs":
            p.add_argument("--all", action="store_true", help="every cluster (of --stage)")
        else:
            p.add_argument("--all", action="store_true", help=argparse.SUPPRESS)
            p.add_argument("component", help="etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok, "
                                             "supervisor, or a Flux controller")
            p.add_argument("--tail", type=int, default=100, help="lines (default 100)")
        p.set_defaults(func=func)
    p = verbs.add_parser("status", help="local clusters: running, API, Flux controllers")
    p.set_defaults(func=cmd_status)
    p = verbs.add_parser("kubeconfig", help="print the path of the fleet kubeconfig of the local clusters")
    p.set_defaults(func=cmd_kubeconfig)
    fluxcli.add_parser(verbs, "local").set_defaults(func=cmd_flux)
