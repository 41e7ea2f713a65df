"""The sandbox GitHub: the REST calls PyGithub makes for us, git over smart HTTP, `/meta` with the
sandbox's SSH host keys, and the Flux release downloads, all on one local port.

Repositories are real bare repositories under `FLEET_HOME/sandbox/github/<owner>/<repo>.git`, served
to real git by `git http-backend`; the contents and pulls APIs read and write the same repositories.
Metadata (accounts, repositories, deploy keys, pull requests) lives in SQLite beside them. Errors are
worded and shaped as GitHub words and shapes them.

    hub = Hub(home / "sandbox" / "github", token=token)
    server = HubServer(("127.0.0.1", 0), hub)
    Github(base_url=f"http://127.0.0.1:{port}/api/v3", auth=Auth.Token(token))
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from fleetlab.github.bare import BareRepo
from fleetlab.github.hubrepos import USER_ID, Contents, HubError, PullRequests, not_found, now
from fleetlab.httpbase import LocalServer, VerbHandler
from fleetlab.pki import file_lock
from fleetlab.sqlitepool import ConnectionPool
from fleetlib.errors import GitError
from fleetlib.files import write_atomic
from fleetlib.names import branch_problem, is_github_owner, is_github_repo

API_BODY_LIMIT = 1 << 20
"""REST bodies are small JSON documents: more than 1 MiB is refused (413)."""
GIT_BODY_LIMIT = 100 << 20
"""A push's pack may be large: more than 100 MiB is refused (413)."""
log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (login TEXT PRIMARY KEY COLLATE NOCASE, id INTEGER NOT NULL, type TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS repos (id INTEGER PRIMARY KEY, owner TEXT NOT NULL COLLATE NOCASE, name TEXT NOT NULL COLLATE NOCASE,
    private INTEGER NOT NULL, description TEXT NOT NULL, created_at TEXT NOT NULL, UNIQUE (owner, name));
CREATE TABLE IF NOT EXISTS keys (id INTEGER PRIMARY KEY, repo_id INTEGER NOT NULL, title TEXT NOT NULL, key TEXT NOT NULL,
    read_only INTEGER NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pulls (repo_id INTEGER NOT NULL, number INTEGER NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL,
    head TEXT NOT NULL, base TEXT NOT NULL, state TEXT NOT NULL, merged INTEGER NOT NULL, merge_sha TEXT,
    draft INTEGER NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (repo_id, number));
"""
def ssh_fingerprint(public_line: str) -> str:
    """`SHA256:...` as ssh-keygen -lf prints it."""
    blob = base64.b64decode(public_line.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def _public_openssh(key: Any) -> str:
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def check_names(owner: str, name: str) -> None:
    """Owners and repositories as GitHub names them; anything else (`..`, `a b;$(id)`) is not found."""
    if not isinstance(owner, str) or not isinstance(name, str) or not is_github_owner(owner) or not is_github_repo(name):
        raise not_found()


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except ValueError:
        return False
    return True


class Hub:
    """GitHub state for one FLEET_HOME: accounts, repositories, deploy keys, pull requests."""

    def __init__(self, root: Path, *, token: str, releases: Callable[[str, str], bytes | None] | None = None) -> None:
        self.root = root
        self.token = token
        self.releases = releases
        self.hooks: list[Callable[[str, str], HubError | None]] = []
        root.mkdir(parents=True, exist_ok=True)
        self.pool = ConnectionPool(self.root / "hub.db", schema=SCHEMA, synchronous="FULL")
        self.host_keys = self._host_keys()
        if self.db().execute("SELECT 1 FROM accounts WHERE type='User'").fetchone() is None:
            self.ensure_account("sandbox-user", personal=True)

    @property
    def user(self) -> str:
        """The login the sandbox token belongs to."""
        return str(self.db().execute("SELECT login FROM accounts WHERE type='User'").fetchone()[0])

    # --- storage --------------------------------------------------------------------------------

    def db(self) -> sqlite3.Connection:
        """This thread's connection to the GitHub's database (pooled: fleetlab.sqlitepool)."""
        return self.pool.connection()

    def _host_keys(self) -> list[str]:
        """The sandbox github.com's SSH host keys (ed25519 first, as GitHub lists them), made once."""
        with file_lock(self.root / ".hostkeys.lock"):
            out = []
            for name, make in (("ed25519", ed25519.Ed25519PrivateKey.generate),
                               ("ecdsa", lambda: ec.generate_private_key(ec.SECP256R1()))):
                pub = self.root / f"ssh_host_{name}_key.pub"
                if not pub.exists():
                    key = make()
                    priv = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                             serialization.NoEncryption()).decode()
                    path = self.root / f"ssh_host_{name}_key"
                    write_atomic(path, priv)
                    os.chmod(path, 0o600)
                    write_atomic(pub, _public_openssh(key) + "\n")
                out.append(pub.read_text().strip())
            return out

    def ensure_account(self, login: str, *, personal: bool) -> None:
        """Make `login` the token's user (personal) or an organisation the user belongs to."""
        db = self.db()
        if personal:
            db.execute("DELETE FROM accounts WHERE type='User' AND login<>?", (login,))
        db.execute("INSERT OR IGNORE INTO accounts (login, id, type) VALUES (?, ?, ?)",
                   (login, USER_ID if personal else 2000 + sum(map(ord, login)), "User" if personal else "Organization"))

    def repo_path(self, owner: str, name: str) -> Path:
        """The bare repository's folder, for names GitHub accepts only, and always inside the hub's root."""
        check_names(owner, name)
        path = (self.root / owner / f"{name}.git").resolve()
        if self.root.resolve() not in path.parents:
            raise not_found()
        return path

    def bare(self, owner: str, name: str) -> BareRepo:
        return BareRepo(self.repo_path(owner, name))

    def repo_row(self, owner: str, name: str) -> tuple[Any, ...]:
        row = self.db().execute("SELECT id, owner, name, private, description, created_at FROM repos WHERE owner=? "
                                "AND name=?", (owner, name)).fetchone()
        if row is None:
            raise not_found()
        return row

    def create_repo(self, owner: str, name: str, *, private: bool, description: str = "",
                    auto_init: bool = False) -> dict[str, Any]:
        if not isinstance(name, str) or not is_github_repo(name) or name.lower().endswith(".git"):
            raise HubError(422, "Repository creation failed.", [
                {"resource": "Repository", "code": "custom", "field": "name",
                 "message": "name can only contain ASCII letters, digits, and the characters ., -, and _"}])
        if not isinstance(description, str) or len(description) > 350:
            raise HubError(422, "Repository creation failed.", [
                {"resource": "Repository", "code": "custom", "field": "description",
                 "message": "description is too long (maximum is 350 characters)"}])
        try:
            self.db().execute("INSERT INTO repos (owner, name, private, description, created_at) VALUES (?,?,?,?,?)",
                              (owner, name, int(private), description, now()))
        except sqlite3.IntegrityError as e:
            raise HubError(422, "Repository creation failed.", [
                {"resource": "Repository", "code": "custom", "field": "name",
                 "message": "name already exists on this account"}]) from e
        bare = self.bare(owner, name)
        bare.init()
        if auto_init:
            bare.commit_file("main", "README.md", f"# {name}\n".encode(), message="Initial commit",
                             author=(owner, f"{owner}@users.noreply.github.com"))
        return self.repo_json(owner, name)

    def repo_json(self, owner: str, name: str) -> dict[str, Any]:
        rid, owner, name, private, description, created = self.repo_row(owner, name)
        acct = self.db().execute("SELECT id, type FROM accounts WHERE login=?", (owner,)).fetchone() or (USER_ID, "User")
        base = self.base_url
        return {
            "id": rid, "node_id": f"R_{rid}", "name": name, "full_name": f"{owner}/{name}",
            "owner": {"login": owner, "id": acct[0], "type": acct[1], "url": f"{base}/api/v3/users/{owner}"},
            "private": bool(private), "visibility": "private" if private else "public", "description": description,
            "fork": False, "default_branch": "main", "created_at": created, "updated_at": created,
            "url": f"{base}/api/v3/repos/{owner}/{name}", "html_url": f"{base}/{owner}/{name}",
            "clone_url": f"{base}/{owner}/{name}.git", "git_url": f"{base}/{owner}/{name}.git",
            "ssh_url": f"git@github.com:{owner}/{name}.git",
            "permissions": {"admin": True, "maintain": True, "push": True, "triage": True, "pull": True},
        }

    base_url = "http://127.0.0.1"

    # --- deploy keys ----------------------------------------------------------------------------

    def keys(self, owner: str, name: str) -> list[dict[str, Any]]:
        rid = self.repo_row(owner, name)[0]
        rows = self.db().execute("SELECT id, title, key, read_only, created_at FROM keys WHERE repo_id=? ORDER BY id",
                                 (rid,)).fetchall()
        return [self._key_json(owner, name, *r) for r in rows]

    def _key_json(self, owner: str, name: str, kid: int, title: str, key: str, read_only: int,
                  created: str) -> dict[str, Any]:
        return {"id": kid, "key": key, "url": f"{self.base_url}/api/v3/repos/{owner}/{name}/keys/{kid}",
                "title": title, "verified": True, "created_at": created, "read_only": bool(read_only),
                "added_by": self.user, "last_used": None, "enabled": True}

    def add_key(self, owner: str, name: str, *, title: str, key: str, read_only: bool) -> dict[str, Any]:
        rid = self.repo_row(owner, name)[0]
        if len(title) > 1024 or any(ord(ch) < 32 for ch in title):
            raise HubError(422, "Validation Failed", [{"resource": "PublicKey", "code": "custom", "field": "title",
                                                       "message": "title is invalid: one line of at most 1024 "
                                                                  "characters"}])
        parts = key.strip().split()
        if len(parts) < 2 or not parts[0].startswith(("ssh-", "ecdsa-")) or not _is_base64(parts[1]):
            raise HubError(422, "Validation Failed", [{
                "resource": "PublicKey", "code": "custom", "field": "key",
                "message": "key is invalid. You must supply a key in OpenSSH public key format"}])
        normal = " ".join(parts[:2])
        for existing in self.db().execute("SELECT key FROM keys WHERE repo_id=?", (rid,)):
            if " ".join(existing[0].split()[:2]) == normal:
                raise HubError(422, "Validation Failed", [{"resource": "PublicKey", "code": "custom", "field": "key",
                                                           "message": "key is already in use"}],
                               docs="https://docs.github.com/rest/deploy-keys/deploy-keys#create-a-deploy-key")
        cur = self.db().execute("INSERT INTO keys (repo_id, title, key, read_only, created_at) VALUES (?,?,?,?,?)",
                                (rid, title, normal, int(read_only), now()))
        return self._key_json(owner, name, int(cur.lastrowid or 0), title, normal, int(read_only), now())

    def delete_key(self, owner: str, name: str, kid: int) -> None:
        rid = self.repo_row(owner, name)[0]
        if self.db().execute("DELETE FROM keys WHERE repo_id=? AND id=?", (rid, kid)).rowcount == 0:
            raise not_found()

    def deploy_key_allows(self, owner: str, name: str, public_line: str) -> bool:
        """Whether an SSH public key may read the repository (the mini-Flux asks this)."""
        try:
            normal = " ".join(public_line.split()[:2])
            return any(" ".join(k["key"].split()[:2]) == normal for k in self.keys(owner, name))
        except HubError:
            return False

    # --- contents and refs ----------------------------------------------------------------------

    def branch_json(self, owner: str, name: str, branch: str) -> dict[str, Any]:
        self.repo_row(owner, name)
        sha = self.bare(owner, name).branch_sha(branch)
        if sha is None:
            raise HubError(404, "Branch not found", docs="https://docs.github.com/rest/branches/branches#get-a-branch")
        fields = self.bare(owner, name).git("log", "-1", "--format=%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B",
                                            sha).split("\0")
        people = {role: {"name": fields[i], "email": fields[i + 1], "date": _utc(fields[i + 2])}
                  for role, i in (("author", 0), ("committer", 3))}
        return {"name": branch, "protected": False,
                "commit": {"sha": sha, "url": f"{self.base_url}/api/v3/repos/{owner}/{name}/commits/{sha}",
                           "commit": {**people, "message": fields[6].strip()}}}

    def create_ref(self, owner: str, name: str, ref: str, sha: str) -> dict[str, Any]:
        self.repo_row(owner, name)
        bare = self.bare(owner, name)
        if not ref.startswith("refs/") or ref.count("/") < 2:
            raise HubError(422, "Reference name must start with 'refs/' and have at least two slashes.")
        if branch_problem(ref.removeprefix("refs/heads/")) or ref.endswith("/"):
            raise HubError(422, f"{ref} is not a valid ref name.")
        if bare.resolve(sha) is None:
            raise HubError(422, "Object does not exist")
        branch = ref.removeprefix("refs/heads/")
        try:
            bare.move_branch(branch, sha, None)
        except GitError as e:
            raise HubError(422, "Reference already exists") from e
        return {"ref": ref, "node_id": f"REF_{sha[:8]}", "url": f"{self.base_url}/api/v3/repos/{owner}/{name}/git/{ref}",
                "object": {"sha": sha, "type": "commit", "url": f"{self.base_url}/api/v3/repos/{owner}/{name}/git/commits/{sha}"}}

    def meta(self) -> dict[str, Any]:
        names = {"ssh-ed25519": "SHA256_ED25519", "ecdsa-sha2-nistp256": "SHA256_ECDSA", "ssh-rsa": "SHA256_RSA"}
        fps = {names[k.split()[0]]: ssh_fingerprint(k).removeprefix("SHA256:") for k in self.host_keys}
        return {"verifiable_password_authentication": False, "ssh_key_fingerprints": fps,
                "ssh_keys": list(self.host_keys), "git": ["127.0.0.1/32"], "api": ["127.0.0.1/32"]}


class HubServer(LocalServer):
    def __init__(self, address: tuple[str, int], hub: Hub) -> None:
        super().__init__(address, HubHandler)
        self.hub = hub
        hub.base_url = f"http://127.0.0.1:{self.server_address[1]}"


class HubHandler(VerbHandler):
    server: HubServer
    server_version = "GitHub.com"

    def _read_body(self, *, limit: int) -> bytes:
        """The request body within `limit` bytes (413 beyond), chunked or with a Content-Length (400 when bad)."""
        too_large = HubError(413, f"Request body too large (limit {limit} bytes)")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks, total = [], 0
            while True:
                try:
                    size = int(self.rfile.readline(64).strip().split(b";")[0], 16)
                except ValueError:
                    raise HubError(400, "Malformed chunked body") from None
                if size == 0:
                    self.rfile.readline(64)
                    break
                total += size
                if total > limit:
                    raise too_large
                chunks.append(self.rfile.read(size))
                self.rfile.readline(64)
            return b"".join(chunks)
        text = self.headers.get("Content-Length")
        if text is None:
            return b""
        if not text.strip().isdigit():
            raise HubError(400, "Invalid Content-Length")
        if int(text) > limit:
            raise too_large
        return self.rfile.read(int(text)) if int(text) else b""

    def _reply(self, code: int, body: Any, *, content_type: str = "application/json; charset=utf-8",
               headers: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _token(self) -> str | None:
        header = self.headers.get("Authorization") or ""
        scheme, _, value = header.partition(" ")
        if scheme.lower() in ("token", "bearer"):
            return value.strip()
        if scheme.lower() == "basic":
            try:
                return base64.b64decode(value).decode().split(":", 1)[1]
            except (ValueError, IndexError):
                return None
        return None

    def _refuse(self, code: int, body: Any, **kw: Any) -> None:
        """Answer without reading the request body, and close the connection (the body would be the next request)."""
        self.close_connection = True
        self._reply(code, body, **kw)

    def _dispatch(self, method: str) -> None:
        hub = self.server.hub
        url = urlsplit(self.path)
        path = unquote(url.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        token = self._token()
        authed = token is not None and hmac.compare_digest(token.encode(), hub.token.encode())
        if any(part in (".", "..") for part in path.split("/")):
            self._refuse(404, HubError(404, "Not Found").body())
            return
        if not authed and (path.startswith("/api/v3") or ".git/" in path):
            if ".git/" in path:
                self._refuse(401, b"Authentication failed\n", content_type="text/plain",
                             headers={"WWW-Authenticate": 'Basic realm="GitHub"'})
            else:
                self._refuse(401, HubError(401, "Bad credentials").body())
            return
        try:
            body = self._read_body(limit=GIT_BODY_LIMIT if ".git/" in path else API_BODY_LIMIT) \
                if method != "GET" else b""
        except HubError as e:
            self._refuse(e.code, e.body())
            return
        rate = {"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "4999", "X-RateLimit-Reset": str(int(time.time()) + 3600)}
        try:
            if path.startswith("/api/v3") and (hub.root / "rate-limited.json").exists():
                rate["X-RateLimit-Remaining"] = "0"
                raise HubError(403, f"API rate limit exceeded for user ID {USER_ID}. If you reach out to GitHub Support "
                               "for help, please include the request ID.",
                               docs="https://docs.github.com/rest/overview/rate-limits-for-the-rest-api")
            for hook in hub.hooks:
                err = hook(method, path)
                if err is not None:
                    if err.code == 403 and "rate limit" in err.message:
                        rate["X-RateLimit-Remaining"] = "0"
                    raise err
            if path.startswith("/api/v3/") or path == "/api/v3":
                if not authed:
                    raise HubError(401, "Bad credentials")
                code, out = self._api(method, path.removeprefix("/api/v3"), query, body)
                self._reply(code, out, headers=rate)
            elif ".git/" in path:
                if not authed:
                    self._reply(401, b"Authentication failed\n", content_type="text/plain",
                                headers={"WWW-Authenticate": 'Basic realm="GitHub"'})
                    return
                self._git(method, path, url.query, body)
            elif "/releases/download/" in path:
                self._release(path)
            else:
                raise not_found()
        except HubError as e:
            self._reply(e.code, e.body(), headers=rate)
        except Exception as e:
            log.exception("sandbox GitHub error on %s %s", method, self.path)
            self._reply(500, {"message": f"sandbox: {type(e).__name__}: {str(e)[:300]}", "status": "500"})

    def _api(self, method: str, path: str, query: dict[str, str], raw: bytes) -> tuple[int, Any]:
        hub = self.server.hub
        try:
            body = json.loads(raw) if raw else {}
        except ValueError as e:
            raise HubError(400, "Problems parsing JSON") from e
        p = [x for x in path.split("/") if x]
        if p == ["user"] and method == "GET":
            return 200, {"login": hub.user, "id": USER_ID, "type": "User", "name": hub.user,
                         "url": f"{hub.base_url}/api/v3/users/{hub.user}"}
        if p == ["meta"]:
            return 200, hub.meta()
        if p == ["rate_limit"]:
            core = {"limit": 5000, "remaining": 4999, "reset": int(time.time()) + 3600, "used": 1}
            return 200, {"resources": {"core": core, "search": core, "graphql": core}, "rate": core}
        if p == ["user", "repos"]:
            if method == "POST":
                return 201, hub.create_repo(hub.user, body.get("name", ""), private=bool(body.get("private", False)),
                                            description=body.get("description") or "",
                                            auto_init=bool(body.get("auto_init")))
            rows = hub.db().execute("SELECT owner, name FROM repos WHERE owner=? ORDER BY id", (hub.user,)).fetchall()
            return 200, [hub.repo_json(o, n) for o, n in rows]
        if len(p) == 2 and p[0] == "orgs" and method == "GET":
            row = hub.db().execute("SELECT login, id FROM accounts WHERE login=? AND type='Organization'", (p[1],)).fetchone()
            if row is None:
                raise not_found()
            return 200, {"login": row[0], "id": row[1], "type": "Organization",
                         "url": f"{hub.base_url}/api/v3/orgs/{row[0]}"}
        if len(p) == 3 and p[0] == "orgs" and p[2] == "repos" and method == "POST":
            if hub.db().execute("SELECT 1 FROM accounts WHERE login=? AND type='Organization'", (p[1],)).fetchone() is None:
                raise not_found()
            return 201, hub.create_repo(p[1], body.get("name", ""), private=bool(body.get("private", False)),
                                        description=body.get("description") or "", auto_init=bool(body.get("auto_init")))
        if len(p) >= 3 and p[0] == "repos":
            return self._repo_api(method, p[1], p[2], p[3:], query, body)
        raise not_found()

    def _repo_api(self, method: str, owner: str, name: str, rest: list[str], query: dict[str, str],
                  body: dict[str, Any]) -> tuple[int, Any]:
        hub = self.server.hub
        if not rest and method == "GET":
            return 200, hub.repo_json(owner, name)
        head = rest[0] if rest else ""
        if head == "keys":
            if len(rest) == 1 and method == "GET":
                return 200, hub.keys(owner, name)
            if len(rest) == 1 and method == "POST":
                return 201, hub.add_key(owner, name, title=str(body.get("title", "")), key=str(body.get("key", "")),
                                        read_only=bool(body.get("read_only", False)))
            if len(rest) == 2 and rest[1].isdigit():
                if method == "GET":
                    match = [k for k in hub.keys(owner, name) if k["id"] == int(rest[1])]
                    if not match:
                        raise not_found()
                    return 200, match[0]
                if method == "DELETE":
                    hub.delete_key(owner, name, int(rest[1]))
                    return 204, b""
        if head == "branches" and len(rest) >= 2 and method == "GET":
            return 200, hub.branch_json(owner, name, "/".join(rest[1:]))
        if head == "git" and rest[1:] == ["refs"] and method == "POST":
            return 201, hub.create_ref(owner, name, str(body.get("ref", "")), str(body.get("sha", "")))
        if head == "contents":
            if method == "GET":
                return 200, Contents(hub).get(owner, name, "/".join(rest[1:]), query.get("ref"))
            if method == "PUT":
                return Contents(hub).put(owner, name, "/".join(rest[1:]), body)
        if head == "pulls":
            if len(rest) == 1:
                if method == "POST":
                    return 201, PullRequests(hub).create(owner, name, body)
                return 200, PullRequests(hub).list(owner, name, query.get("state", "open"))
            if len(rest) == 2 and rest[1].isdigit() and method == "GET":
                return 200, PullRequests(hub).get(owner, name, int(rest[1]))
            if len(rest) == 2 and rest[1].isdigit() and method == "PATCH":
                return 200, PullRequests(hub).update(owner, name, int(rest[1]), body)
            if len(rest) == 3 and rest[1].isdigit() and rest[2] == "merge" and method == "PUT":
                return 200, PullRequests(hub).merge(owner, name, int(rest[1]), body)
        raise not_found()

    def _git(self, method: str, path: str, query: str, body: bytes) -> None:
        hub = self.server.hub
        repo_part = path.split(".git/")[0].strip("/")
        if repo_part.count("/") != 1:
            raise not_found()
        owner, name = repo_part.split("/")
        hub.repo_row(owner, name)
        env = {**os.environ, "GIT_PROJECT_ROOT": str(hub.root), "GIT_HTTP_EXPORT_ALL": "1", "PATH_INFO": path,
               "QUERY_STRING": query, "REQUEST_METHOD": method, "REMOTE_USER": hub.user, "REMOTE_ADDR": "127.0.0.1",
               "CONTENT_TYPE": self.headers.get("Content-Type", ""), "CONTENT_LENGTH": str(len(body)),
               "GIT_HTTP_MAX_REQUEST_BUFFER": "100M"}
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        done = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, timeout=300,
                              check=False)
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = done.stdout.partition(b"\n\n")
        status, headers = 200, {}
        for line in head.decode(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.strip().split()[0])
            elif key:
                headers[key.strip()] = value.strip()
        content_type = headers.pop("Content-Type", "application/octet-stream")
        self._reply(status, payload, content_type=content_type, headers=headers)

    def _release(self, path: str) -> None:
        parts = [x for x in path.split("/") if x]
        # /<owner>/<repo>/releases/download/<tag>/<asset>
        if len(parts) != 6 or self.server.hub.releases is None:
            raise not_found()
        data = self.server.hub.releases(f"{parts[0]}/{parts[1]}@{parts[4]}", parts[5])
        if data is None:
            raise not_found()
        self._reply(200, data, content_type="application/octet-stream")


def _utc(iso: str) -> str:
    """git's ISO 8601 date (with its offset) as GitHub writes dates: UTC, `Z`."""
    from datetime import UTC, datetime

    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
