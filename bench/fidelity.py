"""The differential suite: every scenario on the sandbox and on a local cluster (real Kubernetes and the real
Flux controllers) at the same time, observations normalised and compared; prints a table of scenario, verdict
and the first difference, then the totals.

    python bench/fidelity.py                     # everything (about 15 minutes once the local stack is built)
    python bench/fidelity.py flux-ks prune       # scenarios whose names contain these
    python bench/fidelity.py --group kubectl --keep --home /tmp/fid   # keep the local cluster for another run

Exit status: 0 when every scenario is `same` or `known` (documented in fleetlib/fidelity/known.py and the README),
1 otherwise. Figures, not timed assertions: fidelity is measured here and in tests/test_fidelity.py.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("patterns", nargs="*", help="only scenarios whose names contain one of these")
    parser.add_argument("--group", action="append", choices=["kubectl", "client", "flux", "helm"])
    parser.add_argument("--home", type=Path, help="FLEET_HOME for both sides (default: a new temporary folder)")
    parser.add_argument("--keep", action="store_true", help="leave the local cluster running")
    parser.add_argument("--json", type=Path, help="also write every outcome with both sides' observations")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("SANDBOX_JSON", "LOCAL_JSON"),
                        help="judge two one-side runs saved with --json (no cluster needed)")
    parser.add_argument("--side", choices=["sandbox", "local"],
                        help="run on one side only (to develop a scenario; prints its observations)")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from fleetlab.fidelity.harness import Sides
    from fleetlab.fidelity.scenarios import select
    from fleetlab.fidelity.suite import render, run_suite

    chosen = select(args.patterns, args.group)
    if args.compare:
        from fleetlab.fidelity.suite import judge

        runs = [{o["scenario"]: o for o in json.loads(p.read_text())} for p in args.compare]
        outcomes = []
        for sc in chosen:
            if sc.name in runs[0] and sc.name in runs[1]:
                sides = {"sandbox": runs[0][sc.name], "local": runs[1][sc.name]}
                observed = {t: next(iter(o["observed"].values())) for t, o in sides.items()}
                errors = {t: observed[t].get("error") if set(observed[t]) == {"error"} else None for t in sides}
                outcomes.append(judge(sc.name, sc.group, observed, errors))
        print(render(outcomes))
        return 0 if all(o.verdict in ("same", "known") for o in outcomes) else 1
    if args.list:
        for sc in chosen:
            print(f"{sc.name:<36} {sc.group:<8} {sc.doc}")
        return 0
    if not chosen:
        print(f"no scenario matches {' '.join(args.patterns)}", file=sys.stderr)
        return 2
    home = (args.home or Path(tempfile.mkdtemp(prefix="fleet-fidelity-"))).resolve()
    os.environ["FLEET_HOME"] = str(home)
    started = time.monotonic()
    with Sides(home, keep=args.keep, targets=(args.side,) if args.side else ("sandbox", "local")) as sides:
        print(f"both sides up in {time.monotonic() - started:.0f} s; {len(chosen)} scenarios", flush=True)
        outcomes = run_suite(sides, chosen)
    print()
    if args.side:
        for o in outcomes:
            print(f"--- {o.scenario}: {json.dumps(o.observed[args.side], indent=1, default=str)[:4000]}")
    print(render(outcomes))
    print(f"total {time.monotonic() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps([vars(o) for o in outcomes], indent=1, default=str))
    return 0 if all(o.verdict in ("same", "known", "ran") for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
