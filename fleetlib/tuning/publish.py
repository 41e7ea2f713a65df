"""Publishing a proposal: a commit to the cluster's branch (proposed again from a fresh clone when the branch
moved), or a branch `tune/<stage>-<cluster>-<yyyymmdd>` and a pull request (opened, or updated when one is
open; "up to date" when it already proposes the same file)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fleetlib.errors import GitError
from fleetlib.git import Checkout, NonFastForward, push_with_retry
from fleetlib.github import GitHub
from fleetlib.parameters import ClusterParams
from fleetlib.tuning.proposal import Proposal

Say = Callable[[str, str], None]


def branch_name(params: ClusterParams) -> str:
    return f"tune/{params.stage}-{params.cluster}-{datetime.now(UTC):%Y%m%d}"


def _commit(checkout: Checkout, proposal: Proposal, message: str, params: ClusterParams) -> str | None:
    checkout.write(proposal.path, proposal.after)
    return checkout.commit(message, author=params.commit_author, paths=[proposal.path])


def commit_to_branch(checkout: Checkout, proposal: Proposal, *, params: ClusterParams, hub: GitHub, message: str,
                     repropose: Callable[[Checkout], Proposal], say: Say) -> tuple[Checkout, dict[str, Any]]:
    """Commit to the cluster's branch; when it moved meanwhile, `repropose` on a fresh clone (the file as it is
    now, others' changes included) and try again. Returns the checkout last used and the outcome."""
    pending = [proposal]  # the first attempt publishes the proposal shown; a retry proposes again

    def change(co: Checkout) -> str | None:
        current = pending.pop() if pending else repropose(co)
        return _commit(co, current, message, params) if current.changed else None

    try:
        checkout, sha = push_with_retry(checkout, change, reclone=hub.clone, on_retry=lambda _attempt: say(
            "►", "the branch moved meanwhile: proposing again from a fresh clone"))
    except NonFastForward as e:
        raise GitError(f"pushing to {params.repo_slug}@{params.branch}: the branch kept moving",
                       hint="run the runbook again") from e
    if sha is None:
        say("✔", "controller resources are up to date: someone else made the same change")
        return checkout, {"status": "up to date", "detail": "the branch already holds the change"}
    say("✔", f"committed {sha[:8]} to {params.branch}; Flux applies it at the next reconcile")
    return checkout, {"status": "committed", "commit": sha, "branch": params.branch}


def pull_request(checkout: Checkout, proposal: Proposal, *, params: ClusterParams, hub: GitHub, message: str,
                 body: str, say: Say) -> dict[str, Any]:
    """Force-push the change to the tuning branch (fleetlib owns it) and open or update its pull request."""
    branch = branch_name(params)
    existing = hub.pull_request_for(branch)
    if existing and checkout.remote_text(branch, proposal.path) == proposal.after:
        say("✔", f"pull request #{existing.number} already proposes this change: up to date")
        return {"status": "up to date", "pull_request": existing.number, "url": existing.url, "branch": branch}
    sha = _commit(checkout, proposal, message, params)
    assert sha is not None  # the proposal changed the file
    try:
        checkout.push(branch=branch, force=True)
    except GitError as e:
        raise GitError(f"pushing to {params.repo_slug}@{branch}: {e.message}", hint="run the runbook again") from e
    finally:
        checkout.reset_to_remote()
    pr = hub.open_pull_request(branch, title=f"Tune Flux controller resources of {params.id}", body=body)
    say("✔", f"{pr.action} pull request #{pr.number} from {branch}: {pr.url}")
    return {"status": f"pull request {pr.action}", "pull_request": pr.number, "url": pr.url, "branch": branch,
            "commit": sha}
