"""What a domain module needs of a runbook run (fleetlib.runbook.Run satisfies it): the cluster's
parameters, the runbook's validated options, and the cluster's API client. The domain names this protocol
so it never imports the runbook layer above it.

    def from_run(cls, run: RunContext) -> Bootstrap: ...
"""

from __future__ import annotations

from typing import Protocol

from fleetlib.kube import Kube
from fleetlib.options import RunbookOptions
from fleetlib.parameters import ClusterParams


class RunContext(Protocol):
    @property
    def params(self) -> ClusterParams: ...

    @property
    def options(self) -> RunbookOptions: ...

    @property
    def kube(self) -> Kube: ...
