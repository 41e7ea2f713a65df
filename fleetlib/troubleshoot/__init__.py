"""Troubleshooting a cluster, as the troubleshoot runbook does it (`flux check`, `flux get all`, events, logs,
then a diagnosis with remediations), step by step.

Files: facts.py (one gather of everything a diagnosis reads), diagnose.py (the rules: pure functions from facts
to findings, registered with `@rule`), fluxview.py (the `flux get` / `flux stats` / `flux tree` tables),
operate.py (reconcile, suspend, resume, tree, trace: what `flux` does to one object), flow.py (the runbook's
steps that reach outside: gather with the fleet repository's heads, remediate, conclude).

    facts = troubleshoot.gather_for(run)
    findings = troubleshoot.diagnose(facts)
    troubleshoot.conclude(findings, fail_on="error")
"""

from fleetlib.troubleshoot.diagnose import diagnose
from fleetlib.troubleshoot.flow import (
    conclude,
    findings_table,
    gather_cluster,
    gather_for,
    remediate,
    summary,
    tree_text,
)

__all__ = ["conclude", "diagnose", "findings_table", "gather_cluster", "gather_for", "remediate", "summary",
           "tree_text"]
