"""The local SQLite store: requests, runs, their logs, notification outcomes and the audit trail.

One connection per Store, serialised by a lock so threads can share it. Writes run in short
`BEGIN IMMEDIATE` transactions with a busy timeout, so several processes (the TUI, the CLI, a
headless scheduler) share one file without "database is locked" reaching the user.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from exporter_tui.core.enums import Origin, RunStatus
from exporter_tui.core.errors import EXIT_INVALID, EXIT_LIMIT, ExporterError
from exporter_tui.core.models import ExportRequest
from exporter_tui.core.schedule import one_time_run
from exporter_tui.core.times import iso, iso_from_unix, unix_from_iso, utc_now
from exporter_tui.store.schema import SCHEMA_VERSION, current_version, migrate, windows_json

REQUEST_SORTS = {"createdAt": "r.created_at", "updatedAt": "r.updated_at", "name": "r.name"}
QUEUE_FULL = "Maximum number of queued exports reached"
RETRY_AFTER_SECONDS = 30  # how long a client told "queue full" waits before trying again
MISSING_IDENTITY = "Missing user identity id"


MIN_PREFIX = 4  # characters of an id prefix


def too_short(given: str) -> str:
    return f"id '{given}' is too short: give at least {MIN_PREFIX} characters of the id"


class StoreError(ExporterError):
    """The database cannot be used (corrupt, newer, unreadable)."""

    http_status = 503


class NotFound(ExporterError, LookupError):
    """No such request or run."""

    exit_code = EXIT_INVALID
    http_status = 404


class LimitReached(ExporterError):
    """Refused by a limit: the queue is full (429, retry later) or the request is already running (409)."""

    exit_code = EXIT_LIMIT

    @property
    def http_status(self) -> int:  # type: ignore[override]  # a property where the base has a class attribute
        return 429 if str(self) == QUEUE_FULL else 409

    def headers(self) -> dict[str, str] | None:
        return {"Retry-After": str(RETRY_AFTER_SECONDS)} if str(self) == QUEUE_FULL else None


class IdentityMissing(ExporterError, ValueError):
    """No [identity] user in the config: nothing may be written without an author."""

    exit_code = EXIT_INVALID
    http_status = 401

    def text(self) -> str:
        return f'{self}: set [identity] user = "your name" in the config file'

    def body(self) -> dict:
        return {"detail": str(self), "validationErrors": [{"path": "identity.user", "reason": "is empty"}]}


@dataclass
class StoredRequest:
    id: str
    request: ExportRequest
    owner: str
    paused: bool
    created_at: str
    updated_at: str
    deleted_at: str | None

    def as_json(self) -> dict[str, Any]:
        """The normalised body plus the server-set fields, as `requests show --json` prints it."""
        return {
            **self.request.to_body(),
            "id": self.id,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "deletedAt": self.deleted_at,
        }

    @property
    def short_id(self) -> str:
        return self.id[:8]


@dataclass
class Run:
    id: str
    request_id: str
    status: RunStatus
    origin: Origin
    attempt: int
    nominal_time: float | None
    run_at: float | None
    window_from: float | None
    window_to: float | None
    window_override: int | None
    progress: int
    total: int | None
    rows: int | None
    file_name: str | None
    file_extension: str | None
    file_path: str | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    heartbeat_at: float | None
    next_attempt_at: float | None
    claimed_by: str | None
    error: str | None
    cancel_requested: str | None = None  # "cancelled by <user>" while a cancel of a running run is pending
    item_windows: str | None = None  # JSON [[from, to], ...]: each item's data window
    notify: int | None = None  # 0: the request's messages are not sent for this run (a backfill without --notify)
    target_counts: str | None = None  # JSON [{item, channel, subtopic, name, from, to, count}, ...] as exported
    counted_at: float | None = None  # when target_counts were last counted (the export, then each late check)
    late_readings: int | None = None  # readings counted after the export beyond target_counts (None: no counts)
    sha256: str | None = None  # of the file written
    supersedes: str | None = None  # a rerun: the id of the run whose file it corrects

    def data_windows(self) -> list[tuple[float, float]]:
        return [(w[0], w[1]) for w in json.loads(self.item_windows)] if self.item_windows else []

    def as_json(self) -> dict[str, Any]:
        """`window` is the union of the items' data windows (the interval when they are not
        known), and `windows` each item's, by its index in `items`."""
        windows = self.data_windows()
        start, end = (min(w[0] for w in windows), max(w[1] for w in windows)) if windows else (self.window_from, self.window_to)
        return {
            "id": self.id,
            "requestId": self.request_id,
            "status": self.status,
            "origin": self.origin,
            "attempt": self.attempt,
            "window": {"from": iso_from_unix(start), "to": iso_from_unix(end)},
            "windows": [{"item": i, "from": iso_from_unix(w[0]), "to": iso_from_unix(w[1])} for i, w in enumerate(windows)],
            "nominalTime": iso_from_unix(self.nominal_time),
            "progress": self.progress,
            "total": self.total,
            "rows": self.rows,
            "fileName": self.file_name,
            "fileExtension": self.file_extension,
            "filePath": self.file_path,
            "createdAt": self.created_at,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "error": self.error,
            "lateReadings": self.late_readings,
            "supersedes": self.supersedes,
        }


@dataclass
class Page:
    results: list[Any]
    page: int
    page_size: int
    total: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def has_next(self) -> bool:
        return self.page * self.page_size < self.total

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    def links(self, base: str) -> dict[str, str | None]:
        def link(p: int) -> str:
            sep = "&" if "?" in base else "?"
            return f"{base}{sep}page={p}&pageSize={self.page_size}"

        return {"next": link(self.page + 1) if self.has_next else None, "prev": link(self.page - 1) if self.has_prev else None}


_RUN_FIELDS = tuple(Run.__dataclass_fields__)


class Store:
    def __init__(self, path: Path, *, busy_timeout_ms: int = 10_000, file_mode: int = 0o600):
        self.path = Path(path)
        self._lock = threading.RLock()
        self._busy_timeout_ms = busy_timeout_ms
        self.conn = self._connect(file_mode)
        # Added to the detail of every audit event this connection records (the API's key name).
        self.audit_extra: dict[str, Any] = {}

    # -- opening -------------------------------------------------------------------------
    def _connect(self, file_mode: int) -> sqlite3.Connection:
        new = not self.path.exists()
        if new:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, file_mode)
            os.close(fd)
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
            self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A short write transaction; retried when another process holds the lock past the busy timeout."""
        with self._lock:
            for attempt in range(5):
                try:
                    self.conn.execute("BEGIN IMMEDIATE")
                    break
                except sqlite3.OperationalError as e:
                    if "locked" not in str(e) and "busy" not in str(e):
                        raise
                    if attempt == 4:
                        raise StoreError(f"{self.path}: database is locked by another process; try again") from None
                    time.sleep(0.05 * (2**attempt))
            try:
                yield self.conn
                self.conn.execute("COMMIT")
            except BaseException as e:
                with suppress(sqlite3.Error):  # a damaged file may refuse the rollback too
                    self.conn.execute("ROLLBACK")
                if isinstance(e, sqlite3.DatabaseError) and not isinstance(e, sqlite3.IntegrityError):
                    raise self._unusable(e) from None
                raise

    def query(self, sql: str, params: tuple | dict = ()) -> list[dict[str, Any]]:
        """Rows as dicts; parameterised, like every statement here."""
        with self._lock:
            try:
                cur = self.conn.execute(sql, params)
                cols = [d[0] for d in cur.description]
                return [dict(zip(cols, row)) for row in cur.fetchall()]
            except sqlite3.DatabaseError as e:
                raise self._unusable(e) from None

    def _unusable(self, e: sqlite3.DatabaseError) -> StoreError:
        """A database that opened but fails a read or write later (a damaged page, a full disk)."""
        return StoreError(f"{self.path}: the database cannot be used ({e}); repair or restore the file, or move it away to start afresh")

    # -- audit ---------------------------------------------------------------------------
    def record_audit(
        self, action: str, actor: str, entity: str, entity_id: str, detail: dict | None = None, now: datetime | None = None
    ) -> None:
        """Add an audit event inside the caller's open `transaction()`, so it commits with the change."""
        self.conn.execute(
            "INSERT INTO audit (action, actor, entity, entity_id, at, detail) VALUES (?, ?, ?, ?, ?, ?)",
            (
                f"exporter:exports:{action}",
                actor,
                entity,
                entity_id,
                iso(now or utc_now()),
                json.dumps({**self.audit_extra, **(detail or {})}, sort_keys=True),
            ),
        )

    def audit(self, action: str, actor: str, entity: str, entity_id: str, detail: dict | None = None, now: datetime | None = None) -> None:
        with self.transaction():
            self.record_audit(action, actor, entity, entity_id, detail, now)

    def list_audit(self, page: int = 1, page_size: int = 50, entity_id: str | None = None, action: str | None = None) -> Page:
        where, params = [], []
        if entity_id:
            where.append("entity_id = ?")
            params.append(entity_id)
        if action:
            where.append("action = ?")
            params.append(action if action.startswith("exporter:") else f"exporter:exports:{action}")
        clause = ("WHERE " + " AND ".join(where)) if where else ""
        total = self.query(f"SELECT count(*) AS n FROM audit {clause}", tuple(params))[0]["n"]
        rows = self.query(f"SELECT * FROM audit {clause} ORDER BY id DESC LIMIT ? OFFSET ?", (*params, page_size, (page - 1) * page_size))
        for r in rows:
            r["detail"] = json.loads(r["detail"] or "{}")
        return Page(rows, page, page_size, total)

    # -- requests ------------------------------------------------------------------------
    def create_request(
        self, request: ExportRequest, actor: str, max_queued: int | None = None, now: datetime | None = None
    ) -> StoredRequest:
        if not actor:
            raise IdentityMissing(MISSING_IDENTITY)
        now = now or utc_now()
        rid = str(uuid.uuid4())
        stamp = iso(now)
        with self.transaction() as conn:
            if request.type == "oneTime" and max_queued is not None:
                self._check_queue(conn, actor, max_queued)
            conn.execute(
                "INSERT INTO requests (id, name, type, extension, targets, periodicity, period_start, owner, body, paused, created_at, updated_at, deleted_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, NULL)",
                (
                    rid,
                    request.name,
                    request.type,
                    request.format.extension,
                    ",".join(request.target_names()),
                    request.periodicity,
                    request.period_start,
                    actor,
                    json.dumps(request.to_body(), sort_keys=True),
                    stamp,
                    stamp,
                ),
            )
            self.record_audit("create", actor, "request", rid, {"type": request.type}, now)
            if request.type == "oneTime":
                self._queue_one_time(conn, rid, request, now)
        return self.get_request(rid)

    def _queue_one_time(self, conn: sqlite3.Connection, rid: str, request: ExportRequest, now: datetime) -> None:
        """The one run of a oneTime request, queued (at periodStart when that is in the future)."""
        planned = one_time_run(request, now)
        run_id = self.insert_run(conn, rid, Origin.SCHEDULE, planned.window, planned.nominal, RunStatus.NOT_PROCESSED, now)
        conn.execute("UPDATE runs SET next_attempt_at = ? WHERE id = ?", (planned.not_before, run_id))

    def _check_queue(self, conn: sqlite3.Connection, owner: str, max_queued: int) -> None:
        if self._queue_full(conn, owner, max_queued):
            raise LimitReached(QUEUE_FULL)

    @staticmethod
    def _queue_full(conn: sqlite3.Connection, owner: str, max_queued: int) -> bool:
        """`limits.max_queued_runs` counts per owner: one owner's full queue never refuses another's runs."""
        return Store._queued_of(conn, owner) >= max_queued

    @staticmethod
    def _queued_of(conn: sqlite3.Connection, owner: str) -> int:
        return int(
            conn.execute(
                "SELECT count(*) FROM runs JOIN requests ON requests.id = runs.request_id WHERE runs.status = 'notProcessed' AND requests.owner = ?",
                (owner,),
            ).fetchone()[0]
        )

    @staticmethod
    def _owner_of(conn: sqlite3.Connection, request_id: str) -> str:
        row = conn.execute("SELECT owner FROM requests WHERE id = ?", (request_id,)).fetchone()
        return row[0] if row else ""

    def get_request(self, rid: str, include_deleted: bool = False) -> StoredRequest:
        rows = self.query("SELECT * FROM requests WHERE id = ?", (rid,))
        if not rows and len(rid) >= MIN_PREFIX and all(c in "0123456789abcdef-" for c in rid.lower()):
            rows = self.query("SELECT * FROM requests WHERE id LIKE ? || '%' AND deleted_at IS NULL LIMIT 2", (rid.lower(),))
            if len(rows) > 1:
                raise NotFound(f"request id prefix '{rid}' is ambiguous; give more characters")
        if not rows and len(rid) < MIN_PREFIX:
            raise NotFound(too_short(rid))
        if not rows or (rows[0]["deleted_at"] and not include_deleted):
            raise NotFound(f"no export request with id '{rid}'")
        return self._to_request(rows[0])

    @staticmethod
    def _to_request(row: dict) -> StoredRequest:
        return StoredRequest(
            id=row["id"],
            request=ExportRequest.model_validate(json.loads(row["body"])),
            owner=row["owner"],
            paused=bool(row["paused"]),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            deleted_at=row["deleted_at"],
        )

    def list_requests(
        self,
        page: int = 1,
        page_size: int = 20,
        type: str | None = None,
        status: str | list[str] | None = None,
        include_deleted: bool = False,
        *,
        ids: list[str] | None = None,
        owner: str | None = None,
        sort: str = "-createdAt",
    ) -> Page:
        """Requests, newest first unless `sort` (a REQUEST_SORTS key, `-` for descending) says;
        `status` filters by the status of each request's latest run (any of a list)."""
        where: list[str] = []
        params: list[Any] = []
        if not include_deleted:
            where.append("r.deleted_at IS NULL")
        if type:
            where.append("r.type = ?")
            params.append(type)
        if owner is not None:
            where.append("r.owner = ?")
            params.append(owner)
        if ids:
            where.append(f"r.id IN ({', '.join('?' * len(ids))})")
            params.extend(ids)
        last = "(SELECT status FROM runs WHERE request_id = r.id ORDER BY created_at DESC, rowid DESC LIMIT 1)"
        statuses = [status] if isinstance(status, str) else (status or [])
        if statuses:
            where.append(f"{last} IN ({', '.join('?' * len(statuses))})")
            params.extend(statuses)
        clause = ("WHERE " + " AND ".join(where)) if where else ""
        column = REQUEST_SORTS[sort.lstrip("-")]
        order = "DESC" if sort.startswith("-") else "ASC"
        total = self.query(f"SELECT count(*) AS n FROM requests r {clause}", tuple(params))[0]["n"]
        rows = self.query(
            f"SELECT r.*, {last} AS last_status FROM requests r {clause} ORDER BY {column} {order}, r.rowid {order} LIMIT ? OFFSET ?",
            (*params, page_size, (page - 1) * page_size),
        )
        page_obj = Page([self._to_request(r) for r in rows], page, page_size, total)
        page_obj.extra["last_status"] = {r["id"]: r["last_status"] for r in rows}
        return page_obj

    def all_active_requests(self) -> list[StoredRequest]:
        return [self._to_request(r) for r in self.query("SELECT * FROM requests WHERE deleted_at IS NULL ORDER BY created_at")]

    def request_channels(self) -> list[str]:
        """The channel ids the active requests read, each once, in the order they were first used."""
        return list(dict.fromkeys(item.params.channel_id for r in self.all_active_requests() for item in r.request.items))

    def update_request(
        self, rid: str, request: ExportRequest, actor: str, max_queued: int | None = None, now: datetime | None = None
    ) -> StoredRequest:
        """Replace a request's body. recurring -> oneTime queues the oneTime run as a create does
        (LimitReached and nothing changed when the queue is full); oneTime -> recurring cancels
        its queued run ("cancelled by update") and forgets its runs' oneTime run times, so the
        catch-up policy decides about the intervals already ended, as for a past periodStart."""
        if not actor:
            raise IdentityMissing(MISSING_IDENTITY)
        current = self.get_request(rid)
        now = now or utc_now()
        was = current.request.type
        detail: dict[str, Any] = {} if was == request.type else {"type": f"{was} -> {request.type}"}
        with self.transaction() as conn:
            if was == "recurring" and request.type == "oneTime" and max_queued is not None:
                self._check_queue(conn, current.owner, max_queued)
            conn.execute(
                "UPDATE requests SET name = ?, type = ?, extension = ?, targets = ?, periodicity = ?, period_start = ?, body = ?, updated_at = ?"
                " WHERE id = ? AND deleted_at IS NULL",
                (
                    request.name,
                    request.type,
                    request.format.extension,
                    ",".join(request.target_names()),
                    request.periodicity,
                    request.period_start,
                    json.dumps(request.to_body(), sort_keys=True),
                    iso(now),
                    current.id,
                ),
            )
            if was == "recurring" and request.type == "oneTime":
                self._queue_one_time(conn, current.id, request, now)
            elif was == "oneTime" and request.type == "recurring":
                detail["cancelledRuns"] = conn.execute(
                    "UPDATE runs SET status = 'failed', error = 'cancelled by update', finished_at = ?"
                    " WHERE request_id = ? AND status = 'notProcessed'",
                    (iso(now), current.id),
                ).rowcount
                conn.execute("UPDATE runs SET nominal_time = NULL WHERE request_id = ?", (current.id,))
            self.record_audit("update", actor, "request", current.id, detail, now)
        return self.get_request(current.id)

    def delete_request(self, rid: str, actor: str, now: datetime | None = None) -> StoredRequest:
        """Soft delete: set deletedAt; the request leaves the lists and its queued runs are cancelled."""
        current = self.get_request(rid)
        now = now or utc_now()
        with self.transaction() as conn:
            conn.execute("UPDATE requests SET deleted_at = ?, updated_at = ? WHERE id = ?", (iso(now), iso(now), current.id))
            cancelled = conn.execute(
                "UPDATE runs SET status = 'failed', error = 'cancelled: request deleted', finished_at = ? WHERE request_id = ? AND status = 'notProcessed'",
                (iso(now), current.id),
            ).rowcount
            self.record_audit("delete", actor, "request", current.id, {"cancelledRuns": cancelled}, now)
        return self.get_request(current.id, include_deleted=True)

    def set_paused(self, rid: str, paused: bool, actor: str, now: datetime | None = None) -> StoredRequest:
        current = self.get_request(rid)
        with self.transaction() as conn:
            conn.execute("UPDATE requests SET paused = ? WHERE id = ?", (int(paused), current.id))
            self.record_audit("pause" if paused else "resume", actor, "request", current.id, {}, now)
        return self.get_request(current.id)

    # -- runs ----------------------------------------------------------------------------
    def insert_run(
        self,
        conn: sqlite3.Connection,
        request_id: str,
        origin: Origin,
        window: tuple[float, float] | None,
        nominal: float | None,
        status: RunStatus,
        now: datetime,
        override: bool = False,
        run_at: float | None = None,
        notify: bool | None = None,
    ) -> str:
        """Insert a run inside the caller's open `transaction()`, with its items' data windows; returns its id.
        `notify` False keeps the request's messages from going for this run."""
        run_id = str(uuid.uuid4())
        anchor = run_at if run_at is not None else nominal
        body = conn.execute("SELECT body FROM requests WHERE id = ?", (request_id,)).fetchone()
        conn.execute(
            "INSERT INTO runs (id, request_id, status, origin, attempt, nominal_time, run_at, window_from, window_to, window_override, progress,"
            " created_at, item_windows, notify) VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, ?, 0, ?, ?, ?)",
            (
                run_id,
                request_id,
                status,
                origin,
                nominal,
                anchor,
                window[0] if window else None,
                window[1] if window else None,
                int(override),
                iso(now),
                windows_json(
                    body[0] if body else None, anchor, window[0] if window else None, window[1] if window else None, int(override)
                ),
                None if notify is None else int(notify),
            ),
        )
        return run_id

    def create_run(
        self,
        request_id: str,
        origin: Origin,
        window: tuple[float, float] | None,
        actor: str,
        *,
        run_at: float,
        override: bool = False,
        max_queued: int | None = None,
        now: datetime | None = None,
    ) -> Run:
        """A queued manual run (notProcessed); manual runs have no nominal time, so they are never deduplicated.

        `run_at` is the instant an item's `period` ends at; `window` is the run's interval, and
        with `override` it is the data window of every item.
        """
        if origin not in set(Origin):
            raise ValueError(f"origin must be one of {', '.join(Origin)}")
        now = now or utc_now()
        with self.transaction() as conn:
            if max_queued is not None:
                self._check_queue(conn, self._owner_of(conn, request_id), max_queued)
            busy = conn.execute("SELECT count(*) FROM runs WHERE request_id = ? AND status = 'inProgress'", (request_id,)).fetchone()[0]
            if busy and origin != Origin.SCHEDULE:
                raise LimitReached("the request is already running; wait for its run to finish")
            run_id = self.insert_run(conn, request_id, origin, window, None, RunStatus.NOT_PROCESSED, now, override, run_at)
            self.record_audit("run", actor, "run", run_id, {"requestId": request_id, "origin": origin}, now)
        return self.get_run(run_id)

    def rerun_run(
        self, run_id: str, actor: str, *, once: bool = False, max_queued: int | None = None, now: datetime | None = None
    ) -> Run | None:
        """Queue a rerun of a done (or expired) run: origin `rerun`, the same interval, anchor and
        windows, `supersedes` set to it. It has no nominal time, so exactly-once never counts it and
        the interval's own run stays the interval's run. With `once` (the request's `rerunLate`),
        None when that interval already has a rerun; the check and the insert are one transaction,
        so two schedulers never both rerun it. A run not yet ended or failed is refused (LimitReached)."""
        run = self.get_run(run_id)
        if run.status == RunStatus.FAILED:
            raise LimitReached(f"run {run.id} failed; it wrote no file to correct: use runs retry")
        if run.status not in (RunStatus.DONE, RunStatus.EXPIRED):
            raise LimitReached(f"run {run.id} is {run.status}; only a done or expired run can be rerun")
        self.get_request(run.request_id)  # a deleted request's runs stay as they are
        now = now or utc_now()
        window = (run.window_from, run.window_to) if run.window_from is not None and run.window_to is not None else None
        with self.transaction() as conn:
            if (
                once
                and conn.execute(
                    "SELECT 1 FROM runs WHERE request_id = ? AND origin = ? AND window_from IS ? AND window_to IS ?",
                    (run.request_id, Origin.RERUN, run.window_from, run.window_to),
                ).fetchone()
            ):
                return None
            if max_queued is not None:
                self._check_queue(conn, self._owner_of(conn, run.request_id), max_queued)
            if conn.execute("SELECT 1 FROM runs WHERE request_id = ? AND status = 'inProgress'", (run.request_id,)).fetchone():
                raise LimitReached("the request is already running; wait for its run to finish")
            anchor = run.run_at if run.run_at is not None else run.nominal_time
            rerun_id = self.insert_run(
                conn, run.request_id, Origin.RERUN, window, None, RunStatus.NOT_PROCESSED, now, bool(run.window_override), anchor
            )
            conn.execute("UPDATE runs SET supersedes = ? WHERE id = ?", (run.id, rerun_id))
            self.record_audit("rerun", actor, "run", rerun_id, {"requestId": run.request_id, "supersedes": run.id}, now)
        return self.get_run(rerun_id)

    def claim_interval(
        self,
        request_id: str,
        nominal: float,
        window: tuple[float, float],
        holder: str,
        now: datetime | None = None,
        max_queued: int | None = None,
    ) -> Run | None:
        """Create and claim the scheduled run of one interval, in one transaction (see claim_interval_in)."""
        with self.transaction() as conn:
            run_id = self.claim_interval_in(conn, request_id, nominal, window, holder, now or utc_now(), max_queued)
        return None if run_id is None else self.get_run(run_id)

    def claim_interval_in(
        self,
        conn: sqlite3.Connection,
        request_id: str,
        nominal: float,
        window: tuple[float, float],
        holder: str,
        now: datetime,
        max_queued: int | None,
        origin: Origin = Origin.SCHEDULE,
    ) -> str | None:
        """Inside an open transaction: create the interval's run inProgress, claimed by `holder`.

        None when that interval already has a run (another scheduler got it first; the unique
        (request, nominal time) index backs this up), the queue is full (the interval waits), or
        the request is running now. `origin` is `schedule`, or `cli`/`tui` when `run ID` takes
        the interval before the scheduler does.
        """
        if max_queued is not None and self._queue_full(conn, self._owner_of(conn, request_id), max_queued):
            return None
        if conn.execute("SELECT 1 FROM runs WHERE request_id = ? AND nominal_time = ?", (request_id, nominal)).fetchone():
            return None
        if conn.execute("SELECT 1 FROM runs WHERE request_id = ? AND status = 'inProgress'", (request_id,)).fetchone():
            return None
        run_id = self.insert_run(conn, request_id, origin, window, nominal, RunStatus.IN_PROGRESS, now)
        conn.execute(
            "UPDATE runs SET started_at = ?, heartbeat_at = ?, claimed_by = ? WHERE id = ?", (iso(now), now.timestamp(), holder, run_id)
        )
        return run_id

    def claim_run(self, run_id: str, holder: str, now: datetime | None = None) -> Run | None:
        """Move a queued run to inProgress; None if someone else claimed it or its request is running."""
        now = now or utc_now()
        with self.transaction() as conn:
            row = conn.execute("SELECT request_id FROM runs WHERE id = ? AND status = 'notProcessed'", (run_id,)).fetchone()
            if not row:
                return None
            if conn.execute("SELECT 1 FROM runs WHERE request_id = ? AND status = 'inProgress'", (row[0],)).fetchone():
                return None
            conn.execute(
                "UPDATE runs SET status = 'inProgress', started_at = ?, heartbeat_at = ?, claimed_by = ?, progress = 0 WHERE id = ?",
                (iso(now), now.timestamp(), holder, run_id),
            )
        return self.get_run(run_id)

    def interval_run(self, request_id: str, nominal: float) -> Run | None:
        """The run of one interval (by its nominal time), if it has one."""
        rows = self.query("SELECT * FROM runs WHERE request_id = ? AND nominal_time = ?", (request_id, nominal))
        return self._to_run(rows[0]) if rows else None

    def interval_runs(self, request_id: str, first: float, last: float) -> dict[float, Run]:
        """Nominal time -> the run of that interval, for the intervals ending in [first, last]."""
        rows = self.query(
            "SELECT * FROM runs WHERE request_id = ? AND nominal_time BETWEEN ? AND ? ORDER BY created_at, rowid", (request_id, first, last)
        )
        found: dict[float, Run] = {}
        for r in rows:
            found.setdefault(r["nominal_time"], self._to_run(r))
        return found

    def queued_count(self, conn: sqlite3.Connection, request_id: str) -> int:
        """Inside an open transaction: the queued runs of the request's owner (what `limits.max_queued_runs` counts)."""
        return self._queued_of(conn, self._owner_of(conn, request_id))

    def running_run(self, request_id: str) -> Run | None:
        """The request's run in progress, if one is."""
        rows = self.query("SELECT * FROM runs WHERE request_id = ? AND status = 'inProgress' LIMIT 1", (request_id,))
        return self._to_run(rows[0]) if rows else None

    def open_runs(self, request_id: str) -> list[Run]:
        """The request's runs that have not ended: inProgress first, then queued ones oldest first."""
        rows = self.query(
            "SELECT * FROM runs WHERE request_id = ? AND status IN ('inProgress', 'notProcessed')"
            " ORDER BY status = 'notProcessed', created_at, rowid",
            (request_id,),
        )
        return [self._to_run(r) for r in rows]

    def queued_runs(self, now: datetime | None = None, limit: int = 50) -> list[Run]:
        ts = (now or utc_now()).timestamp()
        rows = self.query(
            "SELECT runs.* FROM runs JOIN requests ON requests.id = runs.request_id"
            " WHERE runs.status = 'notProcessed' AND requests.deleted_at IS NULL AND (runs.next_attempt_at IS NULL OR runs.next_attempt_at <= ?)"
            " ORDER BY runs.created_at, runs.rowid LIMIT ?",
            (ts, limit),
        )
        return [self._to_run(r) for r in rows]

    def last_starts(self) -> dict[str, float]:
        """Owner -> when a run of theirs last started (Unix seconds), for the fair queue."""
        rows = self.query(
            "SELECT requests.owner AS owner, max(runs.started_at) AS at FROM runs JOIN requests ON requests.id = runs.request_id"
            " WHERE runs.started_at IS NOT NULL GROUP BY requests.owner"
        )
        return {r["owner"]: unix_from_iso(r["at"]) for r in rows}

    def update_progress(self, run_id: str, progress: int, total: int | None, now: datetime | None = None) -> str | None:
        """Record a running run's progress; returns its pending cancel request, if any."""
        ts = (now or utc_now()).timestamp()
        with self.transaction() as conn:
            conn.execute(
                "UPDATE runs SET progress = ?, total = ?, heartbeat_at = ? WHERE id = ? AND status = 'inProgress'",
                (progress, total, ts, run_id),
            )
            row = conn.execute("SELECT cancel_requested FROM runs WHERE id = ?", (run_id,)).fetchone()
        return row[0] if row else None

    def set_item_windows(self, run_id: str, windows: list[tuple[float, float]]) -> None:
        """The items' data windows a run exports, as it starts."""
        with self.transaction() as conn:
            conn.execute("UPDATE runs SET item_windows = ? WHERE id = ?", (json.dumps([list(w) for w in windows]), run_id))

    def cancel_requested(self, run_id: str) -> str | None:
        """A running run's pending cancel request ("cancelled by <user>"), if any."""
        rows = self.query("SELECT cancel_requested FROM runs WHERE id = ?", (run_id,))
        return rows[0]["cancel_requested"] if rows else None

    def heartbeat(self, run_id: str, now: datetime | None = None) -> None:
        with self.transaction() as conn:
            conn.execute("UPDATE runs SET heartbeat_at = ? WHERE id = ?", ((now or utc_now()).timestamp(), run_id))

    def finish_run(
        self,
        run_id: str,
        status: RunStatus,
        *,
        rows: int | None = None,
        file_name: str | None = None,
        file_extension: str | None = None,
        file_path: str | None = None,
        error: str | None = None,
        progress: int | None = None,
        sha256: str | None = None,
        counts: list[dict[str, Any]] | None = None,
        now: datetime | None = None,
    ) -> Run:
        """End a run. `rows` counts the rows written; `progress`, the source readings processed
        (like `total`, readings, never rows); `counts`, each target's readings in its window as
        the export counted them, what the late-data check compares with."""
        if status not in (RunStatus.DONE, RunStatus.FAILED):
            raise ValueError("a run finishes done or failed")
        now = now or utc_now()
        counted = None if counts is None else json.dumps(counts)
        with self.transaction() as conn:
            conn.execute(
                "UPDATE runs SET status = ?, rows = ?, progress = coalesce(?, progress),"
                " file_name = ?, file_extension = ?, file_path = ?, error = ?, finished_at = ?, sha256 = ?,"
                " target_counts = ?, counted_at = ?, late_readings = ? WHERE id = ?",
                (
                    status,
                    rows,
                    progress,
                    file_name,
                    file_extension,
                    file_path,
                    error,
                    iso(now),
                    sha256,
                    counted,
                    None if counted is None else now.timestamp(),
                    None if counted is None else 0,
                    run_id,
                ),
            )
        return self.get_run(run_id)

    def requeue_run(self, run_id: str, error: str, next_attempt_at: float, now: datetime | None = None) -> Run:
        """A failed attempt that will be retried: back to notProcessed in the same row, attempt counting up."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE runs SET status = 'notProcessed', attempt = attempt + 1, error = ?, next_attempt_at = ?, progress = 0,"
                " started_at = NULL, heartbeat_at = NULL, claimed_by = NULL, finished_at = NULL, cancel_requested = NULL WHERE id = ?",
                (error, next_attempt_at, run_id),
            )
        return self.get_run(run_id)

    def stale_runs(self, older_than: float) -> list[Run]:
        """Runs inProgress whose heartbeat stopped before `older_than` (Unix seconds)."""
        rows = self.query("SELECT * FROM runs WHERE status = 'inProgress' AND coalesce(heartbeat_at, 0) < ?", (older_than,))
        return [self._to_run(r) for r in rows]

    def cancel_run(self, run_id: str, actor: str, now: datetime | None = None) -> Run:
        """A queued run ends failed "cancelled by <actor>" at once; a running one gets the cancel
        request, which its runner reads at its next progress step (then it ends the same way).
        A run that has ended is refused (LimitReached)."""
        run = self.get_run(run_id)
        now = now or utc_now()
        reason = f"cancelled by {actor}"
        with self.transaction() as conn:
            queued = conn.execute(
                "UPDATE runs SET status = 'failed', error = ?, finished_at = ? WHERE id = ? AND status = 'notProcessed'",
                (reason, iso(now), run.id),
            ).rowcount
            running = conn.execute(
                "UPDATE runs SET cancel_requested = coalesce(cancel_requested, ?) WHERE id = ? AND status = 'inProgress'", (reason, run.id)
            ).rowcount
            if not (queued or running):
                raise LimitReached(f"run {run.id} is {run.status}; only a queued or running run can be cancelled")
            self.record_audit("cancel", actor, "run", run.id, {"requestId": run.request_id, "running": bool(running)}, now)
        return self.get_run(run.id)

    def retry_run(self, run_id: str, actor: str, now: datetime | None = None) -> Run:
        run = self.get_run(run_id)
        if run.status not in (RunStatus.FAILED, RunStatus.EXPIRED):
            raise LimitReached(f"run {run.id} is {run.status}; only a failed or expired run can be retried")
        self.get_request(run.request_id)  # a deleted request's runs stay as they are
        now = now or utc_now()
        with self.transaction() as conn:
            conn.execute(
                "UPDATE runs SET status = 'notProcessed', attempt = attempt + 1, next_attempt_at = NULL, progress = 0, error = NULL,"
                " started_at = NULL, finished_at = NULL, heartbeat_at = NULL, claimed_by = NULL, cancel_requested = NULL,"
                " target_counts = NULL, counted_at = NULL, late_readings = NULL WHERE id = ?",
                (run.id,),
            )
            self.record_audit("retry", actor, "run", run.id, {"requestId": run.request_id}, now)
        return self.get_run(run.id)

    def get_run(self, run_id: str) -> Run:
        rows = self.query("SELECT * FROM runs WHERE id = ?", (run_id,))
        if (
            not rows and len(run_id) >= MIN_PREFIX and all(c in "0123456789abcdef-" for c in run_id.lower())
        ):  # a prefix, never a LIKE pattern
            rows = self.query("SELECT * FROM runs WHERE id LIKE ? || '%' LIMIT 2", (run_id.lower(),))
            if len(rows) > 1:
                raise NotFound(f"run id prefix '{run_id}' is ambiguous; give more characters")
        if not rows and len(run_id) < MIN_PREFIX:
            raise NotFound(too_short(run_id))
        if not rows:
            raise NotFound(f"no run with id '{run_id}'")
        return self._to_run(rows[0])

    @staticmethod
    def _to_run(row: dict) -> Run:
        run = Run(**{k: row[k] for k in _RUN_FIELDS})
        run.status, run.origin = RunStatus(run.status), Origin(run.origin)
        return run

    def list_runs(
        self,
        page: int = 1,
        page_size: int = 20,
        request_id: str | None = None,
        status: str | list[str] | None = None,
        *,
        owner: str | None = None,
    ) -> Page:
        """Runs, newest first; `owner` keeps the runs of that owner's requests."""
        where: list[str] = []
        params: list[Any] = []
        if request_id:
            where.append("request_id = ?")
            params.append(request_id)
        statuses = [status] if isinstance(status, str) else (status or [])
        if statuses:
            where.append(f"status IN ({', '.join('?' * len(statuses))})")
            params.extend(statuses)
        if owner is not None:
            where.append("request_id IN (SELECT id FROM requests WHERE owner = ?)")
            params.append(owner)
        clause = ("WHERE " + " AND ".join(where)) if where else ""
        total = self.query(f"SELECT count(*) AS n FROM runs {clause}", tuple(params))[0]["n"]
        rows = self.query(
            f"SELECT * FROM runs {clause} ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?",
            (*params, page_size, (page - 1) * page_size),
        )
        return Page([self._to_run(r) for r in rows], page, page_size, total)

    def runs_done_before(self, before: float) -> list[Run]:
        """Done runs finished before `before` (Unix seconds): the retention candidates."""
        rows = self.query("SELECT * FROM runs WHERE status = 'done' AND finished_at < ?", (iso_from_unix(before),))
        return [self._to_run(r) for r in rows]

    def done_runs_oldest_first(self) -> list[Run]:
        """Done runs, the longest finished first: the disk budget's candidates."""
        rows = self.query("SELECT * FROM runs WHERE status = 'done' ORDER BY finished_at, rowid")
        return [self._to_run(r) for r in rows]

    def late_check_due(self, counted_before: float, ended_after: float, limit: int = 100) -> list[Run]:
        """Done runs of live requests to count again: counted at or before `counted_before`, interval
        ended after `ended_after` (Unix seconds), not yet superseded by a done rerun; the
        longest uncounted first."""
        rows = self.query(
            "SELECT runs.* FROM runs JOIN requests ON requests.id = runs.request_id"
            " WHERE runs.status = 'done' AND requests.deleted_at IS NULL AND runs.target_counts IS NOT NULL"
            " AND runs.counted_at <= ? AND runs.window_to > ?"
            " AND NOT EXISTS (SELECT 1 FROM runs AS r WHERE r.supersedes = runs.id AND r.status = 'done')"
            " ORDER BY runs.counted_at, runs.rowid LIMIT ?",
            (counted_before, ended_after, limit),
        )
        return [self._to_run(r) for r in rows]

    def take_late_check(self, run_id: str, counted_at: float, now: float) -> bool:
        """Claim one late check of a run (its `counted_at` moves to `now`); True for the one
        scheduler whose write did it, so a run is counted once per `late_check_every`."""
        with self.transaction() as conn:
            changed = conn.execute(
                "UPDATE runs SET counted_at = ? WHERE id = ? AND counted_at = ? AND status = 'done'", (now, run_id, counted_at)
            ).rowcount
        return changed == 1

    def record_late(self, run_id: str, late: int) -> bool:
        """How many readings arrived after the export; True when that is more than was known."""
        with self.transaction() as conn:
            changed = conn.execute(
                "UPDATE runs SET late_readings = ? WHERE id = ? AND coalesce(late_readings, 0) < ?", (late, run_id, late)
            ).rowcount
        return changed == 1

    def log_run(self, run_id: str, level: str, message: str, now: datetime | None = None) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO run_log (run_id, at, level, message) VALUES (?, ?, ?, ?)", (run_id, iso(now or utc_now()), level, message)
            )

    def run_log_since(self, after_id: int, owner: str | None = None, limit: int = 200) -> list[dict]:
        """Log entries of every process's runs after `after_id`, oldest first, with each run's request and progress."""
        mine = "" if owner is None else " AND q.owner = ?"
        return self.query(
            "SELECT l.id, l.run_id, l.at, l.level, l.message, r.request_id, r.status, r.progress, r.total"
            " FROM run_log l JOIN runs r ON r.id = l.run_id JOIN requests q ON q.id = r.request_id"
            f" WHERE l.id > ?{mine} ORDER BY l.id LIMIT ?",
            (after_id, *(() if owner is None else (owner,)), limit),
        )

    def ping(self) -> None:
        """Read the requests table once: a StoreError when the database cannot answer."""
        self.query("SELECT count(*) FROM requests")

    def last_run_log_id(self) -> int:
        """The newest log entry's id (0 when there is none): where a new event stream starts."""
        return int(self.query("SELECT coalesce(max(id), 0) AS n FROM run_log")[0]["n"])

    def running_progress(self, owner: str | None = None) -> list[dict]:
        """Every running run's progress (of every process), with its request and the time of its last update."""
        mine = "" if owner is None else " AND q.owner = ?"
        return self.query(
            "SELECT r.id AS run_id, r.request_id, r.progress, r.total, r.heartbeat_at FROM runs r"
            f" JOIN requests q ON q.id = r.request_id WHERE r.status = 'inProgress'{mine} ORDER BY r.id",
            () if owner is None else (owner,),
        )

    def run_figures(self) -> dict[str, Any]:
        """What /metrics shows: runs per status, done runs' durations, failed notifications."""
        by_status = {r["status"]: r["n"] for r in self.query("SELECT status, count(*) AS n FROM runs GROUP BY status")}
        durations = [
            r["s"]
            for r in self.query(
                "SELECT (julianday(finished_at) - julianday(started_at)) * 86400.0 AS s FROM runs"
                " WHERE status IN ('done', 'expired') AND started_at IS NOT NULL AND finished_at IS NOT NULL"
            )
            if r["s"] is not None
        ]
        failures = self.query("SELECT count(*) AS n FROM notifications WHERE status = 'failed'")[0]["n"]
        return {"by_status": by_status, "durations": durations, "notification_failures": failures}

    def run_log(self, run_id: str) -> list[dict]:
        return self.query("SELECT at, level, message FROM run_log WHERE run_id = ? ORDER BY id", (run_id,))

    def record_notification(
        self, run_id: str, request_id: str, medium: str, target: str, policy: str, status: str, attempts: int, error: str | None, at: str
    ) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO notifications (run_id, request_id, medium, target, policy, status, attempts, error, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, request_id, medium, target, policy, status, attempts, error, at),
            )

    def notifications(self, run_id: str) -> list[dict]:
        return self.query(
            "SELECT medium, target, policy, status, attempts, error, at FROM notifications WHERE run_id = ? ORDER BY id", (run_id,)
        )

    # -- the scheduler's ledger (scheduler/ledger.py says what these mean) ----------------
    def newest_nominal_time(self, request_id: str) -> float | None:
        """The newest scheduled instant among the request's runs, or None when it has none."""
        return self.query("SELECT max(nominal_time) AS t FROM runs WHERE request_id = ?", (request_id,))[0]["t"]

    def newest_skip_through(self, request_id: str) -> float | None:
        """The `through` of the request's newest skip event, or None when nothing was skipped."""
        return self.query(
            "SELECT max(json_extract(detail, '$.through')) AS t FROM audit WHERE entity_id = ? AND action = 'exporter:exports:skip'",
            (request_id,),
        )[0]["t"]

    def last_pause(self, request_id: str) -> tuple[str, str] | None:
        """(paused at, resumed at) stamps of the request's latest pause, once it has been resumed."""
        rows = self.query(
            "SELECT action, at FROM audit WHERE entity_id = ? AND action IN ('exporter:exports:pause', 'exporter:exports:resume')"
            " ORDER BY id DESC LIMIT 2",
            (request_id,),
        )
        if len(rows) == 2 and rows[0]["action"].endswith(":resume") and rows[1]["action"].endswith(":pause"):
            return rows[1]["at"], rows[0]["at"]
        return None

    def fail_stale_run(self, run_id: str, older_than: float, now: datetime) -> bool:
        """Fail the run "interrupted" if it is still inProgress with no heartbeat since `older_than`;
        True for the one caller whose write did it."""
        with self.transaction() as conn:
            changed = conn.execute(
                "UPDATE runs SET status = 'failed', error = 'interrupted', finished_at = ?"
                " WHERE id = ? AND status = 'inProgress' AND coalesce(heartbeat_at, 0) < ?",
                (iso(now), run_id, older_than),
            ).rowcount
        return changed == 1

    def expire_done_run(self, run_id: str, now: datetime) -> bool:
        """Mark a done run expired, with its audit event; True for the one caller whose write did it."""
        with self.transaction() as conn:
            changed = conn.execute("UPDATE runs SET status = 'expired' WHERE id = ? AND status = 'done'", (run_id,)).rowcount
            if changed:
                self.record_audit("expire", "retention", "run", run_id, {}, now)
        return changed == 1

    def change_marker(self) -> tuple[Any, ...]:
        """Cheap facts that change whenever requests or runs do, whoever changed them."""
        with self._lock:
            audit = self.conn.execute("SELECT coalesce(max(id), 0) FROM audit").fetchone()
            runs = self.conn.execute(
                "SELECT count(*), max(finished_at), sum(status = 'inProgress'), sum(status = 'notProcessed'),"
                " max(heartbeat_at), sum(progress) FROM runs"
            ).fetchone()
        return (*audit, *runs)

    # -- scheduler lease -----------------------------------------------------------------
    def acquire_lease(self, name: str, holder: str, ttl: float, now: float | None = None) -> bool:
        """Take or renew a named lease; False when another live holder has it."""
        ts = time.time() if now is None else now
        with self.transaction() as conn:
            row = conn.execute("SELECT holder, expires_at FROM scheduler_lease WHERE name = ?", (name,)).fetchone()
            if row and row[0] != holder and row[1] > ts:
                return False
            conn.execute(
                "INSERT INTO scheduler_lease (name, holder, expires_at, pid, host) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at, pid = excluded.pid, host = excluded.host",
                (name, holder, ts + ttl, os.getpid(), os.uname().nodename),
            )
        return True

    def lease_holder(self, name: str, now: float | None = None) -> dict | None:
        ts = time.time() if now is None else now
        rows = self.query("SELECT * FROM scheduler_lease WHERE name = ? AND expires_at > ?", (name, ts))
        return rows[0] if rows else None

    def release_lease(self, name: str, holder: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM scheduler_lease WHERE name = ? AND holder = ?", (name, holder))
