"""Converting a source file from the row layout (schema 1: a `messages` table, one row per
reading) to series in chunks (schema 2), in place.

First a copy of the file is taken with SQLite's backup API (`<name>.row-layout.bak` beside
it); then one write transaction creates the new tables, moves every target's readings into
chunks, drops the old tables and sets the schema version. A crash anywhere before the
commit leaves the file exactly as it was (the transaction rolls back when the file is next
opened), and the next open converts it again; the backup is deleted only once the commit
is done and the file has been vacuumed down to its new size.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import numpy as np

from exporter_tui.sources.base import SourceError
from exporter_tui.sources.embedded.layout import ROW_LAYOUT_VERSION, SCHEMA, SCHEMA_VERSION, connect_rw, fail, inspect, vacuum
from exporter_tui.sources.embedded.writer import ReadingsWriter

_BATCH = 200_000  # old rows fetched at a time
_COLUMNS = ("publisher", "protocol", "unit", "time", "value", "string_value", "bool_value", "data_value", "sum", "update_time")

Progress = Callable[[int, int], None]


def backup_path(path: Path) -> Path:
    return path.with_name(path.name + ".row-layout.bak")


def migrate(path: Path, progress: Progress | None = None, codec: str = "none") -> int:
    """Convert the file if it is in the row layout; returns how many readings were moved (0: nothing to do).
    `progress(done, total)` hears of each batch; `codec` packs the chunks (see ReadingsWriter)."""
    path = Path(path)
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=10)) as conn:
            if inspect(conn)[0] != ROW_LAYOUT_VERSION:
                return 0
            with contextlib.closing(sqlite3.connect(backup_path(path))) as copy:
                conn.backup(copy)
    except sqlite3.Error as e:
        raise SourceError(
            f"source database {path} is in the row layout of earlier versions and cannot be converted to series in chunks: {e}"
            " (run `exporter-tui sources migrate` with write access to it)"
        ) from None
    backup_path(path).chmod(0o600)
    with _Migration(path, codec) as migration:
        moved = migration.move(progress)
    vacuum(path)  # the old table's pages back to the file system
    backup_path(path).unlink(missing_ok=True)
    return moved


class _Migration(ReadingsWriter):
    """A writer whose transaction also holds the old tables' removal and the version change."""

    def __init__(self, path: Path, codec: str) -> None:
        super().__init__(path, bulk=True, now=float(2**53), codec=codec)  # every day is over: everything goes into chunks
        self.converting = False

    def __enter__(self) -> _Migration:
        try:
            conn = connect_rw(self.path)
            conn.execute("PRAGMA cache_size = -65536")
            conn.execute("BEGIN IMMEDIATE")
            self.converting = inspect(conn)[0] == ROW_LAYOUT_VERSION  # another process may have converted it meanwhile
            if self.converting:
                for statement in SCHEMA:
                    conn.execute(statement)
        except sqlite3.Error as e:
            raise fail(self.path, "cannot be converted", e) from None
        self._conn = conn
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc_type is None and self.converting:
            self.flush()
            self._exec("DROP TABLE messages", ())
            self._exec("DROP TABLE targets", ())
            self._exec(f"PRAGMA user_version = {SCHEMA_VERSION}", ())
        super().__exit__(exc_type, exc, tb)

    def move(self, progress: Progress | None) -> int:
        if not self.converting:
            return 0
        targets = self._all("SELECT channel, subtopic, name, count FROM targets ORDER BY channel, subtopic, name", ())
        total = sum(int(t[3]) for t in targets)
        done = 0
        conn = self._require()
        for channel, subtopic, name, _ in targets:
            try:
                cursor = conn.execute(
                    f"SELECT {', '.join(_COLUMNS)} FROM messages WHERE channel = ? AND subtopic = ? AND name = ? ORDER BY time, publisher",
                    (channel, subtopic, name),
                )
                while rows := cursor.fetchmany(_BATCH):
                    done += self._move_rows(channel, subtopic, name, rows)
                    if progress is not None:
                        progress(done, total)
            except sqlite3.Error as e:
                raise fail(self.path, "cannot be converted", e) from None
        return done

    def _move_rows(self, channel: str, subtopic: str, name: str, rows: list[tuple]) -> int:
        cols = dict(zip(_COLUMNS, zip(*rows)))  # write_target takes each column as a sequence of its values
        times = np.array(cols.pop("time"), dtype=np.float64)
        return self.write_target(channel, subtopic, name, times, **cols)
