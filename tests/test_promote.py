"""What a promotion carries from one stage's folder to the next and what each stage keeps (fleetlib.promote.compare),
on files laid out as this fleet's add-app runbook writes them and as fluxcd/flux2-kustomize-helm-example lays out
its stages (one overlay folder per stage, named in the cluster's Kustomizations and ArtifactGenerator). The flow
itself runs over the wire in tests/test_fleetrun.py, its dry-run diff against the real flux CLI in
tests/test_conformance.py."""

from __future__ import annotations

import pytest

from fleetlib.errors import InputError
from fleetlib.promote.compare import carried, chosen, compare

DEV, STAGING = "clusters/stages/dev/clusters/a", "clusters/stages/staging/clusters/a"
APP = """# Managed by fleetlib's add-app runbook (runbooks/add-app.ipynb): change the runbook's
# parameters and run it again, or remove the app with -p remove True.
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: web
  namespace: flux-system
spec:
  interval: 10m
  chart:
    spec:
      chart: web
      version: 1.2.0
  values:
    replicas: 2
"""


def test_a_promoted_app_keeps_the_second_stages_values_and_the_files_header() -> None:
    staging = APP.replace("version: 1.2.0", "version: 1.1.0").replace("replicas: 2", "replicas: 5")
    out = carried(APP, staging, from_path=DEV, to_path=STAGING, shown="apps/web.yaml")
    assert out == APP.replace("replicas: 2", "replicas: 5")  # the chart version moves, the values stay
    assert carried(APP, APP.replace("  values:\n    replicas: 2\n", ""), from_path=DEV, to_path=STAGING,
                   shown="apps/web.yaml") == APP.replace("  values:\n    replicas: 2\n", "")  # absent stays absent
    assert carried(APP, None, from_path=DEV, to_path=STAGING, shown="apps/web.yaml") == APP  # new: as it is


OVERLAY = """---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: flux-system
spec:
  interval: {interval}
  path: ./{stage}
  patches:
    - patch: |
        - op: replace
          path: /spec/server
          value: https://acme-{stage}.example.org/directory
      target:
        kind: ClusterIssuer
---
apiVersion: source.extensions.fluxcd.io/v1beta1
kind: ArtifactGenerator
metadata:
  name: apps
spec:
  artifacts:
    - name: apps
      copy:
        - from: "@monorepo/apps/base/**"
          to: "@artifact/base/"
        - from: "@monorepo/apps/{stage}/**"
          to: "@artifact/{stage}/"
"""


def test_stage_overlays_are_named_as_the_second_stage_and_its_patches_stay() -> None:
    staging = OVERLAY.format(stage="staging", interval="1h")
    production = OVERLAY.format(stage="production", interval="1h")
    items = compare({"apps.yaml": staging}, {"apps.yaml": production}, from_path="clusters/staging",
                    to_path="clusters/production", stages=("staging", "production"))
    assert [(i.path, i.state("staging", "production")) for i in items] == [("apps.yaml", "agree")]
    changed = OVERLAY.format(stage="staging", interval="30m")  # a change made in staging moves; its overlay does not
    out = carried(changed, production, from_path="clusters/staging", to_path="clusters/production",
                  shown="apps.yaml", stages=("staging", "production"))
    assert out == OVERLAY.format(stage="production", interval="30m")


def test_chosen_names_apps_and_paths_and_refuses_what_neither_stage_has() -> None:
    items = compare({"apps/web.yaml": APP, "infra/a.yaml": "a: 1\n"}, {"apps/web.yaml": APP}, from_path=DEV,
                    to_path=STAGING)
    assert [i.path for i in chosen(items, apps=["web"], paths=["infra"])] == ["apps/web.yaml", "infra/a.yaml"]
    with pytest.raises(InputError, match="nothing to promote at apps/nope.yaml"):
        chosen(items, apps=["nope"], paths=[])
    assert chosen(items, apps=["nope"], paths=[], strict=False) == []
