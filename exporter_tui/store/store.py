"""The local SQLite store: one connection to exporter.db and the table families on it.

One connection per Store, serialised by a lock so threads can share it. Writes run in short
`BEGIN IMMEDIATE` transactions with a busy timeout, so several processes (the TUI, the CLI, a
headless scheduler) share one file without "database is locked" reaching the user. The SQL
of each family of tables lives in its own module: `store.requests`, `store.runs`,
`store.audit`, `store.run_log`, `store.notifications`, `store.lease`.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import TracebackType
from typing import Any

from exporter_tui.store.audit import Audit
from exporter_tui.store.errors import StoreError
from exporter_tui.store.lease import Lease
from exporter_tui.store.notifications import Notifications
from exporter_tui.store.requests import Requests
from exporter_tui.store.run_log import RunLog
from exporter_tui.store.runs import Runs
from exporter_tui.store.schema import SCHEMA_VERSION, current_version, migrate


class Store:
    """`with Store(path) as store:` closes the connection at the end of the block."""

    def __init__(self, path: Path, *, busy_timeout_ms: int = 10_000, file_mode: int = 0o600):
        self.path = Path(path)
        self._lock = threading.RLock()
        self._busy_timeout_ms = busy_timeout_ms
        self._conn = self._connect(file_mode)
        self.requests = Requests(self, self._conn)
        self.runs = Runs(self, self._conn)
        self.audit = Audit(self, self._conn)
        self.run_log = RunLog(self, self._conn)
        self.notifications = Notifications(self, self._conn)
        self.lease = Lease(self, self._conn)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.close()

    # -- opening -------------------------------------------------------------------------
    def _connect(self, file_mode: int) -> sqlite3.Connection:
        new = not self.path.exists()
        if new:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            with suppress(FileExistsError):  # another process created it meanwhile: open that
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, file_mode))
                os.chmod(self.path, file_mode)  # exactly the mode asked for, whatever the umask
        elif self.path.is_dir():
            raise StoreError(f"{self.path}: is a folder, not a database file")
        try:
            conn = sqlite3.connect(self.path, timeout=self._busy_timeout_ms / 1000, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as e:
            raise StoreError(f"{self.path}: cannot open the database ({e})") from None
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
            found = current_version(conn)
            if found > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path}: the database has schema version {found}, newer than this app's {SCHEMA_VERSION}; "
                    "upgrade exporter-tui (the file was left as it was)"
                )
            if found < SCHEMA_VERSION:
                self._check_readable(conn)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            migrate(conn)
        except BaseException as e:
            conn.close()
            if isinstance(e, sqlite3.DatabaseError):
                raise StoreError(f"{self.path}: not a usable exporter-tui database ({e}); the file was left as it was") from None
            raise
        for suffix in ("-wal", "-shm"):
            side = Path(str(self.path) + suffix)
            if side.exists():
                try:
                    os.chmod(side, file_mode)
                except OSError:
                    pass
        return conn

    def _check_readable(self, conn: sqlite3.Connection) -> None:
        """Refuse a non-empty file with no schema of ours before migrating writes anything."""
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if names and "requests" not in names:
            raise StoreError(f"{self.path}: this SQLite file is not an exporter-tui database; the file was left as it was")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A short write transaction; retried when another process holds the lock past the busy timeout."""
        with self._lock:
            for attempt in range(5):
                try:
                    self._conn.execute("BEGIN IMMEDIATE")
                    break
                except sqlite3.OperationalError as e:
                    if "locked" not in str(e) and "busy" not in str(e):
                        raise
                    if attempt == 4:
                        raise StoreError(f"{self.path}: database is locked by another process; try again") from None
                    time.sleep(0.05 * (2**attempt))
            try:
                yield
                self._conn.execute("COMMIT")
            except BaseException as e:
                with suppress(sqlite3.Error):  # a damaged file may refuse the rollback too
                    self._conn.execute("ROLLBACK")
                if isinstance(e, sqlite3.DatabaseError) and not isinstance(e, sqlite3.IntegrityError):
                    raise self._unusable(e) from None
                raise

    def query(self, sql: str, params: tuple | dict = ()) -> list[dict[str, Any]]:
        """Rows as dicts; parameterised, like every statement here."""
        with self._lock:
            try:
                cur = self._conn.execute(sql, params)
                cols = [d[0] for d in cur.description]
                return [dict(zip(cols, row)) for row in cur.fetchall()]
            except sqlite3.DatabaseError as e:
                raise self._unusable(e) from None

    def _unusable(self, e: sqlite3.DatabaseError) -> StoreError:
        """A database that opened but fails a read or write later (a damaged page, a full disk)."""
        return StoreError(f"{self.path}: the database cannot be used ({e}); repair or restore the file, or move it away to start afresh")

    # -- the whole database ------------------------------------------------------------
    def ping(self) -> None:
        """Read the requests table once: a StoreError when the database cannot answer."""
        self.query("SELECT count(*) FROM requests")

    def change_marker(self) -> tuple[Any, ...]:
        """Cheap facts that change whenever requests or runs do, whoever changed them."""
        with self._lock:
            audit = self._conn.execute("SELECT coalesce(max(id), 0) FROM audit").fetchone()
            runs = self._conn.execute(
                "SELECT count(*), max(finished_at), sum(status = 'inProgress'), sum(status = 'notProcessed'),"
                " max(heartbeat_at), sum(progress) FROM runs"
            ).fetchone()
        return (*audit, *runs)
