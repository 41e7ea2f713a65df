"""`fleet clusters`, `fleet params`, `fleet scaffold` and `fleet repo`: the fleet as parameters describe it.

    fleet clusters --stage dev
    fleet params services-amer -p branch test
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from fleetlib import targets
from fleetlib.errors import InputError
from fleetlib.files import dump_yaml, read_yaml_mapping, yaml_mapping
from fleetlib.fleetrepo import read_checkout
from fleetlib.locations import fleet_root
from fleetlib.model import ClusterId
from fleetlib.parameters import Catalog, Layer, provenance
from fleetlib.scaffold import plan_scaffold
from fleetlib.texttable import WIDTH, render_table


def papermill_value(text: str) -> Any:
    """Resolve a `-p` value as papermill does: True/False/None, int, float, else the string."""
    literals = {"True": True, "False": False, "None": None}
    if text in literals:
        return literals[text]
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def override_layers(args: argparse.Namespace) -> list[Layer]:
    """-f, then -y, then -p, later winning, as papermill merges them."""
    layers = []
    for file in args.file or []:
        layers.append(Layer(f"-f {file}", read_yaml_mapping(Path(file), shown=f"-f {file}")))
    for text in args.yaml or []:
        layers.append(Layer("-y", yaml_mapping(text, shown="-y")))
    if args.parameters:
        layers.append(Layer("-p", {k: papermill_value(v) for k, v in args.parameters}))
    return layers


def cmd_clusters(args: argparse.Namespace) -> int:
    catalog = Catalog.load(fleet_root())
    rows = [{"stage": p.stage, "cluster": p.cluster, "target": p.target, "context": targets.context_of(p),
             "repository": f"{p.repo_slug}@{p.branch}", "path": p.path, "flux": p.version}
            for p in catalog.resolve_all(stage=args.stage)]
    print(render_table(rows, ["stage", "cluster", "target", "context", "repository", "path", "flux"]))
    return 0


def cmd_params(args: argparse.Namespace) -> int:
    catalog = Catalog.load(fleet_root())
    overrides = override_layers(args)
    params = catalog.resolve(args.cluster, stage=args.stage, overrides=overrides)
    if not args.show_origin:
        sys.stdout.write(dump_yaml(params.as_yaml_data()))
        return 0
    origin = provenance([*catalog.layers(params.id), *overrides])
    rows = [{"key": key, "value": json.dumps(value, separators=(", ", ": ")) if not isinstance(value, str) else value,
             "origin": origin.get(key, "(file location)" if key in ("stage", "cluster") else "(default)")}
            for key, value in params.as_yaml_data().items()]
    print(render_table(rows, ["key", "value", "origin"], width=WIDTH))
    return 0


def cmd_scaffold(args: argparse.Namespace) -> int:
    catalog = Catalog.load(fleet_root())
    like = ClusterId.parse(args.like) if args.like else None
    plan = plan_scaffold(catalog, ClusterId(args.stage, args.cluster), like=like)
    for line in plan.describe():
        print(("would " if args.dry_run else "") + line)
    if not args.dry_run:
        plan.apply()
        print(f"created {catalog.shown(plan.parameters_file.path)}")
    print(f"then the bootstrap runbook (-p cluster {args.cluster} -p stage {args.stage}) writes in the fleet "
          "repository:")
    for line in plan.afterwards():
        print(line)
    return 0


def cmd_repo(args: argparse.Namespace) -> int:
    root = Path(args.checkout)
    if not root.is_dir():
        raise InputError(f"{args.checkout}: no such folder", hint="pass a checkout of the fleet-infra repository")
    catalog = Catalog.load(fleet_root())
    report = read_checkout(root, catalog.resolve_all())
    if not report.folders:
        raise InputError(f"{args.checkout} is not a fleet repository: it has no cluster folder under clusters/stages/ "
                         f"and none of the parameters' cluster paths",
                         hint="pass a checkout of the fleet-infra repository (bootstrap writes its folders)")
    rows = [{"cluster": str(f.id) if f.id else "?", "path": f.path, "flux": f.flux_version,
             "components": ",".join(f.components) or None, "bootstrapped": f.bootstrapped,
             "problems": "; ".join(f.problems) or None} for f in report.folders]
    print(render_table(rows, ["cluster", "path", "flux", "bootstrapped", "components", "problems"]))
    for cid in report.missing_in_repo:
        print(f"in parameters but not in the repository: {cid}")
    for path in report.unknown_to_parameters:
        print(f"in the repository but not in parameters: {path}")
    problems = any(f.problems for f in report.folders)
    return 1 if problems else 0


def cmd_results(args: argparse.Namespace) -> int:
    from fleetlib.record import read_records

    print(json.dumps(read_records(Path(args.notebook)), indent=2, sort_keys=True))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("clusters", help="list the fleet's clusters")
    p.add_argument("--stage", help="only this stage")
    p.set_defaults(func=cmd_clusters)

    p = sub.add_parser("params", help="print a cluster's resolved parameters as YAML")
    p.add_argument("cluster")
    p.add_argument("--stage", help="needed when the cluster exists in several stages other than dev")
    p.add_argument("-p", "--parameters", nargs=2, action="append", metavar=("KEY", "VALUE"), help="override a key")
    p.add_argument("-y", "--yaml", action="append", metavar="YAML", help="override keys with a YAML mapping")
    p.add_argument("-f", "--file", action="append", metavar="FILE", help="override keys from a YAML file")
    p.add_argument("--show-origin", action="store_true",
                   help="one line per key: its value and the layer that set it (a file, -p, or the default)")
    p.set_defaults(func=cmd_params)

    p = sub.add_parser("scaffold", help="add a stage or cluster: its parameters file and repo folder plan")
    p.add_argument("--stage", required=True)
    p.add_argument("--cluster", required=True)
    p.add_argument("--like", metavar="STAGE/CLUSTER", help="copy the settings of this cluster")
    p.add_argument("--dry-run", action="store_true", help="show the plan, write nothing")
    p.set_defaults(func=cmd_scaffold)

    p = sub.add_parser("results", help="print every value a runbook recorded in an executed notebook, as JSON")
    p.add_argument("notebook")
    p.set_defaults(func=cmd_results)

    p = sub.add_parser("repo", help="check a fleet-infra checkout against the parameters")
    p.add_argument("checkout", help="path of a fleet-infra checkout")
    p.set_defaults(func=cmd_repo)
