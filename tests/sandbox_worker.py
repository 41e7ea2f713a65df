"""A separate process for the sandbox persistence and concurrency tests.

    python -m tests.sandbox_worker HOME STAGE CLUSTER create NAME
    python -m tests.sandbox_worker HOME STAGE CLUSTER increment NAME N
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from kubernetes import client, config
from kubernetes.client.rest import ApiException

from fleetlab.sandbox import Sandbox
from fleetlib.model import ClusterId


def main() -> None:
    home, stage, name, action, obj, *rest = sys.argv[1:]
    sandbox = Sandbox.running(Path(home))
    cid = ClusterId(stage, name)
    sandbox.add_cluster(cid)
    kubeconfig = sandbox.write_kubeconfig()
    v1 = client.CoreV1Api(config.new_client_from_config(str(kubeconfig), context=f"sandbox-{stage}-{name}"))
    if action == "create":
        v1.create_namespaced_config_map("default", {"metadata": {"name": obj}, "data": {"count": "0"}})
    elif action == "increment":
        conflicts = 0
        for i in range(int(rest[0])):
            while True:
                cm = v1.read_namespaced_config_map(obj, "default")
                cm.data["count"] = str(int(cm.data["count"]) + 1)
                try:
                    v1.replace_namespaced_config_map(obj, "default", cm)
                    break
                except ApiException as e:
                    if e.status != 409:
                        raise
                    conflicts += 1
            v1.patch_namespaced_config_map(obj, "default", [
                {"op": "add", "path": f"/data/p{sys.argv[-1]}-{i}", "value": "x"}])
        print(json.dumps({"conflicts": conflicts}))
    sandbox.stop()


if __name__ == "__main__":
    main()
