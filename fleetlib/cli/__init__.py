"""The `fleet` command. Bad input prints one line and exits 2; other failures exit 1; `--debug`
shows the traceback.

    fleet clusters --stage dev
    fleet sandbox serve --all
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points

from fleetlib.cli import core, runs
from fleetlib.errors import FleetError, InputError
from fleetlib.files import private_files
from fleetlib.targets import INSTALL_HINT

ENTRY_POINTS = "fleetlib.commands"
"""Verbs other distributions add to `fleet` (fleetlab: sandbox, local, charts, oci): `register(subparsers)`."""
STAND_IN_VERBS = {"sandbox": "the embedded sandbox cluster and GitHub",
                  "local": "real Kubernetes and Flux controllers on this machine (target: local)",
                  "charts": "the fleet's offline Helm repository (charts.fleet.internal)",
                  "oci": "the fleet's offline OCI registry (registry.fleet.internal)"}
"""fleetlab's verbs: without it, each still parses and says what to install."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fleet", description="Runbooks for fleets of Flux CD clusters.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    core.register(sub)
    runs.register(sub)
    for entry in entry_points(group=ENTRY_POINTS):
        entry.load()(sub)
    for verb, what in STAND_IN_VERBS.items():
        if verb not in sub.choices:
            p = sub.add_parser(verb, help=f"{what} (needs fleetlab)")
            p.add_argument("rest", nargs=argparse.REMAINDER)
            p.set_defaults(func=_not_installed(verb))
    return parser


def _not_installed(verb: str) -> Callable[[argparse.Namespace], int]:
    def refuse(_args: argparse.Namespace) -> int:
        raise InputError(f"`fleet {verb}` is part of fleetlab, fleetlib's stand-ins, which is not installed",
                         hint=INSTALL_HINT)
    return refuse


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    private_files()
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        code = int(args.func(args))
        sys.stdout.flush()  # here, where a closed pipe is caught, not at the interpreter's exit
        return code
    except FleetError as e:
        if args.debug:
            raise
        print(f"fleet: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("fleet: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `fleet results out.ipynb | head`: the reader has what it wanted; end quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush does not complain either
        return 0


papermill_value = core.papermill_value

__all__ = ["build_parser", "main", "papermill_value"]
