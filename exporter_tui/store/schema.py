"""The database schema and its forward migrations, counted by `PRAGMA user_version`."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

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
    db["runs"].add_column("cancel_requested", str)


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_v1, _v2]
SCHEMA_VERSION = len(MIGRATIONS)


def current_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to SCHEMA_VERSION, one migration per transaction. Returns the version found."""
    found = current_version(conn)
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
