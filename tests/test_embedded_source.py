"""EmbeddedSource over real SQLite files in tmp_path."""

from __future__ import annotations

import hashlib
import random
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from exporter_tui.sources.base import READING_COLUMNS, READING_DTYPES, ReadQuery, SourceError, TargetInfo
from exporter_tui.sources.embedded import SCHEMA_VERSION, EmbeddedSource, ReadingsWriter, ensure_schema, write_readings

pytestmark = pytest.mark.timeout(60)

CH = "0115c85d-ef3e-4de9-9732-d0c5c4f2c482"
SUB = "events.data"
TEMP = "urn:cpt:smartdevice:nid:AAA:temperature"
DOOR = "urn:cpt:smartdevice:nid:AAA:door"


def full(row: dict[str, Any]) -> dict[str, Any]:
    """A row as the source returns it: every column, absent ones None."""
    return {c: row.get(c) for c in READING_COLUMNS}


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Frame rows as dicts with every missing value (NaN, NA) as None."""
    return [
        {k: (None if v is None or v is pd.NA or (isinstance(v, float) and v != v) else v) for k, v in r.items()}
        for r in frame.to_dict("records")
    ]


def temp(t: float, value: float, **extra: Any) -> dict[str, Any]:
    return {
        "channel": CH,
        "subtopic": SUB,
        "publisher": "AAA",
        "protocol": "mqtt",
        "name": TEMP,
        "unit": "Cel",
        "time": t,
        "value": value,
        **extra,
    }


def query(name: str, start: float, end: float) -> ReadQuery:
    return ReadQuery(channel=CH, subtopic=SUB, name=name, start=start, end=end)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "source.db"


def test_ensure_schema_creates_a_wal_file_of_series_chunks_and_head(db: Path) -> None:
    ensure_schema(db)
    ensure_schema(db)  # a second call is harmless
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert tables == {"series", "chunks", "head"}
        head = {r[1] for r in conn.execute("PRAGMA table_info(head)")}
        assert head == {"series", "time"} | set(READING_COLUMNS) - {"channel", "subtopic", "name", "publisher", "time"}
        plan = " ".join(
            r[3] for r in conn.execute("EXPLAIN QUERY PLAN SELECT rowid FROM chunks WHERE series = 1 AND day >= 3 AND day <= 9")
        )
        assert "USING" in plan and "INDEX" in plan  # a range seek on (series, day), no scan
    finally:
        conn.close()
    with EmbeddedSource(db) as source:
        assert source.targets() == []
        assert list(source.read(query(TEMP, 0, 1e10))) == []


def test_every_column_round_trips_including_nulls(db: Path) -> None:
    rows = [
        temp(1000.25, 21.5, sum=3.5, update_time=1001.75),
        {
            "channel": CH,
            "subtopic": SUB,
            "publisher": "AAA",
            "protocol": "coap",
            "name": DOOR,
            "time": 1000.0,
            "string_value": "open",
            "bool_value": True,
            "data_value": "aGVsbG8=",
            "update_time": 1000.5,
        },
        {
            "channel": CH,
            "subtopic": SUB,
            "publisher": "BBB",
            "protocol": "http",
            "name": DOOR,
            "time": 1001.0,
            "string_value": "it's shut",
            "bool_value": False,
        },
        {"channel": CH, "subtopic": SUB, "name": DOOR, "time": 1002.0},  # no publisher, nothing else
    ]
    assert write_readings(db, rows) == 4
    with EmbeddedSource(db) as source:
        door = pd.concat(source.read(query(DOOR, 0, 1e10)))
        assert dict(door.dtypes.astype(str)) == READING_DTYPES
        assert list(door.columns) == list(READING_COLUMNS)
        assert records(door) == [full(rows[1]), full(rows[2]), full(rows[3]) | {"publisher": ""}]
        assert records(pd.concat(source.read(query(TEMP, 0, 1e10)))) == [full(rows[0])]
        assert source.last_before(CH, SUB, DOOR, 1001.5) == full(rows[2])
        assert source.last_before(CH, SUB, TEMP, 2000) == full(rows[0])


def test_dataframe_input_and_absent_subtopic(db: Path) -> None:
    frame = pd.DataFrame(
        {"channel": ["c2", "c2"], "name": ["n", "n"], "time": [5.0, 6.0], "value": [1.0, None], "bool_value": [None, True]}
    )
    assert write_readings(db, frame) == 2
    with EmbeddedSource(db) as source:
        got = records(pd.concat(source.read(ReadQuery("c2", "", "n", 0, 10))))
    assert got == [
        full({"channel": "c2", "subtopic": "", "publisher": "", "name": "n", "time": 5.0, "value": 1.0}),
        full({"channel": "c2", "subtopic": "", "publisher": "", "name": "n", "time": 6.0, "bool_value": True}),
    ]


def test_window_is_half_open_at_both_edges(db: Path) -> None:
    write_readings(db, [temp(t, t / 10) for t in (99.999, 100.0, 110.0, 120.0, 129.999, 130.0)])
    with EmbeddedSource(db) as source:
        got = pd.concat(source.read(query(TEMP, 100.0, 130.0)))
        assert got["time"].tolist() == [100.0, 110.0, 120.0, 129.999]
        assert got["value"].tolist() == [10.0, 11.0, 12.0, 12.9999]
        assert source.count(query(TEMP, 100.0, 130.0)) == 4
        assert list(source.read(query(TEMP, 130.0, 130.0))) == []
        assert list(source.read(query(TEMP, 131.0, 140.0))) == []


def test_chunks_are_ascending_and_add_up_to_one_read(db: Path) -> None:
    times = [50.0, 10.0, 90.0, 30.0, 70.0, 20.0, 80.0, 40.0, 60.0, 100.0]  # written out of order
    write_readings(db, [temp(t, -t) for t in times])
    with EmbeddedSource(db) as source:
        chunks = list(source.read(query(TEMP, 0, 1000), chunk_rows=3))
        whole = next(source.read(query(TEMP, 0, 1000)))
    assert [len(c) for c in chunks] == [3, 3, 3, 1]
    joined = pd.concat(chunks, ignore_index=True)
    assert joined["time"].tolist() == [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0]
    pd.testing.assert_frame_equal(joined, whole)


def test_count(db: Path) -> None:
    write_readings(db, [temp(float(t), 1.0) for t in range(0, 100, 10)])
    with EmbeddedSource(db) as source:
        assert source.count(query(TEMP, 0, 100)) == 10  # the whole target
        assert source.count(query(TEMP, -5, 1e9)) == 10
        assert source.count(query(TEMP, 10, 40)) == 3
        assert source.count(query(TEMP, 0, 50)) == 5
        assert source.count(query(TEMP, -5, 90)) == 9  # the last reading sits on the excluded end
        assert source.count(query(TEMP, 15, 16)) == 0
        assert source.count(query(TEMP, 50, 50)) == 0
        assert source.count(query(DOOR, 0, 100)) == 0


def test_last_before_is_strictly_before(db: Path) -> None:
    write_readings(db, [temp(10.0, 1.0), temp(20.0, 2.0), temp(30.0, 3.0)])
    with EmbeddedSource(db) as source:
        assert source.last_before(CH, SUB, TEMP, 30.0)["value"] == 2.0
        assert source.last_before(CH, SUB, TEMP, 30.5)["time"] == 30.0
        assert source.last_before(CH, SUB, TEMP, 10.0) is None
        assert source.last_before(CH, SUB, DOOR, 100.0) is None


def test_targets_summary_after_inserts_and_replaces(db: Path) -> None:
    write_readings(db, [temp(100.0, 1.0), temp(200.0, 2.0), temp(300.0, 3.0)])
    write_readings(db, [temp(100.0, 1.0), temp(200.0, 2.0), temp(300.0, 3.0)])  # the same again changes nothing
    write_readings(db, [{"channel": CH, "subtopic": SUB, "name": DOOR, "time": 150.0, "bool_value": True}])
    with EmbeddedSource(db) as source:
        assert source.targets() == [
            TargetInfo(CH, SUB, DOOR, None, 150.0, 150.0, 1),
            TargetInfo(CH, SUB, TEMP, "Cel", 100.0, 300.0, 3),
        ]
    # Replace 200 and 300 (the newest now in Fahrenheit), add 50 and 400, and 250 twice in one batch.
    write_readings(db, [temp(200.0, 20.0), temp(300.0, 86.0, unit="degF"), temp(50.0, 0.5), temp(250.0, 7.0), temp(250.0, 8.0)])
    with EmbeddedSource(db) as source:
        assert source.targets()[1] == TargetInfo(CH, SUB, TEMP, "degF", 50.0, 300.0, 5)
        values = pd.concat(source.read(query(TEMP, 0, 1000)))[["time", "value"]].values.tolist()
    assert values == [[50.0, 0.5], [100.0, 1.0], [200.0, 20.0], [250.0, 8.0], [300.0, 86.0]]
    write_readings(db, [temp(400.0, 4.0, unit="Cel")])
    with EmbeddedSource(db) as source:
        assert source.targets()[1] == TargetInfo(CH, SUB, TEMP, "Cel", 50.0, 400.0, 6)
        assert source.count(query(TEMP, 0, 1000)) == 6


def test_a_bad_batch_writes_nothing(db: Path) -> None:
    write_readings(db, [temp(1.0, 1.0)])
    with pytest.raises(ValueError, match="time"):
        write_readings(db, [temp(2.0, 2.0), {"channel": CH, "subtopic": SUB, "name": TEMP, "value": 3.0}])
    with pytest.raises(ValueError, match="unknown reading fields: colour"):
        write_readings(db, [temp(3.0, 3.0, colour="red")])
    # The first target of this batch is fine, the second is not: the whole batch is refused.
    later = {"channel": CH, "subtopic": SUB, "name": TEMP + "~", "time": 4.0, "data_value": {"not": "text"}}
    with pytest.raises(ValueError, match="'data_value' must be text, not dict"):
        write_readings(db, [temp(4.0, 4.0), later])
    # One value that is not text in every reading (the writer passes such a column on as that one value).
    with pytest.raises(ValueError, match="'unit' must be text, not int"):
        write_readings(db, [temp(5.0, 5.0, unit=7), temp(6.0, 6.0, unit=7)])
    with EmbeddedSource(db) as source:
        assert source.targets() == [TargetInfo(CH, SUB, TEMP, "Cel", 1.0, 1.0, 1)]


def test_corrupt_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    db = tmp_path / "source.db"
    db.write_bytes(random.Random(7).randbytes(16384))
    before = sha(db)
    with pytest.raises(SourceError) as err:
        EmbeddedSource(db)
    assert str(db) in str(err.value)
    assert sha(db) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["source.db"]


def test_missing_file_is_refused_and_not_created(tmp_path: Path) -> None:
    db = tmp_path / "nope" / "source.db"
    with pytest.raises(SourceError, match="does not exist") as err:
        EmbeddedSource(db)
    assert str(db) in str(err.value)
    assert not db.parent.exists()


def test_foreign_database_is_refused_by_reader_and_schema(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE invoices (id INTEGER)")
    conn.commit()
    conn.close()
    before = sha(db)
    with pytest.raises(SourceError, match="not an exporter-tui source"):
        EmbeddedSource(db)
    with pytest.raises(SourceError, match="not an exporter-tui source"):
        ensure_schema(db)
    assert sha(db) == before


def test_reading_leaves_the_database_file_unchanged(db: Path) -> None:
    write_readings(db, [temp(float(t), 1.0) for t in range(5)])
    before = sha(db)
    with EmbeddedSource(db) as source:
        assert len(pd.concat(source.read(query(TEMP, 0, 10)))) == 5
        source.count(query(TEMP, 1, 3))
        source.targets()
    assert sha(db) == before


def test_reads_from_another_thread_and_during_a_write(db: Path) -> None:
    write_readings(db, [temp(float(t), 1.0) for t in range(10)])
    with EmbeddedSource(db) as source:
        chunks = source.read(query(TEMP, 0, 100), chunk_rows=4)
        first = next(chunks)
        write_readings(db, [temp(float(t), 2.0) for t in range(10, 20)])  # WAL: the running read keeps its snapshot
        rest = list(chunks)
        assert [len(first)] + [len(c) for c in rest] == [4, 4, 2]
        counted: list[int] = []
        worker = threading.Thread(target=lambda: counted.append(len(pd.concat(source.read(query(TEMP, 0, 100))))))
        worker.start()
        worker.join()
        assert counted == [20]


def test_a_new_source_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    import os

    old = os.umask(0o022)
    try:
        path = tmp_path / "fresh.db"
        ensure_schema(path)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o600


def test_stored_tells_new_readings_from_replaced_ones(tmp_path):
    path = tmp_path / "source.db"
    rows = [{"channel": "c", "name": "n", "time": float(t), "value": 1.0} for t in range(3)]
    with ReadingsWriter(path) as writer:
        assert writer.stored() == 0
        writer.write(rows)
        assert writer.stored() == 3
        writer.write(rows[1:] + [{"channel": "c", "name": "n", "time": 9.0, "value": 2.0}])
        assert writer.stored() == 4
