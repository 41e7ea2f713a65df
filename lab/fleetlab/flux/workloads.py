"""Workloads as kube-controller-manager and the kubelet would run them: Deployments get a ReplicaSet
per pod template, ReplicaSets get Pods, Pods become Running and Ready after a short (simulated)
delay. A Flux controller's container dies for the reasons the real one would: a memory limit below what
it needs at start (OOMKilled, exit 137) or a flag its parser refuses (exit 2, the parser's message in its
log); either way it restarts with the kubelet's back-off (10 s doubling to 5 m) in CrashLoopBackOff. An
image from a registry under `.invalid` is never pulled (ImagePullBackOff).

    Workloads(runtime).step()
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from typing import Any

from fleetlab.flux.flags import FLAGS, FlagError
from fleetlab.flux.flags import parse as parse_flags
from fleetlab.flux.runtime import Runtime
from fleetlab.kubernetes.errors import ApiError
from fleetlib.model import go_duration
from fleetlib.objects import meta_of, spec_of

MANAGER = "kube-controller-manager"
BACKOFF_START, BACKOFF_MAX = 10.0, 300.0
"""The kubelet's crash-loop back-off: 10 s, doubling, at most 5 m (simulated seconds)."""


SAFE = "bcdfghjklmnpqrstvwxz2456789"
"""apimachinery's rand.SafeEncodeString alphabet (no vowels, no look-alikes): pod-template-hash, pod suffixes."""


def template_hash(template: dict[str, Any]) -> str:
    number = int(hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest(), 16)
    out = ""
    while len(out) < 10:
        number, i = divmod(number, len(SAFE))
        out += SAFE[i]
    return out


def _owner(obj: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def _owned(items: list[dict[str, Any]], uid: str) -> list[dict[str, Any]]:
    return [i for i in items if any(o.get("uid") == uid for o in i["metadata"].get("ownerReferences") or [])]


class Workloads:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.started: dict[str, float] = {}

    def step(self) -> None:
        deployments = self.rt.list("Deployment")
        replicasets, pods = self.rt.list("ReplicaSet"), self.rt.list("Pod")
        self._collect_orphans(deployments + replicasets, replicasets + pods)
        if not deployments:
            return
        for d in deployments:
            if d["metadata"].get("deletionTimestamp"):
                continue
            rs = self._replicaset(d, _owned(replicasets, d["metadata"]["uid"]))
            if rs is None:
                continue
            mine = _owned(pods, rs["metadata"]["uid"])
            mine = self._scale(rs, mine, int(spec_of(d).get("replicas", 1)))
            ready = sum(1 for p in mine if self._pod_status(p, d))
            self._status(d, rs, len(mine), ready)
        self.rt.forget_pods()

    def _collect_orphans(self, owners: list[dict[str, Any]], owned: list[dict[str, Any]]) -> None:
        """The garbage collector: a ReplicaSet or Pod whose controller owner is gone goes too."""
        alive = {o["metadata"]["uid"] for o in owners}
        for obj in owned:
            refs = [r for r in obj["metadata"].get("ownerReferences") or [] if r.get("controller")]
            if refs and refs[0]["kind"] in ("Deployment", "ReplicaSet") and refs[0]["uid"] not in alive:
                t = self.rt.type(obj["kind"])
                if t is not None:
                    try:
                        self.rt.api.delete(t, obj["metadata"]["namespace"], obj["metadata"]["name"])
                    except ApiError:
                        pass

    def _replicaset(self, d: dict[str, Any], owned: list[dict[str, Any]]) -> dict[str, Any] | None:
        spec = d.get("spec") or {}
        template = spec.get("template") or {}
        h = template_hash(template)
        name = f"{d['metadata']['name']}-{h}"
        rs_type = self.rt.type("ReplicaSet")
        assert rs_type is not None
        ns = d["metadata"]["namespace"]
        for old in owned:
            if old["metadata"]["name"] != name:
                try:
                    self.rt.api.delete(rs_type, ns, old["metadata"]["name"])
                except ApiError:
                    pass
        current = next((r for r in owned if r["metadata"]["name"] == name), None)
        if current is not None:
            want = int(spec.get("replicas", 1))
            if int(spec_of(current).get("replicas", 1)) != want:  # scaled: the ReplicaSet follows
                try:
                    _, current = self.rt.api.patch(rs_type, ns, name, "application/merge-patch+json",
                                                   json.dumps({"spec": {"replicas": want}}).encode(), manager=MANAGER)
                except ApiError:
                    pass
            return current
        labels = {**(meta_of(template).get("labels") or {}), "pod-template-hash": h}
        body = {"metadata": {"name": name, "labels": labels, "ownerReferences": [_owner(d)],
                             "annotations": {"deployment.kubernetes.io/revision": "1"}},
                "spec": {"replicas": int(spec.get("replicas", 1)),
                         "selector": {"matchLabels": {**((spec.get("selector") or {}).get("matchLabels") or {}),
                                                      "pod-template-hash": h}},
                         "template": {**template, "metadata": {**meta_of(template), "labels": labels}}}}
        try:
            created = self.rt.api.create(rs_type, ns, body, manager=MANAGER)
        except ApiError:
            return None
        self.rt.event(d, "Normal", "ScalingReplicaSet", f"Scaled up replica set {name} from 0 to "
                      f"{int(spec.get('replicas', 1))}", "deployment-controller", notify=False)
        return created

    def _scale(self, rs: dict[str, Any], pods: list[dict[str, Any]], want: int) -> list[dict[str, Any]]:
        pod_type = self.rt.type("Pod")
        assert pod_type is not None
        ns = rs["metadata"]["namespace"]
        live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        for extra in live[want:]:
            try:
                self.rt.api.delete(pod_type, ns, extra["metadata"]["name"])
            except ApiError:
                pass
        live = live[:want]
        template = spec_of(rs).get("template") or {}
        while len(live) < want:
            suffix = "".join(random.choices(SAFE, k=5))
            body = {"metadata": {"name": f"{rs['metadata']['name']}-{suffix}",
                                 "labels": meta_of(template).get("labels") or {},
                                 "annotations": meta_of(template).get("annotations") or {},
                                 "ownerReferences": [_owner(rs)]},
                    "spec": {**spec_of(template), "nodeName": self.rt.api.node}}
            try:
                pod = self.rt.api.create(pod_type, ns, body, manager=MANAGER)
            except ApiError:
                break
            live.append(pod)
            self.rt.event(rs, "Normal", "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}",
                          "replicaset-controller", notify=False)
            self.rt.event(pod, "Normal", "Scheduled", f"Successfully assigned {ns}/{pod['metadata']['name']} to "
                          f"{self.rt.api.node}", "default-scheduler", notify=False)
        return live

    def _pod_status(self, pod: dict[str, Any], d: dict[str, Any]) -> bool:
        """Bring a pod's status forward; returns whether it is ready."""
        meta = pod["metadata"]
        uid = meta["uid"]
        old = pod.get("status") or {}
        now = self.rt.now()
        if uid not in self.started and old.get("phase") == "Running":
            self.started[uid] = now - self.rt.settings.pod_ready_after  # running before this controller started
        start = self.started.setdefault(uid, now)
        old = pod.get("status") or {}
        containers = spec_of(pod).get("containers") or []
        app = d["metadata"]["name"]
        stamp = self.rt.stamp()
        unpullable = [c for c in containers if unpullable_image(str(c.get("image", "")))]
        if unpullable:
            waiting = [{"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": False, "started": False,
                        "restartCount": 0, "state": {"waiting": {
                            "reason": "ImagePullBackOff",
                            "message": f'Back-off pulling image "{c.get("image")}"'}}} for c in containers]
            new = {"phase": "Pending", "containerStatuses": waiting, "startTime": old.get("startTime") or stamp,
                   "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": stamp},
                                  {"type": "Ready", "status": "False", "reason": "ContainersNotReady",
                                   "lastTransitionTime": stamp}]}
            if _changed(old, new):
                self.rt.patch_status(pod, new, MANAGER)
            return False
        if now - start < self.rt.settings.pod_ready_after:
            if old.get("phase") != "Pending" or old.get("containerStatuses"):
                self.rt.patch_status(pod, {"phase": "Pending", "containerStatuses": None}, MANAGER)
            return False
        previous = {c.get("name"): c for c in old.get("containerStatuses") or []}
        statuses, ready = [], True
        for c in containers:
            before = previous.get(c["name"], {})
            restarts = int(before.get("restartCount", 0))
            status: dict[str, Any] = {"name": c["name"], "image": c.get("image", ""),
                                      "imageID": f"{c.get('image', '')}@sha256:" + hashlib.sha256(
                                          str(c.get("image")).encode()).hexdigest(),
                                      "containerID": "containerd://" + hashlib.sha256(uid.encode()).hexdigest()[:64],
                                      "started": True, "ready": True, "restartCount": restarts,
                                      "state": before.get("state") or {"running": {"startedAt": stamp}}}
            if before.get("lastState"):
                status["lastState"] = before["lastState"]
            death = _death(c, app, self.rt.working_set(app)) if c["name"] == "manager" else None
            if death is not None:
                reason, code, line = death
                due = self.started.get(uid + "/restart", start)
                if now >= due:  # the container starts, dies at once, and waits out the back-off
                    if line and restarts == 0 or line and now - self.started.get(uid + "/logged", -1e9) > 60:
                        self.started[uid + "/logged"] = now
                        self.rt.api.store.append_logs(meta["namespace"], meta["name"], "manager", [(time.time(), line)])
                    restarts += 1
                    self.started[uid + "/restart"] = now + min(BACKOFF_MAX, BACKOFF_START * 2 ** (restarts - 1))
                    status["lastState"] = {"terminated": {"exitCode": code, "reason": reason, "startedAt": stamp,
                                                          "finishedAt": stamp}}
                backoff = go_duration(min(BACKOFF_MAX, BACKOFF_START * 2 ** max(0, restarts - 1)))
                status.update({"restartCount": restarts, "ready": False, "started": False,
                               "state": {"waiting": {"reason": "CrashLoopBackOff",
                                                     "message": f"back-off {backoff} restarting failed container="
                                                                f"manager pod={meta['name']}_{meta['namespace']}"}}})
                ready = False
            statuses.append(status)
        conds = [{"type": t, "status": "True" if ready or t in ("PodScheduled", "Initialized") else "False",
                  "lastTransitionTime": stamp} for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")]
        new = {"phase": "Running", "hostIP": "172.18.0.2", "podIP": f"10.244.0.{int(uid[:2], 16) % 250 + 2}",
               "startTime": old.get("startTime") or stamp, "qosClass": "Burstable", "containerStatuses": statuses,
               "conditions": conds}
        if _changed(old, new):
            self.rt.patch_status(pod, new, MANAGER)
        return ready

    def _status(self, d: dict[str, Any], rs: dict[str, Any], count: int, ready: int) -> None:
        want = int(spec_of(d).get("replicas", 1))
        stamp = self.rt.stamp()
        available = ready >= want
        new = {"observedGeneration": d["metadata"].get("generation", 1), "replicas": count, "updatedReplicas": count,
               "readyReplicas": ready, "availableReplicas": ready, "unavailableReplicas": max(0, want - ready) or None,
               "conditions": [
                   {"type": "Available", "status": "True" if available else "False",
                    "reason": "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
                    "message": "Deployment has minimum availability." if available else
                    "Deployment does not have minimum availability.", "lastUpdateTime": stamp,
                    "lastTransitionTime": stamp},
                   {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                    "message": f'ReplicaSet "{rs["metadata"]["name"]}" has successfully progressed.',
                    "lastUpdateTime": stamp, "lastTransitionTime": stamp}]}
        if _changed(d.get("status") or {}, new):
            self.rt.patch_status(d, new, MANAGER)
        rs_new = {"observedGeneration": rs["metadata"].get("generation", 1), "replicas": count,
                  "fullyLabeledReplicas": count, "readyReplicas": ready, "availableReplicas": ready}
        if _changed(rs.get("status") or {}, rs_new):
            self.rt.patch_status(rs, rs_new, MANAGER)


def _death(container: dict[str, Any], app: str, working_set: float | None = None
           ) -> tuple[str, int, str | None] | None:
    """Why a Flux controller's container dies, as (reason, exit code, its last log line), or None: a working set
    (now, or what it needs at start) past its memory limit is an OOM kill, as the kernel's cgroup does it; a flag
    its parser refuses ends it at start."""
    from fleetlab.metrics.usage import start_memory
    from fleetlib.quantity import parse_quantity

    need = start_memory(app)
    limit = ((container.get("resources") or {}).get("limits") or {}).get("memory")
    if need is not None and limit is not None:
        try:
            if parse_quantity(str(limit)) < max(need, working_set or 0.0):
                return "OOMKilled", 137, None
        except ValueError:
            pass
    if app in FLAGS:
        try:
            parse_flags(app, container.get("args") or [])
        except FlagError as e:
            return "Error", 2, str(e)
    return None


def _changed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether `new` differs from `old` in anything but timestamps."""
    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if not k.endswith(("Time", "At", "Timestamp"))
                    and k != "startTime" and v is not None}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip({k: old.get(k) for k in new}) != strip(new)


def unpullable_image(image: str) -> bool:
    """An image no registry will serve: its registry host is under `.invalid` (RFC 6761: never resolves). The
    local stack's kwok stage keeps such pods in ImagePullBackOff the same way."""
    first = image.split("/", 1)[0] if "/" in image else ""
    host = first.split(":", 1)[0]
    return host == "invalid" or host.endswith(".invalid")
