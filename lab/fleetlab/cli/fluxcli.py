"""`fleet sandbox flux ...` and `fleet local flux ...`: the real flux CLI, built by `fleet local build` from
`github.com/fluxcd/flux2/v2` (fleetlab.versions.flux_cli), run against a stand-in cluster: KUBECONFIG and
`--context` set, so every command of the seed's README and every remediation a runbook prints runs as written.

    fleet sandbox flux --cluster services-amer -- get kustomizations
    fleet local flux -- check
    fleet local flux --which           # the binary's path, to put on PATH yourself
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from fleetlab.versions import FLUX_CLI_VERSIONS, flux_cli
from fleetlib.errors import FleetError


def binary(version: str) -> Path:
    """The built flux CLI of `version`, else of the nearest built release, else a FleetError saying how to build."""
    chosen = version if version in FLUX_CLI_VERSIONS else FLUX_CLI_VERSIONS[-1]
    path = flux_cli(chosen)
    if not path.is_file():
        raise FleetError(f"the flux CLI {chosen} is not built ({path})",
                         hint="build it with `fleet local build` (about 4 minutes per release, cached)")
    return path


def run(version: str, kubeconfig: Path, context: str | None, args: argparse.Namespace) -> int:
    """Print the binary (`--which`), else run it with the stand-in's kubeconfig and context."""
    path = binary(version)
    if args.which:
        print(path)
        return 0
    argv = list(args.flux_args)
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if context and not any(a == "--context" or a.startswith("--context=") for a in argv):
        argv.append(f"--context={context}")
    sys.stdout.flush()
    return subprocess.run([str(path), *argv], env={**os.environ, "KUBECONFIG": str(kubeconfig)}, check=False).returncode


def add_parser(verbs: argparse._SubParsersAction[argparse.ArgumentParser], stand_in: str) -> argparse.ArgumentParser:
    p = verbs.add_parser("flux", help=f"run the real flux CLI against a {stand_in} cluster (built by `fleet local build`)",
                         description="Everything after `--` goes to flux; KUBECONFIG and --context are set for you.")
    p.add_argument("--stage")
    p.add_argument("--cluster", help="the cluster (default: the kubeconfig's current context)")
    p.add_argument("--which", action="store_true", help="print the flux binary's path and exit")
    p.add_argument("flux_args", nargs=argparse.REMAINDER, metavar="-- FLUX ARGS")
    return p
