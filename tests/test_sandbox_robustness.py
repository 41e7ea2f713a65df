"""An object the API would refuse today can still sit in an older cluster's state: the mini-Flux stalls it
(InvalidSpec) and keeps reconciling the others, and the troubleshooting views and diagnosis report it
instead of crashing."""

from __future__ import annotations

import json
import uuid

import pytest

from fleetlab.sandbox import Sandbox
from fleetlib.kube import connect
from fleetlib.parameters import Catalog, Layer, merge_and_validate
from fleetlib.troubleshoot import fluxview
from fleetlib.troubleshoot.diagnose import diagnose
from fleetlib.troubleshoot.facts import gather

from .conftest import REPO, new_cluster
from .fluxenv import bootstrapped, wait_for


def test_a_string_spec_is_stalled_and_reported(sandbox: Sandbox, tmp_path: pytest.TempPathFactory) -> None:
    fc = bootstrapped(new_cluster(sandbox, "robust", tmp_path))
    api = fc.c.api
    with api.store.write() as tx:  # as an older sandbox would have stored it, past today's validation
        rv = tx.next_rv()
        body = {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                "metadata": {"name": "garbled", "namespace": "flux-system", "uid": str(uuid.uuid4()),
                             "resourceVersion": str(rv), "generation": 1, "creationTimestamp": "2026-11-01T00:00:00Z"},
                "spec": "garbage"}
        tx.put("kustomize.toolkit.fluxcd.io/kustomizations", "flux-system", "garbled", body["metadata"]["uid"], rv,
               body, change="ADDED")
    wait_for("garbled to be stalled", lambda: any(c["type"] == "Stalled" and c["reason"] == "InvalidSpec" for c in (
        (fc.get("Kustomization", "garbled") or {}).get("status") or {}).get("conditions", [])), timeout=30)
    fc.request_reconcile("Kustomization", "flux-system")
    wait_for("flux-system still reconciled", lambda: (fc.get("Kustomization", "flux-system") or {}).get(
        "status", {}).get("lastHandledReconcileAt"), timeout=30)
    params = merge_and_validate(fc.c.id, [*Catalog.load(REPO).base_layers("dev"),
                                          Layer("t", {"target": "sandbox", "path": fc.path})])
    facts = gather(connect(params, home=sandbox.home))
    assert not fluxview.get(facts).empty and not fluxview.check(facts, flux_version="v2.5.1").empty
    found = {(f.id, f.object) for f in diagnose(facts)}
    assert ("stalled", "Kustomization/flux-system/garbled") in found
    sandbox.forget_cluster(fc.c.id)
    assert json.dumps(body)
