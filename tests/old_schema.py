"""A database as an older version stored it, for the tests of the migrations."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils

from exporter_tui.store.schema import MIGRATIONS


def downgrade(path: Path, version: int) -> None:
    """Drop the indexes and columns the migrations after `version` added and set the schema version to it."""
    old = sqlite_utils.Database(sqlite3.connect(":memory:"))
    for migration in MIGRATIONS[:version]:
        migration(old)
    con = sqlite3.connect(path)
    kept_indexes = {i.name for table in old.table_names() for i in old[table].indexes}
    for (index,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL").fetchall():
        if index not in kept_indexes:
            con.execute(f"DROP INDEX {index}")
    for table in old.table_names():
        kept = set(old[table].columns_dict)
        for column in [row[1] for row in con.execute(f"PRAGMA table_info({table})")]:
            if column not in kept:
                con.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    con.execute(f"PRAGMA user_version = {version}")
    con.commit()
    con.close()
