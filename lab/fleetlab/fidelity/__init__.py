"""The differential suite: the same scenarios run on the sandbox and on a local cluster (real Kubernetes, real
Flux controllers), their observations normalised (names, times, uids, revisions) and compared.

- `harness`: one side (a bootstrapped cluster on one target) and the per-scenario case helpers;
- `normalize`: what is blanked out before comparing;
- `scenarios`: the scenarios, each a function of a case returning named observations;
- `known`: differences that remain, each with its reason (the README's sandbox section lists them);
- `suite`: runs scenarios on both sides at once and gives each a verdict.

    python bench/fidelity.py            # every scenario, both targets, a table of verdicts
"""
