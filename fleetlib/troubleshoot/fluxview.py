"""What `flux check`, `flux get`, `flux stats`, `flux events` and `flux logs` show, as DataFrames built
from gathered facts (pure: no request is made here).

    get(facts, ready=False)        # flux get all -A --status-selector ready=false
    events(facts, types=("Warning",))
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from fleetlib.objects import Ref, condition, deployment_ready, spec_of, status_of
from fleetlib.troubleshoot.facts import ClusterFacts

_HEX = re.compile(r"\b[0-9a-f]{40,128}\b")
GET_COLUMNS = ["namespace", "kind", "name", "revision", "suspended", "ready", "message", "age", "last_reconcile",
               "generation", "observed_generation"]
GET_TEXT_COLUMNS = ["namespace", "kind", "name", "revision", "suspended", "ready", "message"]


def truncate_hex(text: str) -> str:
    """Any 40-128 hex digits shortened to 8, as flux prints revisions (`main@sha1:1a2b3c4d`)."""
    return _HEX.sub(lambda m: m.group(0)[:8], text or "")


def _age(stamp: str | None, now: datetime) -> str:
    if not stamp:
        return ""
    seconds = int((now - datetime.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def revision(obj: dict[str, Any]) -> str:
    status = obj.get("status") or {}
    if obj["kind"] == "Kustomization":
        rev = status.get("lastAppliedRevision") or ""
    elif obj["kind"] == "HelmRelease":
        rev = ((status.get("history") or [{}])[0]).get("chartVersion") or status.get("lastAttemptedRevision") or ""
    else:
        rev = (status.get("artifact") or {}).get("revision") or ""
    return truncate_hex(rev)


def get(facts: ClusterFacts, *, kind: str | None = None, namespace: str | None = None,
        label: str | None = None, ready: bool | None = None, now: datetime | None = None) -> pd.DataFrame:
    now = now or datetime.now(UTC)
    key, _, value = (label or "").partition("=")
    rows = []
    for obj in facts.all_objects():
        meta = obj["metadata"]
        if kind and obj["kind"].lower() != kind.lower() or namespace and meta.get("namespace") != namespace:
            continue
        if label and (meta.get("labels") or {}).get(key) != value:
            continue
        cond = condition(obj)
        is_ready = cond.get("status") == "True"
        if ready is not None and is_ready != ready:
            continue
        rows.append({"namespace": meta.get("namespace"), "kind": obj["kind"], "name": meta["name"],
                     "revision": revision(obj), "suspended": bool(spec_of(obj).get("suspend")),
                     "ready": cond.get("status", "False"),
                     "message": truncate_hex(cond.get("message", "waiting to be reconciled")),
                     "age": _age(meta.get("creationTimestamp"), now),
                     "last_reconcile": cond.get("lastTransitionTime", ""),
                     "generation": meta.get("generation"), "observed_generation": status_of(obj).get(
                         "observedGeneration")})
    frame = pd.DataFrame(rows, columns=GET_COLUMNS)
    frame.attrs["text_columns"] = GET_TEXT_COLUMNS  # what `flux get all -A` prints; the HTML table has every column
    frame.attrs["empty"] = "no Flux objects found"
    return frame


def _size(total: int) -> str:
    if not total:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if total < 1024 or unit == "GiB":
            return f"{total} B" if unit == "B" else f"{total:.1f} {unit}"
        total /= 1024  # type: ignore[assignment]
    return "-"


def stats(facts: ClusterFacts) -> pd.DataFrame:
    """flux stats -A: reconcilers, running, failing, suspended and artifact storage per kind."""
    rows = []
    for kind, items in facts.objects.items():
        suspended = sum(1 for o in items if spec_of(o).get("suspend"))
        failing = sum(1 for o in items if condition(o).get("status") == "False")
        storage = sum(int((status_of(o).get("artifact") or {}).get("size") or 0) for o in items)
        rows.append({"reconcilers": kind, "running": len(items) - suspended, "failing": failing,
                     "suspended": suspended, "storage": _size(storage)})
    return pd.DataFrame(rows, columns=["reconcilers", "running", "failing", "suspended", "storage"])


def check(facts: ClusterFacts, *, flux_version: str) -> pd.DataFrame:
    """flux check: version pre-check, distribution, bootstrapped, controllers with images, CRDs."""
    rows: list[dict[str, Any]] = []
    need = {"v2.4": "1.28.0", "v2.5": "1.30.0", "v2.6": "1.31.0"}.get(".".join(flux_version.split(".")[:2]), "1.30.0")
    have = (facts.kubernetes or "").lstrip("v").split("-")[0]
    ok = bool(have) and tuple(map(int, have.split(".")[:3])) >= tuple(map(int, need.split(".")))
    rows.append({"check": "kubernetes", "ok": ok, "detail": f"{have or 'unreachable'} >={need}-0"})
    crd = next((c for c in facts.crds if c["metadata"]["name"] == "gitrepositories.source.toolkit.fluxcd.io"), None)
    labels = (crd or {}).get("metadata", {}).get("labels") or {}
    rows.append({"check": "distribution", "ok": crd is not None,
                 "detail": f"{labels.get('app.kubernetes.io/part-of', '?')}-{labels.get('app.kubernetes.io/version', '?')}"})
    rows.append({"check": "bootstrapped", "ok": "kustomize.toolkit.fluxcd.io/name" in labels,
                 "detail": str("kustomize.toolkit.fluxcd.io/name" in labels).lower()})
    for d in facts.deployments:
        ready = deployment_ready(d)
        images = ", ".join(c.get("image", "") for c in spec_of(spec_of(d).get("template")).get("containers") or [])
        rows.append({"check": f"controller {d['metadata']['name']}", "ok": ready,
                     "detail": f"{'deployment ready' if ready else 'not ready'}; {images}"})
    if not facts.deployments:
        rows.append({"check": "controllers", "ok": False, "detail": f"no controllers found in the '{facts.namespace}' "
                     "namespace with the label selector 'app.kubernetes.io/part-of=flux'"})
    for c in facts.crds:
        stored = status_of(c).get("storedVersions") or []
        rows.append({"check": f"crd {c['metadata']['name']}", "ok": bool(stored),
                     "detail": stored[-1] if stored else "no stored version"})
    return pd.DataFrame(rows, columns=["check", "ok", "detail"])


def related(facts: ClusterFacts, kind: str, name: str, namespace: str) -> set[tuple[str, str]]:
    """flux events --for: the object and what it references (its source; a HelmRelease's chart)."""
    out = {(kind, name)}
    obj = next((o for o in facts.objects.get(kind, []) if o["metadata"]["name"] == name
                and o["metadata"].get("namespace") == namespace), None)
    ospec = spec_of(obj)
    if kind == "Kustomization" and isinstance(ospec.get("sourceRef"), dict):
        out.add((ospec["sourceRef"].get("kind", "GitRepository"), ospec["sourceRef"].get("name", "")))
    if kind == "HelmRelease":
        src = spec_of(ospec.get("chart")).get("sourceRef") or {}
        if src:
            out.add((src.get("kind", "HelmRepository"), src.get("name", "")))
        out.add(("HelmChart", f"{namespace}-{name}"))
    return out


def events(facts: ClusterFacts, *, types: tuple[str, ...] = (), reasons: tuple[str, ...] = (),
           for_object: tuple[str, str, str] | None = None) -> pd.DataFrame:
    """Events of Flux objects, oldest first (as flux events sorts them)."""
    wanted = related(facts, *for_object) if for_object else None
    rows = []
    for e in facts.events:
        inv = e.get("involvedObject") or {}
        if types and e.get("type", "").lower() not in {t.lower() for t in types}:
            continue
        if reasons and e.get("reason") not in reasons:
            continue
        if wanted is not None and ((inv.get("kind"), inv.get("name")) not in wanted or
                                   inv.get("namespace") != for_object[2]):  # type: ignore[index]
            continue
        rows.append({"last_seen": e.get("lastTimestamp") or e.get("eventTime") or "", "type": e.get("type"),
                     "reason": e.get("reason"), "object": str(Ref(str(inv.get("kind")), None, str(inv.get("name")))),
                     "namespace": inv.get("namespace"), "count": e.get("count", 1),
                     "message": truncate_hex(e.get("message", ""))})
    frame = pd.DataFrame(rows, columns=["last_seen", "type", "reason", "object", "namespace", "count", "message"])
    frame = frame.sort_values("last_seen", kind="stable").reset_index(drop=True)
    frame.attrs.update(text_columns=["last_seen", "type", "reason", "object", "message"],  # as `flux events` prints
                       empty="no events")
    return frame


def logs(facts: ClusterFacts, *, level: str | None = None, kind: str | None = None, name: str | None = None,
         namespace: str | None = None, since: str | None = None) -> pd.DataFrame:
    """Controller JSON logs as rows; `level` matches exactly, as `flux logs --level` does."""
    rows = []
    for entry in facts.logs:
        row = {"ts": entry.get("ts", ""), "level": entry.get("level", ""), "controller": entry.get("component", ""),
               "kind": entry.get("controllerKind", ""), "name": entry.get("name", ""),
               "namespace": entry.get("namespace", ""), "message": entry.get("msg", ""), "error": entry.get("error", "")}
        if level and row["level"] != level or kind and row["kind"].lower() != kind.lower():
            continue
        if name and row["name"] != name or namespace and row["namespace"] != namespace:
            continue
        if since and row["ts"] < since:
            continue
        rows.append(row)
    frame = pd.DataFrame(rows, columns=["ts", "level", "controller", "kind", "name", "namespace", "message", "error"])
    frame.attrs.update(text_columns=["ts", "level", "controller", "name", "message", "error"], empty="no log lines")
    return frame
