"""A source file in the row layout of earlier versions is converted to series in chunks, losing
nothing, even when the conversion or a seal is killed half-way."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from exporter_tui.sources.base import READING_COLUMNS, ReadQuery
from exporter_tui.sources.embedded import SCHEMA_VERSION, EmbeddedSource, ReadingsWriter
from exporter_tui.sources.embedded.migrate import backup_path, migrate

pytestmark = pytest.mark.timeout(120)

DAY = 86_400.0
T0 = 20_000 * DAY
# The row layout (schema 1) as earlier versions created it.
ROW_SCHEMA = (
    """CREATE TABLE messages (channel TEXT NOT NULL, subtopic TEXT NOT NULL DEFAULT '', publisher TEXT NOT NULL DEFAULT '',
    protocol TEXT, name TEXT NOT NULL, unit TEXT, time REAL NOT NULL, value REAL, string_value TEXT, bool_value INTEGER,
    data_value TEXT, sum REAL, update_time REAL, PRIMARY KEY (channel, subtopic, name, time, publisher)) WITHOUT ROWID""",
    """CREATE TABLE targets (channel TEXT NOT NULL, subtopic TEXT NOT NULL, name TEXT NOT NULL, unit TEXT,
    first_time REAL NOT NULL, last_time REAL NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (channel, subtopic, name)) WITHOUT ROWID""",
)


def row_file(path: Path, rows: list[tuple[Any, ...]]) -> None:
    """A schema-1 source holding `rows` (tuples in READING_COLUMNS order), its targets summary right."""
    conn = sqlite3.connect(path)
    for statement in ROW_SCHEMA:
        conn.execute(statement)
    conn.executemany(f"INSERT INTO messages ({', '.join(READING_COLUMNS)}) VALUES ({', '.join('?' * len(READING_COLUMNS))})", rows)
    conn.execute(
        "INSERT INTO targets SELECT channel, subtopic, name,"
        " (SELECT unit FROM messages m WHERE m.channel = t.channel AND m.subtopic = t.subtopic AND m.name = t.name ORDER BY time DESC LIMIT 1),"
        " min(time), max(time), count(*) FROM messages t GROUP BY channel, subtopic, name"
    )
    conn.execute("PRAGMA user_version = 1")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.commit()
    conn.close()


def sample_rows(n: int) -> list[tuple[Any, ...]]:
    rng = np.random.default_rng(3)
    rows = []
    for i in range(n):
        t = T0 + i * 37.5 + rng.random()  # about 2,300 a day over several days
        name = ("t", "door", "kwh")[i % 3]
        if name == "t":
            rows.append(("c", "s", f"p{i % 2}", "mqtt", name, "Cel", t, float(rng.normal()), None, None, None, None, None))
        elif name == "door":
            rows.append(("c", "", "", None, name, None, t, None, ("open", "shut")[i % 2], i % 2, '{"a": 1}', None, None))
        else:
            rows.append(("c", "s", "p0", "coap", name, "kWh", t, float(i), None, None, None, 0.1 * i, t + 0.5))
    return rows


def stored_rows(path: Path) -> list[tuple[Any, ...]]:
    """Every reading through the source, as row tuples in READING_COLUMNS order."""
    out = []
    with EmbeddedSource(path) as source:
        for t in source.targets():
            for frame in source.read(ReadQuery(t.channel, t.subtopic, t.name, -1e12, 1e12)):
                frame = frame.astype(object).where(frame.notna(), None)
                for r in frame.itertuples(index=False, name=None):
                    out.append(tuple(int(v) if isinstance(v, (bool, np.bool_)) else v for v in r))
    return out


def key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    c = dict(zip(READING_COLUMNS, row))
    return (c["channel"], c["subtopic"], c["name"], c["time"], c["publisher"])


def version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


def integrity(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def test_opening_a_row_layout_file_converts_it_and_keeps_every_reading_exactly(tmp_path: Path) -> None:
    db = tmp_path / "source.db"
    rows = sample_rows(9_000)
    row_file(db, rows)
    got = stored_rows(db)  # the first open converts
    assert version(db) == SCHEMA_VERSION and integrity(db) == "ok"
    assert sorted(got, key=key) == sorted(rows, key=key)
    floats = [i for i, c in enumerate(READING_COLUMNS) if c in ("time", "value", "sum", "update_time")]
    for a, b in zip(sorted(got, key=key), sorted(rows, key=key)):
        for i in floats:
            assert (a[i] is None and b[i] is None) or np.float64(a[i]).tobytes() == np.float64(b[i]).tobytes()
    assert not backup_path(db).exists()
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"series", "chunks", "head"}
    assert migrate(db) == 0  # a converted file is left alone


_KILLER = """
import os, signal, sys
from pathlib import Path
from exporter_tui.sources.embedded import codec, migrate, writer

mode, path = sys.argv[1], Path(sys.argv[2])
calls = [0]
real = codec.encode

def encode_then_die(*args, **kwargs):
    calls[0] += 1
    if calls[0] == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(*args, **kwargs)

codec.encode = encode_then_die
if mode == "migrate":
    migrate.migrate(path)
else:
    with writer.ReadingsWriter(path, now=float(sys.argv[3])) as w:
        w.seal()
"""


def run_killed(*args: str) -> None:
    done = subprocess.run([sys.executable, "-c", _KILLER, *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == -signal.SIGKILL, done.stderr


def test_a_conversion_killed_half_way_loses_nothing_and_is_done_on_the_next_open(tmp_path: Path) -> None:
    db = tmp_path / "source.db"
    rows = sample_rows(9_000)
    row_file(db, rows)
    run_killed("migrate", str(db))
    assert version(db) == 1 and integrity(db) == "ok"
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == len(rows)
    assert backup_path(db).exists()  # kept until a conversion succeeds
    assert sorted(stored_rows(db), key=key) == sorted(rows, key=key)
    assert version(db) == SCHEMA_VERSION and not backup_path(db).exists()


def test_a_seal_killed_half_way_loses_no_reading(tmp_path: Path) -> None:
    db = tmp_path / "source.db"
    now = T0 + 3600
    with ReadingsWriter(db, now=now) as w:  # today's readings of five series: all in the head
        w.write([{"channel": "c", "name": f"n{i % 5}", "time": T0 + i, "value": float(i)} for i in range(500)])
    before = stored_rows(db)
    run_killed("seal", str(db), str(now))
    assert integrity(db) == "ok"
    assert stored_rows(db) == before
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM head").fetchone()[0] == 500  # the seal's transaction never committed
    with ReadingsWriter(db, now=now) as w:
        assert w.seal() == 500
    assert stored_rows(db) == before


def test_migrate_reports_progress_to_the_end(tmp_path: Path) -> None:
    db = tmp_path / "source.db"
    row_file(db, sample_rows(600))
    seen: list[tuple[int, int]] = []
    assert migrate(db, lambda done, total: seen.append((done, total))) == 600
    assert seen[-1] == (600, 600)
