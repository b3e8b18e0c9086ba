"""The source file's tables, and opening it.

- `series`: one row per (channel, subtopic, name, publisher), with the series' first and
  last time, reading count and the unit of its newest reading, kept right by every write in
  the same transaction: `targets()` and most counts never look at a reading.
- `chunks`: a series' readings of one UTC day as arrays (codec.py), keyed (series, day).
  A rowid table: its rows run to hundreds of KiB, far past what a WITHOUT ROWID table wants.
- `head`: readings not sealed yet, one row each, keyed (series, time). Only today's small
  writes wait here (writer.py says when they are sealed); a reading is in the head or in
  a chunk, never both, so a read takes the union and a count the sum.

A reading's identity is its series and time, as the Mainflux readers' uniqueness (time,
publisher, subtopic, name within a channel): writing it again replaces it. An absent
subtopic or publisher is the empty string. The file is in WAL mode, so the app reads while
a writer (demo, ingest) writes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from pathlib import Path

from exporter_tui.sources.base import SourceError

SCHEMA_VERSION = 2
ROW_LAYOUT_VERSION = 1  # one row per reading (migrate.py converts it)
PAGE_SIZE = 16384
BUSY_TIMEOUT_S = 10.0
DAY = 86_400

SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS series (
        id         INTEGER PRIMARY KEY,
        channel    TEXT NOT NULL,
        subtopic   TEXT NOT NULL,
        name       TEXT NOT NULL,
        publisher  TEXT NOT NULL,
        unit       TEXT,
        first_time REAL,
        last_time  REAL,
        count      INTEGER NOT NULL DEFAULT 0,
        UNIQUE (channel, subtopic, name, publisher)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS chunks (
        series     INTEGER NOT NULL REFERENCES series (id),
        day        INTEGER NOT NULL,
        first_time REAL NOT NULL,
        last_time  REAL NOT NULL,
        count      INTEGER NOT NULL,
        vmin       REAL,
        vmax       REAL,
        codec      INTEGER NOT NULL,
        meta       TEXT NOT NULL,
        times      BLOB NOT NULL,
        vals       BLOB,
        extra      BLOB,
        PRIMARY KEY (series, day)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS head (
        series       INTEGER NOT NULL REFERENCES series (id),
        time         REAL NOT NULL,
        protocol     TEXT,
        unit         TEXT,
        value        REAL,
        string_value TEXT,
        bool_value   INTEGER,
        data_value   TEXT,
        sum          REAL,
        update_time  REAL,
        PRIMARY KEY (series, time)
    ) WITHOUT ROWID
    """,
)
TABLES = frozenset({"series", "chunks", "head"})
ROW_TABLES = frozenset({"messages", "targets"})
# The head's reading columns, in its table order.
HEAD_FIELDS = ("protocol", "unit", "value", "string_value", "bool_value", "data_value", "sum", "update_time")


# SQLite's names for a write the disk refused: a full disk is SQLITE_FULL, but a file over the
# process's size limit (EFBIG) or a failing device is only an I/O error.
_WRITE_REFUSED = frozenset({"SQLITE_FULL", "SQLITE_IOERR_WRITE", "SQLITE_IOERR_FSYNC", "SQLITE_IOERR_TRUNCATE", "SQLITE_IOERR_SHMSIZE"})


def fail(path: Path, what: str, err: BaseException) -> SourceError:
    return SourceError(f"source database {path}: {what}: {err}{_write_refused(path, err)}")


def _write_refused(path: Path, err: BaseException) -> str:
    """What may have refused the write, since SQLite's own words ("disk I/O error") do not say;
    the transaction rolled back, so nothing of it was stored."""
    if getattr(err, "sqlite_errorname", None) not in _WRITE_REFUSED:
        return ""
    hints = []
    with contextlib.suppress(OSError):
        hints.append(f"{shutil.disk_usage(path.parent).free / 2**20:.0f} MiB free on its disk")
    with contextlib.suppress(ImportError, OSError):
        import resource

        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        if limit != resource.RLIM_INFINITY:
            hints.append(f"this process may write files of at most {limit} bytes (ulimit -f)")
    return f" ({'; '.join(hints)}); nothing of this write was stored" if hints else "; nothing of this write was stored"


def connect_rw(path: Path) -> sqlite3.Connection:
    """A read-write connection with transactions under explicit BEGIN/COMMIT control.

    A new file is created readable by its owner only, whatever the umask: readings may be
    as private as the exports made from them. Of two processes creating it at once, one
    creates it and the other opens what it created."""
    if not path.exists():
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600))
            os.chmod(path, 0o600)
    return sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)


def inspect(conn: sqlite3.Connection) -> tuple[int, set[str]]:
    """(user_version, table names) of an open source file."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return int(version), tables


def refuse_unknown(path: Path, version: int, tables: set[str]) -> None:
    """SourceError unless the file is a source of a layout this program knows (or empty)."""
    if version > SCHEMA_VERSION:
        raise SourceError(f"source database {path} has schema version {version}; this program knows up to {SCHEMA_VERSION}")
    known = TABLES if version == SCHEMA_VERSION else ROW_TABLES if version == ROW_LAYOUT_VERSION else frozenset()
    if version and not known <= tables or tables - known - TABLES - ROW_TABLES:
        raise SourceError(
            f"source database {path} is not an exporter-tui source (schema version {version}, tables: {', '.join(sorted(tables)) or 'none'})"
        )


def ensure_schema(path: Path) -> None:
    """Create the file, tables and WAL mode if needed (converting a file in the row layout,
    see migrate.py); refuse a file that is not a source."""
    from exporter_tui.sources.embedded.migrate import migrate

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        conn = connect_rw(path)
    except sqlite3.Error as e:
        raise fail(path, "cannot be opened", e) from None
    try:
        conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # takes effect only while the file is empty
        conn.execute("BEGIN IMMEDIATE")
        version, tables = inspect(conn)
        refuse_unknown(path, version, tables)
        if version == 0:
            for statement in SCHEMA:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode = WAL")
    except sqlite3.Error as e:
        raise fail(path, "cannot be prepared", e) from None
    finally:
        conn.close()
    if version == ROW_LAYOUT_VERSION:
        migrate(path)


def vacuum(path: Path) -> bool:
    """Rebuild the file without its free pages (after a conversion or a seal); False when a
    reader kept it busy, which leaves the file whole, only bigger than it needs to be."""
    try:
        with contextlib.closing(connect_rw(path)) as conn:
            conn.execute("PRAGMA busy_timeout = 0")
            conn.execute("VACUUM")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.Error:
        return False
    return True
