"""What the local stack's control plane runs: each process's command line (etcd, kube-apiserver,
kube-controller-manager, kube-scheduler, kwok), kwok's stages (from the kwok module, plus ours for images
that cannot be pulled) and the fake node kwok manages.

    argv = commands(cluster, cluster.ports())["kube-apiserver"]
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from fleetlab.local.build import download
from fleetlib.files import write_atomic

if TYPE_CHECKING:
    from fleetlab.local.cluster import LocalCluster

NODE_ANNOTATION = "kwok.x-k8s.io/node"
UNPULLABLE_QUERY = '.spec.containers.[].image | test("^(invalid|[^/]*[.]invalid)(:[0-9]+)?/")'
"""kwok selector key (a jq query): true for an image whose registry host is under .invalid."""


def image_pull_backoff_stage() -> dict[str, Any]:
    """Our kwok Stage: pods with an unpullable image wait in ImagePullBackOff (Pending, not Ready)."""
    status = """{{ $now := Now }}
conditions:
- lastTransitionTime: {{ $now | Quote }}
  status: "True"
  type: PodScheduled
- lastTransitionTime: {{ $now | Quote }}
  status: "True"
  type: Initialized
- lastTransitionTime: {{ $now | Quote }}
  reason: ContainersNotReady
  status: "False"
  type: Ready
- lastTransitionTime: {{ $now | Quote }}
  reason: ContainersNotReady
  status: "False"
  type: ContainersReady
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: false
  restartCount: 0
  started: false
  state:
    waiting:
      reason: ImagePullBackOff
      message: 'Back-off pulling image "{{ .image }}"'
{{ end }}
phase: Pending
startTime: {{ $now | Quote }}
"""
    return {"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "Stage", "metadata": {"name": "pod-image-pull-backoff"},
            "spec": {"resourceRef": {"apiGroup": "v1", "kind": "Pod"},
                     "selector": {"matchExpressions": [
                         {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"},
                         {"key": ".status.phase", "operator": "In", "values": ["Pending"]},
                         {"key": UNPULLABLE_QUERY, "operator": "In", "values": ["true"]},
                         {"key": ".status.containerStatuses.[].state.waiting.reason", "operator": "NotIn",
                          "values": ["ImagePullBackOff"]}]},
                     "next": {"statusTemplate": status}}}
KWOK_STAGES = ("node/fast/node-initialize.yaml", "node/heartbeat/node-heartbeat.yaml", "pod/fast/pod-ready.yaml",
               "pod/fast/pod-complete.yaml", "pod/fast/pod-delete.yaml")


def commands(cluster: LocalCluster, ports: dict[str, Any]) -> dict[str, list[str]]:
    """The command line of each control-plane process (etcd, kube-apiserver, controller-manager, scheduler, kwok)."""
    b, p, s = cluster.bins, cluster.pki(), cluster.state
    kubeconfig = str(s / "admin.kubeconfig")
    cert = {name: str(p.path(name)) for name in ("ca.crt", "ca.key", "apiserver.crt", "apiserver.key", "sa.key",
                                                  "sa.pub", "apiserver-kubelet-client.crt",
                                                  "apiserver-kubelet-client.key")}
    peer = f"http://127.0.0.1:{ports['etcd-peer']}"
    return {
        "etcd": [str(b / "etcd"), "--name=default", f"--data-dir={s / 'etcd'}",
                 f"--listen-client-urls=http://127.0.0.1:{ports['etcd']}",
                 f"--advertise-client-urls=http://127.0.0.1:{ports['etcd']}", f"--listen-peer-urls={peer}",
                 f"--initial-advertise-peer-urls={peer}", f"--initial-cluster=default={peer}",
                 "--quota-backend-bytes=4294967296", "--log-level=warn",
                 "--auto-compaction-retention=1"],
        "kube-apiserver": [
            str(b / "kube-apiserver"), f"--etcd-servers=http://127.0.0.1:{ports['etcd']}",
            "--bind-address=127.0.0.1", f"--secure-port={ports['apiserver']}", "--advertise-address=127.0.0.1",
            "--endpoint-reconciler-type=none", f"--tls-cert-file={cert['apiserver.crt']}",
            f"--tls-private-key-file={cert['apiserver.key']}", f"--client-ca-file={cert['ca.crt']}",
            f"--service-account-key-file={cert['sa.pub']}", f"--service-account-signing-key-file={cert['sa.key']}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--service-cluster-ip-range=10.96.0.0/16", "--authorization-mode=Node,RBAC",
            f"--kubelet-client-certificate={cert['apiserver-kubelet-client.crt']}",
            f"--kubelet-client-key={cert['apiserver-kubelet-client.key']}",
            "--kubelet-preferred-address-types=InternalIP", "--allow-privileged=true", "--profiling=false",
            "--v=1"],
        "kube-controller-manager": [
            str(b / "kube-controller-manager"), f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}", f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1", f"--secure-port={ports['controller-manager']}", "--leader-elect=false",
            f"--service-account-private-key-file={cert['sa.key']}", f"--root-ca-file={cert['ca.crt']}",
            "--use-service-account-credentials=false", "--allocate-node-cidrs=false", "--profiling=false",
            "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller",
            "--v=1"],
        "kube-scheduler": [
            str(b / "kube-scheduler"), f"--kubeconfig={kubeconfig}", f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}", "--bind-address=127.0.0.1",
            f"--secure-port={ports['scheduler']}", "--leader-elect=false", "--profiling=false", "--v=1"],
        "kwok": [
            str(b / "kwok"), f"--kubeconfig={kubeconfig}", f"--config={s / 'kwok.yaml'}",
            "--manage-all-nodes=false", f"--manage-nodes-with-annotation-selector={NODE_ANNOTATION}=fake",
            "--node-ip=127.0.0.1", f"--node-port={ports['kubelet']}", "--cidr=10.244.0.0/16",
            "--node-lease-duration-seconds=40", f"--server-address=127.0.0.1:{ports['kwok-metrics']}"],
    }

def write_kwok_config(cluster: LocalCluster) -> Path:
    """kwok's stages (node initialize and heartbeat; pod ready, complete and delete), read from the kwok
    module's `kustomize/stage` folders in the module cache at run time, and one of ours: a pod whose image
    comes from a registry under `.invalid` (RFC 6761, never resolves) stays Pending in ImagePullBackOff, as
    the sandbox keeps it (pod-ready is told to leave such pods alone)."""
    folder = Path(download("sigs.k8s.io/kwok", cluster.versions.kwok, work=cluster.state)["Dir"]) / "kustomize" / "stage"
    docs = [yaml.safe_load((folder / rel).read_text()) for rel in KWOK_STAGES]
    for doc in docs:
        if doc["metadata"]["name"] == "pod-ready":
            doc["spec"]["selector"]["matchExpressions"].append(
                {"key": UNPULLABLE_QUERY, "operator": "NotIn", "values": ["true"]})
    docs.append(image_pull_backoff_stage())
    path = cluster.state / "kwok.yaml"
    write_atomic(path, yaml.safe_dump_all(docs, sort_keys=False))
    return path

def node_object(cluster: LocalCluster) -> dict[str, Any]:
    """The fake node kwok manages, named as kind names a single-node cluster's node."""
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": cluster.node, "annotations": {NODE_ANNOTATION: "fake",
                                                            "node.alpha.kubernetes.io/ttl": "0"},
                         "labels": {"kubernetes.io/hostname": cluster.node, "kubernetes.io/os": "linux",
                                    "kubernetes.io/arch": "amd64", "node-role.kubernetes.io/control-plane": "",
                                    "type": "kwok"}},
            "spec": {},
            "status": {"allocatable": {"cpu": "2", "memory": "24Gi", "pods": "110"},
                       "capacity": {"cpu": "2", "memory": "24Gi", "pods": "110"},
                       "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux", "bootID": "",
                                    "containerRuntimeVersion": f"kwok-{cluster.versions.kwok}", "kernelVersion": "",
                                    "machineID": "", "osImage": "", "systemUUID": "",
                                    "kubeletVersion": f"{cluster.versions.kubernetes}-kwok",
                                    "kubeProxyVersion": f"{cluster.versions.kubernetes}-kwok"}}}
