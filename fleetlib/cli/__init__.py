"""The `fleet` command. Bad input prints one line and exits 2; other failures exit 1; `--debug`
shows the traceback.

    fleet clusters --stage dev
    fleet sandbox serve --all
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from fleetlib.cli import charts, core, local, runs, sandbox
from fleetlib.errors import FleetError
from fleetlib.files import private_files


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fleet", description="Runbooks for fleets of Flux CD clusters.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    core.register(sub)
    sandbox.register(sub)
    local.register(sub)
    charts.register(sub)
    runs.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    private_files()
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except FleetError as e:
        if args.debug:
            raise
        print(f"fleet: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("fleet: interrupted", file=sys.stderr)
        return 130


papermill_value = core.papermill_value

__all__ = ["build_parser", "main", "papermill_value"]
