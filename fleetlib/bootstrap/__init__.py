"""Bootstrap: what `flux bootstrap github` does, step by step, re-runnable and auditable.

Steps, in Flux's order: preflight; repository (ensure it exists, clone the branch); components
(`gotk-components.yaml`, committed only if changed); install (only when the flux-system Kustomization
never applied a revision; CRDs and Namespaces first); source secret (left alone when it exists, unless
`rotate_key`); sync (`gotk-sync.yaml`, `kustomization.yaml` only if absent, then applied); verify
(GitRepository and Kustomization Ready at HEAD, every controller ready, failing fast). Each step prints a
✔/✗ line and adds a row to `table()`; with `dry_run` every change is shown and none is made.

Files: flow.py (Bootstrap, the steps), repo.py (writes to the fleet repository), waits.py (what it waits
for), steps.py (the account of each step).

    boot = Bootstrap.from_run(run)
    boot.preflight(); boot.repository(); ...; boot.verify()
"""

from fleetlib.bootstrap.flow import MIN_KUBERNETES, Bootstrap
from fleetlib.steplog import Step

__all__ = ["MIN_KUBERNETES", "Bootstrap", "Step"]
