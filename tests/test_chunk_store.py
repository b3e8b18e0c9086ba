"""The embedded source as series in chunks: the head, sealing, the codec, against a plain model."""

from __future__ import annotations

import math
import random
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from exporter_tui.sources.base import READING_COLUMNS, ReadQuery, TargetInfo
from exporter_tui.sources.embedded import EmbeddedSource, ReadingsWriter
from exporter_tui.sources.embedded import codec as chunk_codec
from exporter_tui.sources.embedded.block import Block
from exporter_tui.sources.embedded.writer import SEAL_ROWS

pytestmark = pytest.mark.timeout(120)

DAY = 86_400.0
T0 = 20_000 * DAY  # 2024-10-04T00:00Z, the start of a UTC day
CH, SUB = "ch", "sub"


def reading(name: str, t: float, value: float | None = 1.0, publisher: str = "p", **extra: Any) -> dict[str, Any]:
    return {"channel": CH, "subtopic": SUB, "name": name, "publisher": publisher, "time": t, "value": value, **extra}


def rows_of(source: EmbeddedSource, name: str, start: float = -1e12, end: float = 1e12, chunk_rows: int = 100_000) -> list[dict]:
    out = []
    for frame in source.read(ReadQuery(CH, SUB, name, start, end), chunk_rows):
        for r in frame.to_dict("records"):
            out.append({k: (None if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) else v) for k, v in r.items()})
    return out


def table_count(db: Path, table: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_the_codec_keeps_every_bit_and_every_string(tmp_path: Path) -> None:
    times = np.array([T0, T0 + 0.1 + 0.2, T0 + 1 / 3, T0 + 5.5])
    values = np.array([5e-324, -0.0, 1.7976931348623157e308, np.nan])
    texts = np.array(["é\x00", "", None, "\ud800 lone surrogate"], dtype=object)
    block = Block(
        times,
        {
            "publisher": None,
            "protocol": "mqtt",
            "unit": None,
            "string_value": texts,
            "data_value": None,
            "value": values,
            "sum": np.array([np.nan, 1.0, np.nan, 2.0]),
            "update_time": None,
            "bool_value": np.array([-1, 0, 1, -1], dtype=np.int8),
        },
    )
    for codec in (chunk_codec.RAW, chunk_codec.ZLIB):
        enc = chunk_codec.encode(block, codec)
        assert (enc.first_time, enc.last_time, enc.count) == (T0, T0 + 5.5, 4)
        assert (enc.vmin, enc.vmax) == (-0.0, 1.7976931348623157e308)
        back = chunk_codec.decode(
            enc.codec, enc.first_time, enc.times, enc.vals, enc.meta, enc.extra, "pub", chunk_codec.ALL_FIELDS | {"publisher"}
        )
        assert back.time.view(np.int64).tolist() == times.view(np.int64).tolist()
        assert back.cols["value"].view(np.int64).tolist() == values.view(np.int64).tolist()  # -0.0 and NaN bits too
        assert back.cols["string_value"].tolist() == texts.tolist()
        assert back.cols["protocol"] == "mqtt" and back.cols["unit"] is None and back.cols["publisher"] == "pub"
        assert back.cols["bool_value"].tolist() == [-1, 0, 1, -1]
        assert np.array_equal(back.cols["sum"], [np.nan, 1.0, np.nan, 2.0], equal_nan=True)


def test_todays_readings_wait_in_the_head_and_are_sealed_when_the_day_is_over(tmp_path: Path) -> None:
    db = tmp_path / "source.db"
    now = T0 + 12 * 3600
    with ReadingsWriter(db, now=now) as w:
        w.write([reading("t", T0 + i, float(i)) for i in range(10)])
        w.write([reading("t", T0 - DAY + 5, -1.0)])  # yesterday: sealed at once
    assert (table_count(db, "head"), table_count(db, "chunks")) == (10, 1)
    with EmbeddedSource(db) as s:
        assert [r["value"] for r in rows_of(s, "t")] == [-1.0, *map(float, range(10))]
        assert s.count(ReadQuery(CH, SUB, "t", T0 + 2, T0 + 7)) == 5
    with ReadingsWriter(db, now=now + DAY) as w:  # the first write after midnight seals yesterday's head
        w.write([reading("t", T0 + DAY + 1, 99.0)])
    assert (table_count(db, "head"), table_count(db, "chunks")) == (1, 2)
    with EmbeddedSource(db) as s:
        assert [r["value"] for r in rows_of(s, "t")] == [-1.0, *map(float, range(10)), 99.0]
        assert s.targets() == [TargetInfo(CH, SUB, "t", None, T0 - DAY + 5, T0 + DAY + 1, 12)]


def test_a_full_head_is_sealed_and_a_replaced_reading_rewrites_its_chunk(tmp_path: Path) -> None:
    db = tmp_path / "source.db"
    now = T0 + 20 * 3600
    with ReadingsWriter(db, now=now) as w:
        w.write([reading("t", T0 + i, float(i)) for i in range(SEAL_ROWS)])
    assert (table_count(db, "head"), table_count(db, "chunks")) == (0, 1)  # sealed on size
    with ReadingsWriter(db, now=now) as w:
        before = w.stored()
        w.write([reading("t", T0 + 3, 333.0), reading("t", T0 + SEAL_ROWS + 1, 1.5)])
        assert w.stored() == before + 1  # one replaced, one new
    assert table_count(db, "head") == 0  # the chunk had to be rewritten for the replaced one, so the new one went in too
    with EmbeddedSource(db) as s:
        got = rows_of(s, "t")
        assert len(got) == SEAL_ROWS + 1 and got[3]["value"] == 333.0 and got[-1]["value"] == 1.5
        assert len({r["time"] for r in got}) == len(got)


def test_compact_seals_the_head(tmp_path: Path) -> None:
    db = tmp_path / "source.db"
    with ReadingsWriter(db, now=T0) as w:
        w.write([reading("t", T0 + i) for i in range(5)])
    with ReadingsWriter(db, now=T0) as w:
        assert w.seal() == 5
    assert (table_count(db, "head"), table_count(db, "chunks")) == (0, 1)


def test_equal_times_of_several_publishers_come_in_publisher_order(tmp_path: Path) -> None:
    db = tmp_path / "source.db"
    with ReadingsWriter(db, now=T0 + 3600) as w:
        w.write(
            [reading("t", T0 + 5, 2.0, publisher="b"), reading("t", T0 + 5, 1.0, publisher="a"), reading("t", T0 - 1, 0.0, publisher="b")]
        )
        w.write([reading("t", T0 + 5, 3.0, publisher="")])  # today, in the head, beside the others
    with EmbeddedSource(db) as s:
        assert [(r["time"], r["publisher"], r["value"]) for r in rows_of(s, "t")] == [
            (T0 - 1, "b", 0.0),
            (T0 + 5, "", 3.0),
            (T0 + 5, "a", 1.0),
            (T0 + 5, "b", 2.0),
        ]
        newest = s.last_before(CH, SUB, "t", T0 + 6)
        assert newest is not None and (newest["publisher"], newest["value"]) == ("b", 2.0)


def _random_reading(rng: random.Random, names: list[str]) -> dict[str, Any]:
    kind = rng.random()
    extra: dict[str, Any] = {"unit": rng.choice(["Cel", "K", None]), "protocol": rng.choice(["mqtt", "http"])}
    if kind < 0.6:
        extra["value"] = rng.choice([rng.uniform(-50, 50), float(rng.randint(0, 3)), None])
    elif kind < 0.75:
        extra |= {"value": None, "bool_value": rng.random() < 0.5}
    elif kind < 0.9:
        extra |= {"value": None, "string_value": rng.choice(["on", "off", "é"])}
    else:
        extra |= {"value": rng.uniform(0, 1), "sum": rng.uniform(0, 9), "update_time": T0 + rng.random()}
    t = T0 + rng.randint(-3, 1) * DAY + rng.randint(0, 40) * 2000.0 + rng.choice([0.0, 0.5])
    return reading(rng.choice(names), t, publisher=rng.choice(["p1", "p2", ""]), **extra)


@pytest.mark.parametrize("seed", range(6))
def test_random_writes_read_back_as_a_plain_model_of_last_write_wins(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    db = tmp_path / "source.db"
    names = ["a", "b"]
    model: dict[tuple, dict[str, Any]] = {}
    for _ in range(8):
        now = T0 + rng.choice([-2, 0, 0, 1]) * DAY + rng.random() * DAY  # some transactions before midnight, some after
        rows = [_random_reading(rng, names) for _ in range(rng.randint(1, 400))]
        with ReadingsWriter(db, now=now) as w:
            before = w.stored()
            w.write(rows)
            new = {(r["name"], r["publisher"], r["time"]) for r in rows} - set(model)
            assert w.stored() == before + len(new)
        for r in rows:
            model[(r["name"], r["publisher"], r["time"])] = {c: r.get(c) for c in READING_COLUMNS}
    with EmbeddedSource(db) as s:
        for name in names:
            expected = sorted((v for k, v in model.items() if k[0] == name), key=lambda r: (r["time"], r["publisher"]))
            assert rows_of(s, name, chunk_rows=rng.randint(1, 50)) == expected
            for _ in range(20):
                lo = T0 + rng.uniform(-4, 2) * DAY
                hi = lo + rng.uniform(0, 2) * DAY
                inside = [r for r in expected if lo <= r["time"] < hi]
                assert rows_of(s, name, lo, hi) == inside
                assert s.count(ReadQuery(CH, SUB, name, lo, hi)) == len(inside)
                older = [r for r in expected if r["time"] < hi]
                assert s.last_before(CH, SUB, name, hi) == (older[-1] if older else None)
                numeric = [r["value"] for r in older if r["value"] is not None]
                found = s.last_numeric_before(CH, SUB, name, hi, within=5)
                if numeric and any(r["value"] is not None for r in older[-5:]):
                    assert found.value == next(r["value"] for r in reversed(older) if r["value"] is not None)
                else:
                    assert found.value is None and found.exhausted == (len(older) > 5)
        units = {
            name: max((v for k, v in model.items() if k[0] == name), key=lambda r: (r["time"], r["publisher"]))["unit"] for name in names
        }
        assert [(t.name, t.count, t.unit) for t in s.targets()] == [
            (name, sum(1 for k in model if k[0] == name), units[name]) for name in names
        ]


def test_regular_times_are_kept_as_a_step_and_come_back_bit_for_bit() -> None:
    times = T0 + np.arange(1000) * 6.0  # a reading every 6 s
    block = Block(times, {"value": np.arange(1000.0), "unit": "Cel"})
    enc = chunk_codec.encode(block)
    assert enc.times == b""
    back = chunk_codec.decode(enc.codec, enc.first_time, enc.times, enc.vals, enc.meta, enc.extra, "", frozenset({"value"}))
    assert back.time.view(np.int64).tolist() == times.view(np.int64).tolist()
    jittered = times.copy()
    jittered[500] = np.nextafter(jittered[500], np.inf)  # one ulp off: no longer regular
    assert chunk_codec.encode(Block(jittered, {"value": np.arange(1000.0)})).times != b""
