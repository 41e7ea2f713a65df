"""SQLite state of one sandbox cluster: objects, a change log for watches, and pod logs.

One database file per cluster under FLEET_HOME, in WAL mode, shared by every process that serves or
controls that cluster. Each write runs in `BEGIN IMMEDIATE`, takes the next resourceVersion from one
counter, and records the change, so concurrent writers are serialised and a stale update is
detected (the API layer turns it into 409 Conflict), never silently lost.

    store = Store(home / "state.db")
    with store.write() as tx:
        rv = tx.next_rv()
        tx.put("apps/deployments", "flux-system", "source-controller", uid, rv, body)
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleetlab.sqlitepool import ConnectionPool
from fleetlib.errors import SandboxError

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    resource TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
    uid TEXT NOT NULL, rv INTEGER NOT NULL, owners TEXT NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (resource, namespace, name)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS objects_by_namespace ON objects (namespace);
CREATE TABLE IF NOT EXISTS changes (
    rv INTEGER PRIMARY KEY, resource TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
    type TEXT NOT NULL, body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, namespace TEXT NOT NULL, pod TEXT NOT NULL,
    container TEXT NOT NULL, ts REAL NOT NULL, line TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_by_pod ON logs (namespace, pod, container, id);
CREATE TABLE IF NOT EXISTS schedule (
    uid TEXT PRIMARY KEY, generation INTEGER, handled TEXT, next REAL NOT NULL
) WITHOUT ROWID;
"""

CHANGES_KEPT = 50_000
"""Watch history kept; a watch from an older resourceVersion gets 410 Gone."""


@dataclass(frozen=True)
class Row:
    resource: str
    namespace: str
    name: str
    uid: str
    rv: int
    body: str

    def obj(self) -> dict[str, Any]:
        return json.loads(self.body)


class Tx:
    """One write transaction; see Store.write."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self._rv: int | None = None
        self.changed: list[tuple[str, str, str, str]] = []
        """(change, resource, namespace, name) of every write, for the store's `committed` hook."""

    def next_rv(self) -> int:
        cur = self.db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'rv' RETURNING value")
        self._rv = int(cur.fetchone()[0])
        return self._rv

    def get(self, resource: str, namespace: str, name: str) -> Row | None:
        return _get(self.db, resource, namespace, name)

    def put(self, resource: str, namespace: str, name: str, uid: str, rv: int, body: dict[str, Any],
            *, change: str) -> str:
        text = json.dumps(body, separators=(",", ":"))
        owners = " ".join(o.get("uid", "") for o in body.get("metadata", {}).get("ownerReferences") or [])
        self.db.execute(
            "INSERT INTO objects (resource, namespace, name, uid, rv, owners, body) VALUES (?,?,?,?,?,?,?) "
            "ON CONFLICT (resource, namespace, name) DO UPDATE SET uid=excluded.uid, rv=excluded.rv, "
            "owners=excluded.owners, body=excluded.body",
            (resource, namespace, name, uid, rv, owners, text),
        )
        self.changed.append((change, resource, namespace, name))
        self.db.execute("INSERT INTO changes (rv, resource, namespace, name, type, body) VALUES (?,?,?,?,?,?)",
                        (rv, resource, namespace, name, change, text))
        return text

    def remove(self, resource: str, namespace: str, name: str, rv: int, body: dict[str, Any]) -> None:
        self.db.execute("DELETE FROM objects WHERE resource=? AND namespace=? AND name=?", (resource, namespace, name))
        self.changed.append(("DELETED", resource, namespace, name))
        self.db.execute("INSERT INTO changes (rv, resource, namespace, name, type, body) VALUES (?,?,?,?,?,?)",
                        (rv, resource, namespace, name, "DELETED", json.dumps(body, separators=(",", ":"))))

    def owned_by(self, uid: str) -> list[Row]:
        cur = self.db.execute("SELECT resource, namespace, name, uid, rv, body FROM objects WHERE instr(owners, ?) > 0",
                              (uid,))
        return [Row(*r) for r in cur]

    def in_namespace(self, namespace: str) -> list[Row]:
        cur = self.db.execute("SELECT resource, namespace, name, uid, rv, body FROM objects WHERE namespace=?",
                              (namespace,))
        return [Row(*r) for r in cur]

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value=excluded.value",
                        (key, value))


def _get(db: sqlite3.Connection, resource: str, namespace: str, name: str) -> Row | None:
    r = db.execute("SELECT resource, namespace, name, uid, rv, body FROM objects WHERE resource=? AND namespace=? "
                   "AND name=?", (resource, namespace, name)).fetchone()
    return Row(*r) if r else None


class TooOld(SandboxError):
    """A read at a resourceVersion the change log no longer reaches (the API answers 410 Gone)."""

    def __init__(self, rv: int) -> None:
        super().__init__(f"resourceVersion {rv} is too old")
        self.rv = rv


class DamagedState(SandboxError):
    """A cluster's database file exists but is empty, truncated or not a sandbox database; it is never re-created
    silently (that would turn a broken cluster into an empty, healthy-looking one)."""


def check_database(path: Path) -> None:
    """Raise DamagedState when `path` exists but cannot be this sandbox's database."""
    if not path.exists():
        return
    # never open() the file: closing any descriptor of a database releases every POSIX lock this process holds
    # on it, the locks SQLite's other connections here rely on (sqlite.org/howtocorrupt.html, 2.2)
    try:
        size = path.stat().st_size
    except OSError as e:
        raise DamagedState(f"{path}: cannot be read ({e.strerror})") from None
    if size == 0:
        raise DamagedState(f"{path}: is empty (0 bytes)")
    for attempt in range(5):
        try:
            ok, tables, rv = _inspect(path)
            break
        except sqlite3.OperationalError as e:  # another process closing or checkpointing the WAL: not damage
            if attempt == 4 or "disk I/O error" not in str(e) and "locked" not in str(e):
                raise DamagedState(f"{path}: is damaged ({e})") from None
            time.sleep(0.2 * (attempt + 1))
        except sqlite3.DatabaseError as e:
            if "not a database" in str(e):
                raise DamagedState(f"{path}: is not a SQLite database") from None
            raise DamagedState(f"{path}: is damaged ({e})") from None
    if ok != "ok":
        raise DamagedState(f"{path}: is damaged ({ok})")
    if not {"objects", "changes", "meta"} <= tables or rv is None:
        raise DamagedState(f"{path}: is a SQLite database, but not a sandbox cluster's")


def _inspect(path: Path) -> tuple[str, set[str], Any]:
    # through SQLite (safe beside this process's other connections), read-only: nothing is created or repaired,
    # and pages missing from a truncated file are an error, not zeros
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30.0)
    try:
        ok = db.execute("PRAGMA quick_check(1)").fetchone()[0]
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        rv = db.execute("SELECT value FROM meta WHERE key='rv'").fetchone() if "meta" in tables else None
    finally:
        db.close()
    return ok, tables, rv


class Store:
    """Thread-safe access to one cluster's database: a pooled connection per live thread (fleetlab.sqlitepool).
    A damaged file raises DamagedState."""

    def __init__(self, path: Path) -> None:
        self.path = path
        check_database(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.pool = ConnectionPool(path, schema=SCHEMA)
        self.committed: Callable[[list[tuple[str, str, str, str]]], None] | None = None
        """Called after each write transaction with what it changed (what the cluster's controllers react to)."""
        try:
            with self.write() as tx:
                tx.db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('rv', '1000')")
        except sqlite3.DatabaseError as e:
            if "not a database" in str(e):
                raise DamagedState(f"{path}: is not a SQLite database") from None
            raise DamagedState(f"{path}: is damaged ({e})") from None

    def _db(self) -> sqlite3.Connection:
        return self.pool.connection()

    @contextmanager
    def write(self) -> Iterator[Tx]:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        tx = Tx(db)
        try:
            yield tx
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        if self.committed is not None and tx.changed:
            self.committed(tx.changed)

    def close(self) -> None:
        """Close every thread's connection (a forgotten cluster holds no file open)."""
        self.pool.close()

    # --- reads ----------------------------------------------------------------------------------

    def rv(self) -> int:
        return int(self._db().execute("SELECT value FROM meta WHERE key='rv'").fetchone()[0])

    def meta(self, key: str) -> str | None:
        r = self._db().execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return r[0] if r else None

    def get(self, resource: str, namespace: str, name: str) -> Row | None:
        return _get(self._db(), resource, namespace, name)

    def scan(self, resources: Sequence[str], namespace: str | None, *, after: tuple[str, str, str] | None = None,
             names: Sequence[str] | None = None, at: int | None = None) -> tuple[int, list[Row]]:
        """Rows of `resources` (in one namespace or all), ordered by (resource, namespace, name), with the
        store's resourceVersion read in the same snapshot. With `at`, the rows as they were at that
        resourceVersion (a list's later pages come from its first page's snapshot, as etcd serves them), rebuilt
        from the change log; TooOld when the log no longer reaches back that far."""
        rv, rows = self._scan_now(resources, namespace, after=after, names=names)
        if at is None or at >= rv:
            return rv, rows
        return at, self._rewind(rows, at, resources, namespace, after=after, names=names)

    def _rewind(self, rows: list[Row], at: int, resources: Sequence[str], namespace: str | None, *,
                after: tuple[str, str, str] | None, names: Sequence[str] | None) -> list[Row]:
        db = self._db()
        if self.oldest_change() > at + 1:
            raise TooOld(at)
        marks = ",".join("?" for _ in resources)
        sql = f"SELECT DISTINCT resource, namespace, name FROM changes WHERE rv > ? AND resource IN ({marks})"
        args: list[Any] = [at, *resources]
        if namespace is not None:
            sql += " AND namespace=?"
            args.append(namespace)
        touched = {tuple(r) for r in db.execute(sql, args)}
        kept = [r for r in rows if (r.resource, r.namespace, r.name) not in touched]
        for key in touched:
            if (after is not None and key <= after) or (names is not None and key[2] not in names):
                continue
            then = db.execute("SELECT type, body FROM changes WHERE resource=? AND namespace=? AND name=? AND rv <= ? "
                              "ORDER BY rv DESC LIMIT 1", (*key, at)).fetchone()
            if then is None or then[0] == "DELETED":
                continue  # created after the snapshot, or gone by then
            meta = json.loads(then[1]).get("metadata") or {}
            kept.append(Row(key[0], key[1], key[2], str(meta.get("uid", "")), int(meta.get("resourceVersion") or 0),
                            then[1]))
        return sorted(kept, key=lambda r: (r.resource, r.namespace, r.name))

    def _scan_now(self, resources: Sequence[str], namespace: str | None, *,
                  after: tuple[str, str, str] | None = None, names: Sequence[str] | None = None) -> tuple[int, list[Row]]:
        db = self._db()
        db.execute("BEGIN")
        try:
            rv = int(db.execute("SELECT value FROM meta WHERE key='rv'").fetchone()[0])
            marks = ",".join("?" for _ in resources)
            sql = f"SELECT resource, namespace, name, uid, rv, body FROM objects WHERE resource IN ({marks})"
            args: list[Any] = list(resources)
            if namespace is not None:
                sql += " AND namespace=?"
                args.append(namespace)
            if names is not None:
                sql += f" AND name IN ({','.join('?' for _ in names)})"
                args.extend(names)
            if after is not None:
                sql += " AND (resource, namespace, name) > (?, ?, ?)"
                args.extend(after)
            sql += " ORDER BY resource, namespace, name"
            rows = [Row(*r) for r in db.execute(sql, args)]
        finally:
            db.execute("COMMIT")
        return rv, rows

    def counts(self) -> dict[str, int]:
        """Objects per resource key."""
        return {k: int(n) for k, n in self._db().execute("SELECT resource, COUNT(*) FROM objects GROUP BY resource")}

    def oldest_change(self) -> int:
        r = self._db().execute("SELECT MIN(rv) FROM changes").fetchone()
        return int(r[0]) if r and r[0] is not None else self.rv()

    def changes(self, since: int, resource: str, namespace: str | None) -> list[tuple[int, str, str]]:
        sql = "SELECT rv, type, body FROM changes WHERE rv > ? AND resource = ?"
        args: list[Any] = [since, resource]
        if namespace is not None:
            sql += " AND namespace = ?"
            args.append(namespace)
        return [(int(a), b, c) for a, b, c in self._db().execute(sql + " ORDER BY rv", args)]

    def trim_changes(self) -> None:
        with self.write() as tx:
            tx.db.execute("DELETE FROM changes WHERE rv < (SELECT MAX(rv) FROM changes) - ?", (CHANGES_KEPT,))

    # --- the controllers' schedule -------------------------------------------------------------

    def schedules(self) -> dict[str, tuple[int | None, str | None, float]]:
        """uid -> (generation last reconciled, reconcile request last handled, next due in cluster seconds)."""
        return {u: (g, h, float(n)) for u, g, h, n in self._db().execute(
            "SELECT uid, generation, handled, next FROM schedule")}

    def put_schedule(self, uid: str, generation: int | None, handled: str | None, next_due: float) -> None:
        with self.write() as tx:
            tx.db.execute("INSERT INTO schedule (uid, generation, handled, next) VALUES (?,?,?,?) ON CONFLICT (uid) "
                          "DO UPDATE SET generation=excluded.generation, handled=excluded.handled, next=excluded.next",
                          (uid, generation, handled, next_due))

    # --- pod logs -------------------------------------------------------------------------------

    def append_logs(self, namespace: str, pod: str, container: str, lines: Sequence[tuple[float, str]]) -> None:
        with self.write() as tx:
            tx.db.executemany("INSERT INTO logs (namespace, pod, container, ts, line) VALUES (?,?,?,?,?)",
                              [(namespace, pod, container, ts, line) for ts, line in lines])

    def read_logs(self, namespace: str, pod: str, container: str, *, after_id: int = 0,
                  since_ts: float | None = None, tail: int | None = None) -> list[tuple[int, float, str]]:
        sql = "SELECT id, ts, line FROM logs WHERE namespace=? AND pod=? AND container=? AND id > ?"
        args: list[Any] = [namespace, pod, container, after_id]
        if since_ts is not None:
            sql += " AND ts >= ?"
            args.append(since_ts)
        if tail is not None:
            rows = list(self._db().execute(sql + " ORDER BY id DESC LIMIT ?", [*args, tail]))
            rows.reverse()
        else:
            rows = list(self._db().execute(sql + " ORDER BY id", args))
        return [(int(i), float(t), str(line)) for i, t, line in rows]
