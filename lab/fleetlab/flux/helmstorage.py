"""What the Helm SDK does for helm-controller, on the sandbox's API server: apply a release's rendered
manifests with Helm's ownership labels and annotations, store the release as Helm does (Secret
`sh.helm.release.v1.<release>.v<N>`, gzip and base64, the previous one superseded), and uninstall it.

    objects = storage.apply(hr, manifests, "web", "apps")
    storage.write_secret(hr, entry, objects, "apps")
"""

from __future__ import annotations

import base64
import gzip
import json
import time
from typing import Any

from fleetlab.flux.helmrender import RenderError
from fleetlab.flux.runtime import Runtime
from fleetlab.kubernetes.errors import ApiError

MANAGER = "helm-controller"
NAME_LABEL, NAMESPACE_LABEL = "helm.toolkit.fluxcd.io/name", "helm.toolkit.fluxcd.io/namespace"


class ReleaseStorage:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def apply(self, hr: dict[str, Any], manifests: list[dict[str, Any]], release: str, namespace: str, *,
              client: Any = None) -> list[dict[str, str]]:
        """Apply the rendered manifests as Helm (server-side) does, with Helm's ownership labels and annotations."""
        applied = []
        for obj in manifests:
            meta = obj.setdefault("metadata", {})
            t = self.rt.api.registry().by_kind(str(obj.get("apiVersion")), str(obj.get("kind")))
            if t is None:
                raise RenderError(f'resource mapping not found for name: "{meta.get("name")}" namespace: "'
                                  f'{meta.get("namespace") or namespace}" from "": no matches for kind '
                                  f'"{obj.get("kind")}" in version "{obj.get("apiVersion")}"\nensure CRDs are '
                                  "installed first")
            if t.namespaced:
                meta.setdefault("namespace", namespace)
            else:
                meta.pop("namespace", None)
            meta.setdefault("labels", {}).update({"app.kubernetes.io/managed-by": "Helm",
                                                  NAME_LABEL: hr["metadata"]["name"],
                                                  NAMESPACE_LABEL: hr["metadata"]["namespace"]})
            meta.setdefault("annotations", {}).update({"meta.helm.sh/release-name": release,
                                                       "meta.helm.sh/release-namespace": namespace})
            try:
                (client or self.rt.api).patch(t, meta.get("namespace"), meta["name"], "application/apply-patch+yaml",
                                              json.dumps(obj).encode(), manager=MANAGER, force=True)
            except ApiError as e:
                e.message = f"server-side apply failed for object {meta.get('namespace') + '/' if t.namespaced else ''}" \
                            f"{meta['name']} {obj.get('apiVersion')}, Kind={obj.get('kind')}: {e.message}"
                raise
            applied.append({"apiVersion": str(obj["apiVersion"]), "kind": str(obj["kind"]),
                            "namespace": meta.get("namespace") or "", "name": meta["name"]})
        return applied

    def write_secret(self, hr: dict[str, Any], entry: dict[str, Any], objects: list[dict[str, str]],
                              namespace: str) -> None:
        """The release as Helm stores it: Secret sh.helm.release.v1.<release>.v<N> (gzip, base64), labelled."""
        t = self.rt.resource("Secret")
        release = {"name": entry["name"], "namespace": entry["namespace"], "version": entry["version"],
                   "info": {"status": entry["status"], "first_deployed": entry["firstDeployed"],
                            "last_deployed": entry["lastDeployed"]},
                   "chart": {"metadata": {"name": entry["chartName"], "version": entry["chartVersion"],
                                          "appVersion": entry.get("appVersion")}},
                   "manifest": json.dumps(objects)}
        payload = base64.b64encode(gzip.compress(json.dumps(release).encode())).decode()
        for old in self.rt.list("Secret", namespace):
            labels = old["metadata"].get("labels") or {}
            if labels.get("owner") == "helm" and labels.get("name") == entry["name"] and labels.get("status") == \
                    "deployed" and old["metadata"]["name"] != f"sh.helm.release.v1.{entry['name']}.v{entry['version']}":
                self.rt.api.patch(t, namespace, old["metadata"]["name"], "application/merge-patch+json",
                                  json.dumps({"metadata": {"labels": {"status": "superseded"}}}).encode(),
                                  manager=MANAGER)
        body: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
                "metadata": {"name": f"sh.helm.release.v1.{entry['name']}.v{entry['version']}", "namespace": namespace,
                             "labels": {"name": entry["name"], "owner": "helm", "status": entry["status"],
                                        "version": str(entry["version"]), "modifiedAt": str(int(time.time()))}},
                "data": {"release": base64.b64encode(payload.encode()).decode()}}
        self.rt.api.patch(t, namespace, body["metadata"]["name"], "application/apply-patch+yaml",
                          json.dumps(body).encode(), manager=MANAGER, force=True)

    def uninstall_objects(self, secret: dict[str, Any]) -> None:
        try:
            payload = base64.b64decode(base64.b64decode(secret["data"]["release"]))
            objects = json.loads(json.loads(gzip.decompress(payload))["manifest"])
        except (KeyError, ValueError, OSError):
            return
        for ref in reversed(objects):
            self.delete(ref["kind"], ref["namespace"] or None, ref["name"], api_version=ref["apiVersion"])

    def delete(self, kind: str, namespace: str | None, name: str, *, api_version: str | None = None) -> None:
        t = self.rt.api.registry().by_kind(api_version, kind) if api_version else self.rt.type(kind)
        if t is None:
            return
        try:
            self.rt.api.delete(t, namespace if t.namespaced else None, name)
        except ApiError:
            pass
