"""`fleet charts` and `fleet oci`: publish to the fleet's offline artifact store, which the sandbox and every
local cluster read (http://charts.fleet.internal/ and oci://registry.fleet.internal/...).

    fleet charts publish ./charts/podinfo        # helm package + helm repo index, into the Helm repository
    fleet charts list
    fleet oci push ./deploy --repository fleet/apps --tag v1      # as `flux push artifact` would
    fleet oci push ./charts/podinfo --chart --repository charts/podinfo   # as `helm push` would
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fleetlab.charts.artifacts import CHARTS_URL, REGISTRY_HOST, ArtifactStore
from fleetlib.locations import fleet_home
from fleetlib.texttable import render_table


def cmd_publish(args: argparse.Namespace) -> int:
    chart = ArtifactStore(fleet_home()).publish_chart(Path(args.folder))
    print(f"✔ published {chart.name} {chart.version} to {CHARTS_URL} ({chart.url}, sha256 {chart.digest[:12]})")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    index = ArtifactStore(fleet_home()).index()
    rows = [{"chart": name, "version": str(e.get("version")), "appVersion": str(e.get("appVersion") or ""),
             "created": str(e.get("created") or "")[:19]}
            for name, entries in sorted(index.get("entries", {}).items()) for e in entries]
    print(render_table(rows, ["chart", "version", "appVersion", "created"]) if rows else
          f"no chart published yet; `fleet charts publish <folder>` adds one to {CHARTS_URL}")
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    store = ArtifactStore(fleet_home())
    if args.chart:
        tag, digest = store.push_chart(Path(args.folder), args.repository)
    else:
        tag = args.tag
        digest = store.push_artifact(Path(args.folder), args.repository, tag, source=args.source or "",
                                     revision=args.revision or "")
    print(f"✔ pushed oci://{REGISTRY_HOST}/{args.repository}:{tag} ({digest})")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    charts = sub.add_parser("charts", help="the fleet's offline Helm repository (charts.fleet.internal)")
    verbs = charts.add_subparsers(dest="verb", required=True, metavar="VERB")
    p = verbs.add_parser("publish", help="package a chart folder and add it to the repository's index")
    p.add_argument("folder", help="a chart folder (Chart.yaml, values.yaml, templates/)")
    p.set_defaults(func=cmd_publish)
    p = verbs.add_parser("list", help="the charts and versions in the repository")
    p.set_defaults(func=cmd_list)
    oci = sub.add_parser("oci", help="the fleet's offline OCI registry (registry.fleet.internal)")
    verbs = oci.add_subparsers(dest="verb", required=True, metavar="VERB")
    p = verbs.add_parser("push", help="push a folder as a Flux artifact, or a chart as Helm does (--chart)")
    p.add_argument("folder")
    p.add_argument("--repository", required=True, help="e.g. fleet/apps or charts/podinfo")
    p.add_argument("--tag", default="latest", help="the tag (a chart is tagged with its version)")
    p.add_argument("--chart", action="store_true", help="push a chart folder as `helm push` does")
    p.add_argument("--source", help="org.opencontainers.image.source, e.g. the Git URL")
    p.add_argument("--revision", help="org.opencontainers.image.revision, e.g. main@sha1:<commit>")
    p.set_defaults(func=cmd_push)
