"""Right-size one cluster's Flux controllers: what the tune-resources runbook calls, step by step.

1. `gather` (flow.Tuning): usage per controller from the cluster's Prometheus (the sandbox's, or
   `prometheus_url`) or by sampling metrics.k8s.io (usage); the Flux load; the live Deployments; and the
   fleet repository's `flux-system` folder as kustomize builds it (so existing patches count).
2. `recommendations`: the chosen strategy per controller (fleetlib.tuning.strategies), compared with the
   repository's values, plus `--concurrent`/`--requeue-dependency` suggestions and the drift between
   live and repository.
3. `proposal`: fleetlib's patches in `kustomization.yaml`, built with kustomize to check that the
   Deployments come out with the proposed values, and shown as a diff (proposal).
4. `apply`: `none` (show only), `commit` (to the cluster's branch), or `pr` (a branch
   `tune/<stage>-<cluster>-<yyyymmdd>` and a pull request) (publish). Nothing proposed: "up to date".
5. What it shows and leaves: charts, records, exports for the fleet view (present).

Files: options.py (the runbook's options, settings), usage.py (usage sources), proposal.py (the change),
publish.py (commit or pull request), present.py (pull request body, charts, exports), flow.py (Tuning).

    tuning = Tuning.from_run(run)
    tuning.gather()
    tuning.recommendations()
"""

from fleetlib.tuning.flow import Tuning
from fleetlib.tuning.options import RUNBOOK, settings_of, tune_options
from fleetlib.tuning.present import Findings, daily_peaks, exported_rows, exports_text, peak, sparkline
from fleetlib.tuning.proposal import Proposal
from fleetlib.tuning.usage import samples, to_usage, usage_source

__all__ = ["RUNBOOK", "Findings", "Proposal", "Tuning", "daily_peaks", "exported_rows", "exports_text", "peak", "samples",
           "settings_of", "sparkline", "to_usage", "tune_options", "usage_source"]
