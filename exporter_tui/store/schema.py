"""The database schema and its forward migrations, counted by `PRAGMA user_version`."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING

from exporter_tui.core.models import ExportRequest
from exporter_tui.core.schedule import item_windows

if TYPE_CHECKING:  # sqlite-utils imports pandas; only a migration needs it, not every open
    import sqlite_utils


def _v1(db: sqlite_utils.Database) -> None:
    db.table("requests").create(
        {
            "id": str,
            "name": str,
            "type": str,
            "extension": str,
            "targets": str,
            "periodicity": str,
            "period_start": float,
            "owner": str,
            "body": str,
            "paused": int,
            "created_at": str,
            "updated_at": str,
            "deleted_at": str,
        },
        pk="id",
        not_null={"type", "extension", "body", "owner", "created_at", "updated_at"},
        defaults={"paused": 0},
    )
    db.table("requests").create_index(["deleted_at", "created_at"])
    db.table("requests").create_index(["type"])
    db.table("runs").create(
        {
            "id": str,
            "request_id": str,
            "status": str,
            "origin": str,
            "attempt": int,
            "nominal_time": float,
            "run_at": float,
            "window_from": float,
            "window_to": float,
            "window_override": int,
            "progress": int,
            "total": int,
            "rows": int,
            "file_name": str,
            "file_extension": str,
            "file_path": str,
            "created_at": str,
            "started_at": str,
            "finished_at": str,
            "heartbeat_at": float,
            "next_attempt_at": float,
            "claimed_by": str,
            "error": str,
        },
        pk="id",
        not_null={"request_id", "status", "origin", "attempt", "created_at"},
        defaults={"attempt": 1, "progress": 0},
        foreign_keys=[("request_id", "requests", "id")],
    )
    # Exactly once: one run per (request, nominal time). Manual runs have no nominal time,
    # and SQLite lets NULLs repeat in a unique index, so they are never deduplicated.
    db.table("runs").create_index(["request_id", "nominal_time"], unique=True, index_name="runs_request_nominal")
    db.table("runs").create_index(["status", "created_at"])
    db.table("runs").create_index(["request_id", "created_at"])
    db.table("run_log").create(
        {"id": int, "run_id": str, "at": str, "level": str, "message": str},
        pk="id",
        foreign_keys=[("run_id", "runs", "id")],
    )
    db.table("run_log").create_index(["run_id", "id"])
    db.table("notifications").create(
        {
            "id": int,
            "run_id": str,
            "request_id": str,
            "medium": str,
            "target": str,
            "policy": str,
            "status": str,
            "attempts": int,
            "error": str,
            "at": str,
        },
        pk="id",
    )
    db.table("notifications").create_index(["run_id"])
    db.table("audit").create(
        {"id": int, "action": str, "actor": str, "entity": str, "entity_id": str, "at": str, "detail": str},
        pk="id",
    )
    db.table("audit").create_index(["entity_id"])
    db.table("scheduler_lease").create({"name": str, "holder": str, "expires_at": float, "pid": int, "host": str}, pk="name")


def _v2(db: sqlite_utils.Database) -> None:
    """A cancel request on a running run ("cancelled by <user>"); its runner, in any process,
    reads it at each progress step and stops."""
    db.table("runs").add_column("cancel_requested", str)


def _v3(db: sqlite_utils.Database) -> None:
    """Each item's data window of a run (JSON [[from, to], ...]), what its `window` and `windows` show;
    filled in for the runs already stored."""
    db.table("runs").add_column("item_windows", str)
    bodies = {r["id"]: r["body"] for r in db.query("SELECT id, body FROM requests")}
    for run in list(db.query("SELECT id, request_id, run_at, window_from, window_to, window_override FROM runs")):
        found = windows_json(bodies.get(run["request_id"]), run["run_at"], run["window_from"], run["window_to"], run["window_override"])
        db.execute("UPDATE runs SET item_windows = ? WHERE id = ?", (found, run["id"]))


def _v4(db: sqlite_utils.Database) -> None:
    """Whether a run sends the request's messages: NULL as before (it does), 0 for a backfill run
    queued without --notify, so whichever process runs it honours that."""
    db.table("runs").add_column("notify", int)


def _v5(db: sqlite_utils.Database) -> None:
    """The late-data check: the readings each target had in its window when the run exported
    (`target_counts`, JSON), when they were last counted (`counted_at`), how many arrived after the
    export (`late_readings`), the file's digest (`sha256`) and, for a rerun, the run it corrects
    (`supersedes`). Runs stored before have no counts and are never re-counted."""
    runs = db.table("runs")
    for column, kind in (("target_counts", str), ("counted_at", float), ("late_readings", int), ("sha256", str), ("supersedes", str)):
        runs.add_column(column, kind)
    runs.create_index(["status", "counted_at"])  # the runs due for a late check, every tick
    runs.create_index(["supersedes"])


def windows_json(body: str | None, run_at: float | None, start: float | None, end: float | None, override: int | None) -> str | None:
    """The `item_windows` of a run of the request with this stored body; None when it cannot be told."""
    interval = (start, end) if start is not None and end is not None else None
    anchor = run_at if run_at is not None else end
    if body is None or anchor is None:
        return None
    try:
        found = item_windows(ExportRequest.model_validate(json.loads(body)), anchor, interval, bool(override))
    except ValueError:  # a body this version cannot read: the run shows its interval
        return None
    return json.dumps([list(w) for w in found])


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_v1, _v2, _v3, _v4, _v5]
SCHEMA_VERSION = len(MIGRATIONS)


def current_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to SCHEMA_VERSION, one migration per transaction. Returns the version found."""
    found = current_version(conn)
    if found >= SCHEMA_VERSION:
        return found
    import sqlite_utils

    db = sqlite_utils.Database(conn)
    for version in range(found, SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            if current_version(conn) == version:  # another process may have migrated meanwhile
                MIGRATIONS[version](db)
                conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return found
