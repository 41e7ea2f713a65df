"""What a domain module needs of a runbook run (fleetlib.runbook.Run satisfies it): the cluster's
parameters, the runbook's validated options, where the run talks to (resolved once a run), and its clients.
The domain names this protocol so it never imports the runbook layer above it. Every flow starts the same way:

    @classmethod
    def from_run(cls, run: RunContext) -> Bootstrap:
        options = run.options.expect(BootstrapOptions)
        return cls(run.params, run.kube, run.hub, run.where, options)
"""

from __future__ import annotations

from typing import Protocol

from fleetlib.github import GitHub
from fleetlib.kube import Kube
from fleetlib.options import RunbookOptions
from fleetlib.parameters import ClusterParams
from fleetlib.targets import Endpoints


class RunContext(Protocol):
    @property
    def params(self) -> ClusterParams: ...

    @property
    def options(self) -> RunbookOptions: ...

    @property
    def where(self) -> Endpoints: ...

    @property
    def kube(self) -> Kube: ...

    @property
    def hub(self) -> GitHub: ...
