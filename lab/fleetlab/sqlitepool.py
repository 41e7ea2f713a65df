"""SQLite connections for servers that answer each request in a thread of its own (the Kubernetes API server's
store, the GitHub's database): a pooled connection per live thread, handed back when the thread ends, so a
server holds a few connections however many requests it served (one per thread ever seen held two descriptors
and its page cache each). A new database is made ready (WAL, schema) under a file lock: two processes that open
it at once (`fleet run --parallel`) would otherwise race on the journal mode ("database is locked").

    pool = ConnectionPool(path, schema=SCHEMA)
    db = pool.connection()          # this thread's
"""

from __future__ import annotations

import sqlite3
import threading
import weakref
from collections.abc import Callable
from pathlib import Path

from fleetlab.pki import file_lock

IDLE_KEPT = 8
"""Idle connections kept for the next threads; more are closed."""


class _Lease:
    """A thread's hold on one pooled connection: when the thread ends its thread-local data goes, and with it this
    object, whose finalizer hands the connection back."""

    def __init__(self, db: sqlite3.Connection, give_back: Callable[[sqlite3.Connection], None]) -> None:
        self.db = db
        weakref.finalize(self, give_back, db)


class ConnectionPool:
    def __init__(self, path: Path, *, schema: str, synchronous: str = "NORMAL") -> None:
        self.path, self.schema, self.synchronous = path, schema, synchronous
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (autocommit; transactions are the caller's)."""
        lease = getattr(self._local, "lease", None)
        if lease is None:
            lease = self._local.lease = _Lease(self._take(), self._give_back)
        return lease.db

    def _take(self) -> sqlite3.Connection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        with file_lock(self.path.with_name(f".{self.path.name}.lock")):
            db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={self.synchronous}")
            db.execute("PRAGMA busy_timeout=30000")
            db.executescript(self.schema)
        with self._lock:
            self._opened.append(db)
        return db

    def _give_back(self, db: sqlite3.Connection) -> None:
        with self._lock:
            if db not in self._opened:
                return  # closed by close() meanwhile
            if db.in_transaction:
                db.rollback()
            if len(self._idle) < IDLE_KEPT:
                self._idle.append(db)
                return
            self._opened.remove(db)
        db.close()

    def close(self) -> None:
        """Close every connection (a forgotten cluster holds no file open)."""
        with self._lock:
            opened, self._opened, self._idle = self._opened, [], []
        for db in opened:
            try:
                db.close()
            except sqlite3.ProgrammingError:
                pass  # in use by its thread this very moment: it closes with the thread
        self._local = threading.local()
