"""After an upgrade step's commit: the controllers run the release's images (each Deployment rolled out), then
every Flux object is Ready at its generation (suspended ones aside). Progress lines say what is awaited; a timeout
says what was last seen.

    controllers_at(params, kube, log, install_text, "v2.9.2", timeout=600)
    all_ready(kube, log, timeout=600)
"""

from __future__ import annotations

from fleetlib.errors import ClusterError
from fleetlib.kube import Kube
from fleetlib.manifests import parse_release
from fleetlib.objects import FLUX_KINDS, condition, containers, image_tag, meta_of, spec_of, status_of
from fleetlib.parameters import ClusterParams
from fleetlib.steplog import StepLog
from fleetlib.waiting import wait_until


def controllers_at(params: ClusterParams, kube: Kube, log: StepLog, install_text: str, version: str,
                   timeout: float) -> None:
    """Every controller of the cluster's components runs the image the release's install manifests name."""
    wanted = {str(meta_of(d).get("name")): image_tag(str(containers(spec_of(spec_of(d).get("template")))[0]
                                                         .get("image", "")))
              for d in parse_release(install_text) if d.get("kind") == "Deployment"}
    wanted = {k: v for k, v in wanted.items() if k in params.all_components}
    log.say("◎", f"waiting for the controllers to run Flux {version}: "
                 + ", ".join(f"{k} {v}" for k, v in sorted(wanted.items())))
    last: dict[str, str] = {}

    def rolled() -> bool | None:
        for name, tag in wanted.items():
            d = kube.get("apps/v1", "Deployment", params.namespace, name)
            status, images = status_of(d), [image_tag(str(c.get("image", "")))
                                             for c in containers(spec_of(spec_of(d).get("template")))]
            replicas = spec_of(d).get("replicas", 1)
            if not (tag in images and status.get("observedGeneration") == meta_of(d).get("generation")
                    and status.get("updatedReplicas") == replicas and status.get("availableReplicas") == replicas):
                last["what"] = f"{name} runs {', '.join(images) or 'nothing'}"
                return None
        return True

    wait_until(f"the controllers at Flux {version}", rolled, timeout=timeout, timed_out=lambda: ClusterError(
        f"the controllers did not run Flux {version} within {timeout:g}s: {last.get('what', '')}",
        hint=f"kubectl -n {params.namespace} get deploy,pods; flux logs --level=error"))
    log.say("✔", f"the controllers run Flux {version}")


def all_ready(kube: Kube, log: StepLog, timeout: float) -> None:
    """Every Flux object (not suspended) Ready at its generation; a timeout names the first five that are not."""
    last: dict[str, list[str]] = {}

    def ready() -> bool | None:
        waiting = []
        for kind, api_version in FLUX_KINDS.items():
            for obj in kube.list(api_version, kind):
                if spec_of(obj).get("suspend"):
                    continue
                if condition(obj, "Ready").get("status") != "True" or \
                        status_of(obj).get("observedGeneration") not in (None, meta_of(obj).get("generation")):
                    waiting.append(f"{kind}/{meta_of(obj).get('namespace')}/{meta_of(obj).get('name')}: "
                                   f"{condition(obj, 'Ready').get('message') or 'not reconciled yet'}")
        last["waiting"] = waiting
        return True if not waiting else None

    wait_until("every Flux object Ready", ready, timeout=timeout, timed_out=lambda: ClusterError(
        f"{len(last.get('waiting', []))} Flux object(s) not Ready at their generation: "
        + "; ".join(last.get("waiting", [])[:5]), hint="flux get all -A; flux events"))
    log.say("✔", "every Flux object is Ready at its generation")
