"""fleetlib: executable, auditable runbooks for fleets of Flux CD clusters.

Layers, importing downwards only: `cli` and `runbook` (what people and notebooks call); domain
modules (`scaffold`, `fleetrepo`, later bootstrap, diagnose, tuning, charts); adapters that do I/O
(later kube, github, git, sandbox); and at the bottom the pure model (`model`, `names`, `quantity`,
`errors`) with `parameters`, `files` and `locations`. tests/test_layers.py keeps it so.

    from fleetlib import runbook
    run = runbook.start("inspect", globals())
"""

__version__ = "0.1.0"
