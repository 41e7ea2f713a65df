"""The sandbox GitHub's repository contents and pull requests (REST v3 shapes, as PyGithub reads them):
GET and PUT /contents (base64, the file's sha checked before it is replaced), and pull requests opened,
listed, updated (title, body, state) and merged with a real merge commit in the bare repository.

    Contents(hub).get(owner, name, "README.md", "main")
    PullRequests(hub).create(owner, name, {"title": "Tune", "head": "tune/x", "base": "main"})
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fleetlib.errors import GitError

if TYPE_CHECKING:
    from fleetlab.github.hub import Hub


DOCS = "https://docs.github.com/rest"
USER_ID = 1001


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class HubError(Exception):
    code: int
    message: str
    errors: list[dict[str, Any]] | None = None
    docs: str = DOCS

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message, "documentation_url": self.docs, "status": str(self.code)}
        if self.errors:
            out["errors"] = self.errors
        return out


def not_found() -> HubError:
    return HubError(404, "Not Found")


class Contents:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def _content_json(self, owner: str, name: str, entry: Any, ref: str, with_content: bool) -> dict[str, Any]:
        bare = self.hub.bare(owner, name)
        kind = "dir" if entry.kind == "tree" else "file"
        url = f"{self.hub.base_url}/api/v3/repos/{owner}/{name}/contents/{entry.path}?ref={ref}"
        out: dict[str, Any] = {"type": kind, "name": entry.path.rsplit("/", 1)[-1], "path": entry.path,
                               "sha": entry.sha, "size": entry.size, "url": url,
                               "html_url": f"{self.hub.base_url}/{owner}/{name}/blob/{ref}/{entry.path}",
                               "git_url": f"{self.hub.base_url}/api/v3/repos/{owner}/{name}/git/blobs/{entry.sha}",
                               "download_url": None, "_links": {"self": url}}
        if with_content and kind == "file":
            out["encoding"] = "base64"
            out["content"] = base64.encodebytes(bare.blob(entry.sha)).decode()
        return out

    def get(self, owner: str, name: str, path: str, ref: str | None) -> Any:
        self.hub.repo_row(owner, name)
        bare = self.hub.bare(owner, name)
        ref = ref or "main"
        commit = bare.resolve(ref)
        if commit is None:
            raise HubError(404, "This repository is empty." if not bare.branches() else f"No commit found for the ref {ref}")
        entry = bare.entry(commit, path.strip("/"))
        if entry is None:
            raise not_found()
        if entry.kind == "tree":
            return [self._content_json(owner, name, e, ref, False) for e in bare.children(commit, path.strip("/"))]
        return self._content_json(owner, name, entry, ref, True)

    def put(self, owner: str, name: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.hub.repo_row(owner, name)
        bare = self.hub.bare(owner, name)
        branch = body.get("branch") or "main"
        if "message" not in body or "content" not in body:
            raise HubError(422, "Invalid request.\n\n\"message\" and \"content\" are required.")
        try:
            content = base64.b64decode(body["content"], validate=False)
        except ValueError as e:
            raise HubError(422, "content is not valid Base64") from e
        head = bare.branch_sha(branch)
        current = bare.entry(head, path) if head else None
        if current is not None and not body.get("sha"):
            raise HubError(422, "Invalid request.\n\n\"sha\" wasn't supplied.")
        if current is not None and body.get("sha") != current.sha:
            raise HubError(409, f"{path} does not match {body.get('sha')}")
        who = body.get("committer") or body.get("author") or {}
        author = (who.get("name") or self.hub.user, who.get("email") or f"{self.hub.user}@users.noreply.github.com")
        try:
            commit = bare.commit_file(branch, path, content, message=body["message"], author=author, parent=head)
        except GitError as e:
            raise HubError(409, f"{path} does not match: {e.message}") from e
        entry = bare.entry(commit, path)
        return (201 if current is None else 200), {
            "content": self._content_json(owner, name, entry, branch, False),
            "commit": {"sha": commit, "message": body["message"],
                       "url": f"{self.hub.base_url}/api/v3/repos/{owner}/{name}/git/commits/{commit}"}}


class PullRequests:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def _pull_json(self, owner: str, name: str, row: tuple[Any, ...]) -> dict[str, Any]:
        number, title, body, head, base, state, merged, merge_sha, draft, created = row
        bare = self.hub.bare(owner, name)
        url = f"{self.hub.base_url}/api/v3/repos/{owner}/{name}/pulls/{number}"
        return {"id": 5000 + number, "number": number, "state": state, "title": title, "body": body,
                "draft": bool(draft), "merged": bool(merged), "merge_commit_sha": merge_sha,
                "mergeable": None if merged else True, "created_at": created, "updated_at": created, "url": url,
                "html_url": f"{self.hub.base_url}/{owner}/{name}/pull/{number}",
                "user": {"login": self.hub.user, "id": USER_ID, "type": "User"},
                "head": {"ref": head, "sha": bare.branch_sha(head), "label": f"{owner}:{head}",
                         "repo": {"full_name": f"{owner}/{name}"}},
                "base": {"ref": base, "sha": bare.branch_sha(base), "label": f"{owner}:{base}",
                         "repo": {"full_name": f"{owner}/{name}"}}}

    def _pull_rows(self, rid: int, where: str = "", args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self.hub.db().execute("SELECT number, title, body, head, base, state, merged, merge_sha, draft, created_at "
                                 f"FROM pulls WHERE repo_id=? {where} ORDER BY number DESC", (rid, *args)).fetchall()

    def list(self, owner: str, name: str, state: str = "open") -> list[dict[str, Any]]:
        rid = self.hub.repo_row(owner, name)[0]
        rows = self._pull_rows(rid) if state == "all" else self._pull_rows(rid, "AND state=?", (state,))
        return [self._pull_json(owner, name, r) for r in rows]

    def get(self, owner: str, name: str, number: int) -> dict[str, Any]:
        rid = self.hub.repo_row(owner, name)[0]
        rows = self._pull_rows(rid, "AND number=?", (number,))
        if not rows:
            raise not_found()
        return self._pull_json(owner, name, rows[0])

    def create(self, owner: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        rid = self.hub.repo_row(owner, name)[0]
        bare = self.hub.bare(owner, name)
        head, base = str(body.get("head", "")).split(":")[-1], str(body.get("base", ""))
        for field, branch in (("head", head), ("base", base)):
            if not branch or bare.branch_sha(branch) is None:
                raise HubError(422, "Validation Failed", [{"resource": "PullRequest", "field": field, "code": "invalid"}])
        if bare.branch_sha(head) == bare.branch_sha(base):
            raise HubError(422, "Validation Failed", [{"resource": "PullRequest", "code": "custom",
                                                       "message": f"No commits between {base} and {head}"}])
        if self._pull_rows(rid, "AND head=? AND base=? AND state='open'", (head, base)):
            raise HubError(422, "Validation Failed", [{"resource": "PullRequest", "code": "custom",
                                                       "message": f"A pull request already exists for {owner}:{head}."}])
        db = self.hub.db()
        db.execute("BEGIN IMMEDIATE")
        try:
            number = (db.execute("SELECT COALESCE(MAX(number), 0) + 1 FROM pulls WHERE repo_id=?", (rid,)).fetchone()[0])
            db.execute("INSERT INTO pulls VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                       (rid, number, body.get("title") or head, body.get("body") or "", head, base, "open", 0, None,
                        int(bool(body.get("draft"))), now()))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return self.get(owner, name, number)

    def update(self, owner: str, name: str, number: int, body: dict[str, Any]) -> dict[str, Any]:
        """PATCH /pulls/N: title, body and state (open or closed)."""
        current = self.get(owner, name, number)
        state = str(body.get("state") or current["state"])
        if state not in ("open", "closed"):
            raise HubError(422, "Validation Failed", [{"resource": "PullRequest", "field": "state", "code": "invalid"}])
        rid = self.hub.repo_row(owner, name)[0]
        self.hub.db().execute("UPDATE pulls SET title=?, body=?, state=? WHERE repo_id=? AND number=?",
                          (str(body.get("title") or current["title"]), str(body.get("body", current["body"]) or ""),
                           state, rid, number))
        return self.get(owner, name, number)

    def merge(self, owner: str, name: str, number: int, body: dict[str, Any]) -> dict[str, Any]:
        pr = self.get(owner, name, number)
        if pr["state"] != "open":
            raise HubError(405, "Pull Request is not mergeable")
        title = body.get("commit_title") or f"Merge pull request #{number} from {owner}/{pr['head']['ref']}"
        message = title + ("\n\n" + body["commit_message"] if body.get("commit_message") else "")
        try:
            sha = self.hub.bare(owner, name).merge(pr["base"]["ref"], pr["head"]["ref"], message=message,
                                               author=(self.hub.user, f"{self.hub.user}@users.noreply.github.com"))
        except GitError as e:
            raise HubError(405, "Pull Request is not mergeable") from e
        rid = self.hub.repo_row(owner, name)[0]
        self.hub.db().execute("UPDATE pulls SET state='closed', merged=1, merge_sha=? WHERE repo_id=? AND number=?",
                          (sha, rid, number))
        return {"sha": sha, "merged": True, "message": "Pull Request successfully merged"}
