"""The one module that talks to the Kubernetes API, through the official client.

`connect` gives the same `Kube` for both targets: for `sandbox` it starts this process's sandbox
servers (if not running) and uses a kubeconfig context `sandbox-<stage>-<cluster>`; for `live` it
uses the cluster's kube context from $KUBECONFIG or ~/.kube/config. Everything above this module is
the same for both. Client errors become ClusterError with the API's own message, cut short.

    kube = connect(params, home=fleet_home())
    kube.version()          # "v1.32.2"
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.rest import ApiException
from kubernetes.config.config_exception import ConfigException

from fleetlib.errors import ClusterError, InputError, clip
from fleetlib.parameters import ClusterParams
from fleetlib.sandbox import Sandbox, context_name


def api_error(e: ApiException, what: str) -> ClusterError:
    """A ClusterError from an ApiException, with the Status message when there is one."""
    message = e.reason or ""
    try:
        message = json.loads(e.body or "{}").get("message") or message
    except (ValueError, AttributeError):
        pass
    return ClusterError(f"{what}: {e.status} {clip(message, 300)}")


@dataclass
class Kube:
    """An API client bound to one cluster, and how it was reached."""

    params: ClusterParams
    api_client: client.ApiClient
    context: str
    kubeconfig: Path | None

    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api_client)

    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.api_client)

    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api_client)

    def extensions(self) -> client.ApiextensionsV1Api:
        return client.ApiextensionsV1Api(self.api_client)

    def version(self) -> str:
        try:
            return str(client.VersionApi(self.api_client).get_code().git_version)
        except ApiException as e:
            raise api_error(e, f"reading the version of {self.params.id}") from e
        except urllib3.exceptions.HTTPError as e:
            raise ClusterError(f"cannot reach cluster {self.params.id} through context {self.context!r}: "
                               f"{clip(str(e), 200)}",
                               hint=f"check `kubectl --context {self.context} get ns`") from e

    def facts(self) -> dict[str, Any]:
        """What a runbook shows first: where it is connected and what answers there."""
        try:
            nodes = self.core().list_node().items
            namespaces = self.core().list_namespace().items
        except ApiException as e:
            raise api_error(e, f"listing nodes and namespaces of {self.params.id}") from e
        return {"cluster": str(self.params.id), "target": self.params.target, "context": self.context,
                "kubernetes": self.version(), "nodes": len(nodes), "namespaces": len(namespaces),
                "flux-system": any(n.metadata.name == self.params.namespace for n in namespaces)}


def connect(params: ClusterParams, *, home: Path) -> Kube:
    """A client for the cluster, starting the sandbox when the cluster's target is sandbox."""
    if params.target == "sandbox":
        sandbox = Sandbox.running(home)
        sandbox.add_cluster(params.id)
        kubeconfig = sandbox.write_kubeconfig(current=params.id)
        context = context_name(params.id)
        return Kube(params, config.new_client_from_config(str(kubeconfig), context=context), context, kubeconfig)
    assert params.context is not None  # the parameters model requires it for live
    try:
        api = config.new_client_from_config(context=params.context)
    except ConfigException as e:
        raise InputError(f"kube context {params.context!r} of cluster {params.id} cannot be used: {clip(str(e), 200)}",
                         hint="check `kubectl config get-contexts`, or set context in the cluster's parameters file") from e
    return Kube(params, api, params.context, None)
