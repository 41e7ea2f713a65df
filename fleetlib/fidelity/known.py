"""Differences between the sandbox and the local stack that remain, each with its reason. A scenario whose only
differences are listed here is judged `known`; the README's sandbox section lists every entry (a test checks).

Keys are (scenario, observation key).
"""

from __future__ import annotations

KNOWN: dict[tuple[str, str], str] = {
    ("helm-repository-ready", "url"):
        "the local stack's source-controller is a host process and advertises its artifact storage at "
        "127.0.0.1:<port>; in a cluster, and in the sandbox, it is source-controller.flux-system.svc.cluster.local.",
}
