"""A run long enough to stop midway, and how its tests read what became of it: shared by the
signal tests (real `exporter-tui run` processes) and the TUI's cancel tests.

The source holds one target with a reading a second from START; a oneTime request over all of
it reads it in chunks of 100,000, one progress step each. What a test asserts is read from the
database (a read-only connection beside the running process) and the exports folder.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
from sched_fixtures import CHANNEL, SUBTOPIC, TARGET, utc

from exporter_tui.context import Context
from exporter_tui.sources.embedded import ReadingsWriter

START = utc(2026, 3, 2)


def write_source(path: Path, readings: int) -> Path:
    """An embedded source at `path` with `readings` readings of TARGET, one a second from START."""
    times = START.timestamp() + np.arange(readings, dtype=np.float64)
    with ReadingsWriter(path, bulk=True) as w:
        w.write_target(CHANNEL, SUBTOPIC, TARGET, times, value=np.arange(readings, dtype=np.float64), unit="Cel")
    return path


def run_row(ctx: Context, request_id: str) -> dict[str, Any]:
    """The request's one run, as the database has it now."""
    con = sqlite3.connect(f"file:{ctx.paths.database}?mode=ro", uri=True, timeout=30)
    con.row_factory = sqlite3.Row
    try:
        rows = [dict(r) for r in con.execute("SELECT * FROM runs WHERE request_id = ?", (request_id,))]
    finally:
        con.close()
    assert len(rows) == 1, rows
    return rows[0]


def files_left(ctx: Context) -> list[Path]:
    """Every file in the exports folder (a cancelled or interrupted run leaves none)."""
    return [p for p in ctx.paths.exports_dir.rglob("*") if p.is_file()]
