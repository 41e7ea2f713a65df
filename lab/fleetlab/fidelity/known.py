"""Differences between the sandbox and the local stack that remain, each with its reason. A scenario whose only
differences are listed here is judged `known`; the README's sandbox section lists every entry (a test checks).

Keys are (scenario, observation key).
"""

from __future__ import annotations

KNOWN: dict[tuple[str, str], str] = {
    ("helm-repository-ready", "url"):
        "the local stack's source-controller is a host process and advertises its artifact storage at "
        "127.0.0.1:<port>; in a cluster, and in the sandbox, it is source-controller.flux-system.svc.cluster.local.",
    ("notification-payloads", "reporting-instance"):
        "an event's reportingInstance is the recording controller's hostname: on the local stack, whose "
        "controllers are host processes, the machine's; in a cluster, and in the sandbox, the controller's pod",
    ("notification-payloads", "slack-fallback"):
        "the local stack runs notification-controller v1.9.2 (Flux v2.5.1's v1.5.0 is not buildable from the "
        "module proxy), whose Slack attachment adds a plain-text `fallback`; the sandbox posts v1.5.0's payload",
}
