"""Pushdown: reading only the fields an export needs, and worker processes, give byte-identical files.

The reference is the streaming path over full reads (a source without `read_columns`); the
projected path is EmbeddedSource itself, the parallel one runs targets in child processes.
All run the same request on the same SQLite file with small chunks, so buckets, deltas and
wide rows straddle chunk and fetch-batch edges.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from pipeline_helpers import CH, SUB, T0, body, item

from exporter_tui.config import ExportsSettings
from exporter_tui.core.models import ExportRequest
from exporter_tui.core.validation import parse_request
from exporter_tui.pipeline.export import ExportJob, ReadCounter, build_table, write_options
from exporter_tui.pipeline.streams import needed_fields, read_stream
from exporter_tui.pipeline.writers import get_writer
from exporter_tui.sources.base import DELTA_LOOKBACK, READING_COLUMNS, Lookback, ReadQuery, TargetInfo
from exporter_tui.sources.embedded import EmbeddedSource, write_readings

pytestmark = pytest.mark.timeout(60)

START, END = T0, T0 + 6 * 3600  # the window: [START, END)
CHUNK = 37  # rows per chunk: several chunks a target, buckets cut across them


def _readings() -> list[dict[str, Any]]:
    """Every kind of reading, including the awkward ones, in and around the window."""
    rng = random.Random(20260601)
    rows: list[dict[str, Any]] = []

    def add(name: str, t: float, **fields: Any) -> None:
        rows.append(
            {"channel": CH, "subtopic": SUB, "publisher": "p1", "protocol": "mqtt", "name": name, "unit": "Cel", "time": t, **fields}
        )

    for i in range(240):
        t = START + i * 91.7  # sub-second times
        value = rng.choice([rng.uniform(-1e3, 1e3), rng.gauss(20, 3), 0.1 * rng.randint(1, 9), 1e-7 * rng.random()])
        if i % 17 == 5:
            add("urn:t", t, bool_value=i % 2 == 0)  # a bool-only reading among numbers counts as 1/0
        elif i % 23 == 7:
            add("urn:t", t, string_value="n/a")  # no number: skipped by every numeric stage
        else:
            add("urn:t", t, value=value, unit="Cel" if i < 120 else "K", publisher="p1" if i % 3 else "p2")
        if i % 29 == 0:
            add("urn:t", t, value=rng.uniform(0, 50), publisher="p3")  # a second reading at the same time
    add("urn:t", START, value=1.5, publisher="p0")  # exactly at the start: in
    add("urn:t", END, value=999.0)  # exactly at the end: out
    add("urn:t", START - 1, value=-5.0)  # before the window: the delta's anchor only

    for i in range(150):
        add("urn:onoff", START + i * 140.0, bool_value=rng.random() < 0.5, unit=None)
    for i in range(40):
        add("urn:text", START + i * 500.0, string_value=f"state {i % 3}", data_value="aGk=" if i % 4 == 0 else None, unit=None)
    kwh = 100.0
    for i in range(200):
        kwh = 0.0 if i == 120 else kwh + rng.uniform(0, 2)  # a counter with one reset
        add("urn:kwh", START + i * 107.0, value=round(kwh, 3), unit="kWh", update_time=START + i * 107.0 + rng.uniform(0.5, 3))
    return rows


@pytest.fixture(scope="module")
def source_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("streams") / "source.db"
    write_readings(path, _readings())
    return path


class FullReads:
    """The Source protocol over an EmbeddedSource, without `read_columns`: every read is whole."""

    def __init__(self, inner: EmbeddedSource) -> None:
        self.inner = inner
        self.reads = 0

    def read(self, query: ReadQuery, chunk_rows: int = 100_000) -> Iterator[pd.DataFrame]:
        self.reads += 1
        return self.inner.read(query, chunk_rows)

    def count(self, query: ReadQuery) -> int:
        return self.inner.count(query)

    def last_before(self, channel: str, subtopic: str, name: str, before: float) -> dict[str, Any] | None:
        return self.inner.last_before(channel, subtopic, name, before)

    def last_numeric_before(self, channel: str, subtopic: str, name: str, before: float, within: int = DELTA_LOOKBACK) -> Lookback:
        return self.inner.last_numeric_before(channel, subtopic, name, before, within)

    def targets(self) -> list[TargetInfo]:
        return self.inner.targets()

    def close(self) -> None:
        self.inner.close()


class Projected(FullReads):
    """EmbeddedSource with its `read_columns`, recording which fields each read asked for."""

    def __init__(self, inner: EmbeddedSource) -> None:
        super().__init__(inner)
        self.fields: list[frozenset[str]] = []

    def read_columns(self, query: ReadQuery, columns: frozenset[str], chunk_rows: int = 100_000) -> Iterator[pd.DataFrame]:
        self.fields.append(frozenset(columns))
        return self.inner.read_columns(query, columns, chunk_rows)


class Arrays(Projected):
    """EmbeddedSource with `read_columns` and `read_arrays` (decimation reads arrays, no frames)."""

    def __init__(self, inner: EmbeddedSource) -> None:
        super().__init__(inner)
        self.array_reads = 0

    def read_arrays(self, query: ReadQuery, columns: frozenset[str], chunk_rows: int = 100_000) -> Iterator[Any]:
        self.array_reads += 1
        return self.inner.read_arrays(query, columns, chunk_rows)


def export_bytes(
    source: Any, request: ExportRequest, out: Path, columnar: bool = False, window: tuple[float, float] = (START, END)
) -> bytes:
    """The request's file; `columnar`: decimated buckets go to the writer as Columns, not frames."""
    job = ExportJob(request, "req", "run", [window] * len(request.items))
    table = build_table(source, job, 0, ReadCounter(None, None, None), chunk_rows=CHUNK, columnar=columnar)
    get_writer(request.format.extension).write([table], out, write_options(job, ExportsSettings()))
    return out.read_bytes()


def both_paths(source_db: Path, tmp_path: Path, request: ExportRequest) -> tuple[bytes, bytes, Projected]:
    with EmbeddedSource(source_db) as inner:
        full = FullReads(inner)
        streamed = export_bytes(full, request, tmp_path / "streamed.csv")
        projected = Projected(inner)
        pushed = export_bytes(projected, request, tmp_path / "projected.csv")
        arrays = Arrays(inner)
        from_arrays = export_bytes(arrays, request, tmp_path / "arrays.csv")
        as_columns = export_bytes(arrays, request, tmp_path / "columns.csv", columnar=True)
    assert full.reads > 0 and projected.reads == 0 and projected.fields  # each path took its own way
    # Decimation without delta reads arrays (no frames); every other stage reads frames.
    p = request.items[0].params
    assert (arrays.array_reads > 0) == (p.decimation is not None and p.transform is None)
    assert from_arrays == pushed
    assert as_columns == pushed
    return streamed, pushed, projected


def request_for(targets: str, columns: list[tuple[str, str]] | None = None, **params: Any) -> ExportRequest:
    return parse_request(body([item(targets, **params, **{"from": START, "to": END})], columns=columns))


ALL_COLUMNS = [
    ("publisher", "pub"),
    ("channel", "ch"),
    ("subtopic", "sub"),
    ("name", "name"),
    ("unit", "unit"),
    ("time", "time"),
    ("value", "value"),
    ("created", "created"),
]


@pytest.mark.parametrize("dsf", ["avg", "max", "min", "sum", "stddev", "variance"])
@pytest.mark.parametrize("ds", ["1m", "15m", "1d"])
def test_decimated_long_is_byte_identical(source_db: Path, tmp_path: Path, dsf: str, ds: str) -> None:
    request = request_for("urn:t,urn:onoff,urn:text,urn:kwh", ALL_COLUMNS, decimation={"ds": ds, "dsf": dsf})
    streamed, pushed, projected = both_paths(source_db, tmp_path, request)
    assert pushed == streamed
    assert set(projected.fields) == {frozenset({"time", "value", "bool_value", "publisher", "unit"})}
    lines = streamed.decode().splitlines()
    # 10:00Z to 16:00Z lies in one local day; every target but urn:text (no numbers) has a reading in each 15 minutes
    assert lines[0] == "pub,ch,sub,name,unit,time,value,created" and len(lines) - 1 == {"1d": 3, "15m": 72}.get(ds, len(lines) - 1)


@pytest.mark.parametrize("columns", [None, ALL_COLUMNS, [("time", "t"), ("value", "v")]])
def test_raw_long_is_byte_identical(source_db: Path, tmp_path: Path, columns: list | None) -> None:
    request = request_for("urn:t,urn:onoff,urn:text,urn:kwh", columns)
    streamed, pushed, _ = both_paths(source_db, tmp_path, request)
    assert pushed == streamed
    text = streamed.decode()
    # urn:t: i = 0..235 fall before END (235 * 91.7 < 21600), plus p3 at i = 0, 29, ..., 232 (9) and p0 at
    # START; the reading at END is out. Every onoff (150), text (40) and kWh (200) reading is in.
    assert len(text.splitlines()) == 1 + (236 + 9 + 1) + 150 + 40 + 200
    assert "state 1" in text and "true" in text  # text and bool values come through


@pytest.mark.parametrize("decimation", [None, {"ds": "15m", "dsf": "sum"}, {"ds": "1h", "dsf": "stddev"}])
def test_delta_is_byte_identical(source_db: Path, tmp_path: Path, decimation: dict | None) -> None:
    params: dict[str, Any] = {"transform": "delta"}
    if decimation:
        params["decimation"] = decimation
    request = request_for("urn:kwh,urn:t", ALL_COLUMNS, **params)
    streamed, pushed, projected = both_paths(source_db, tmp_path, request)
    assert pushed == streamed
    expected = {"time", "value", "bool_value", "publisher", "unit"} | (set() if decimation else {"update_time"})
    assert set(projected.fields) == {frozenset(expected)}


@pytest.mark.parametrize("decimation", [None, {"ds": "1m", "dsf": "avg"}, {"ds": "1h", "dsf": "max"}])
def test_wide_is_byte_identical(source_db: Path, tmp_path: Path, decimation: dict | None) -> None:
    params: dict[str, Any] = {"outputFormat": "wide"}
    if decimation:
        params["decimation"] = decimation
    request = request_for("urn:t,urn:onoff,urn:kwh", **params)
    streamed, pushed, projected = both_paths(source_db, tmp_path, request)
    assert pushed == streamed
    assert set(projected.fields) == {frozenset({"time", "value", "bool_value"})}
    assert streamed.decode().splitlines()[0] == "time,urn:t,urn:onoff,urn:kwh"


def test_needed_fields_follow_the_columns_and_stages() -> None:
    def fields(columns: list[tuple[str, str]] | None = None, **params: Any) -> set[str]:
        return set(needed_fields(request_for("urn:t", columns, **params).items[0].params, columns))

    base = {"time", "value", "bool_value"}
    assert fields() == base | {"string_value", "data_value", "unit"}  # default columns: time name value unit
    assert fields([("time", "t"), ("name", "n")]) == base
    assert fields([("created", "c"), ("publisher", "p")]) == base | {"update_time", "publisher"}
    assert fields(ALL_COLUMNS, transform="delta") == base | {"update_time", "publisher", "unit"}
    assert fields(ALL_COLUMNS, decimation={"ds": "1h", "dsf": "avg"}) == base | {"publisher", "unit"}
    assert fields(ALL_COLUMNS, outputFormat="wide") == base


@pytest.mark.parametrize(
    "fields", [{"time"}, {"value", "unit"}, {"bool_value", "string_value", "data_value"}, {"sum", "update_time", "protocol"}]
)
def test_read_columns_matches_read_on_the_asked_fields_and_leaves_the_rest_empty(source_db: Path, fields: set[str]) -> None:
    q = ReadQuery(CH, SUB, "urn:t", START, END)
    with EmbeddedSource(source_db) as source:
        full = list(source.read(q, 10))
        part = list(source.read_columns(q, fields, 10))
    assert [len(c) for c in part] == [len(c) for c in full] == [10] * 24 + [6]  # urn:t has 246 readings in the window
    for a, b in zip(full, part):
        assert list(b.columns) == list(READING_COLUMNS) and b.dtypes.equals(a.dtypes)
        kept = ["channel", "subtopic", "name", *sorted(fields)]
        pd.testing.assert_frame_equal(b[kept], a[kept])
        for col in set(READING_COLUMNS) - set(kept):
            assert b[col].isna().all(), col


def test_read_columns_refuses_unknown_fields(source_db: Path) -> None:
    with EmbeddedSource(source_db) as source, pytest.raises(ValueError, match="unknown reading fields: colour"):
        list(source.read_columns(ReadQuery(CH, SUB, "urn:t", START, END), {"time", "colour"}))


def test_read_stream_reads_whole_from_a_source_without_read_columns(source_db: Path) -> None:
    with EmbeddedSource(source_db) as inner:
        full = FullReads(inner)
        chunks = list(read_stream(full, ReadQuery(CH, SUB, "urn:kwh", START, END), frozenset({"time"}), 1000))
    assert full.reads == 1 and len(chunks) == 1 and chunks[0]["update_time"].notna().all()  # every field, though only time was asked


@pytest.mark.parametrize("extension", ["csv", "json"])
@pytest.mark.parametrize("zone", ["Europe/Rome", "America/St_Johns", "UTC"])
def test_buckets_written_without_a_frame_match_their_frames_over_clock_changes(tmp_path: Path, extension: str, zone: str) -> None:
    """Buckets handed to a text writer as arrays (Columns: times by the zone's offsets, no pandas)
    give the bytes of the frames they would have been, in every date format, over both of Rome's
    and St John's 2026 clock changes, with a window start cutting a bucket at a fraction of a second."""
    rows: list[dict[str, Any]] = []
    for a, b in ((1774656000, 1774828800), (1792800000, 1792972800), (1772884800, 1773057600), (1793448000, 1793620800)):
        rows += [
            {
                "channel": CH,
                "subtopic": SUB,
                "publisher": "p1",
                "protocol": "mqtt",
                "name": "urn:t",
                "unit": "Cel",
                "time": t + 0.25,
                "value": (t % 97) / 7,
            }
            for t in range(a, b, 421)
        ]
    path = tmp_path / "source.db"
    write_readings(path, rows)
    window = (1772884800.5, 1793620800.0)
    with EmbeddedSource(path) as inner:
        for date_format in ("ISO", "L", "LL", "LLL"):
            for ds, dsf in (("15m", "avg"), ("1h", "stddev"), ("1d", "max")):
                request = parse_request(
                    body(
                        [item("urn:t", **{"from": window[0], "to": window[1], "decimation": {"ds": ds, "dsf": dsf}})],
                        extension=extension,
                        columns=ALL_COLUMNS,
                        timezone=zone,
                        dateFormat=date_format,
                    )
                )
                frames = export_bytes(Arrays(inner), request, tmp_path / f"frames.{extension}", window=window)
                columns = export_bytes(Arrays(inner), request, tmp_path / f"columns.{extension}", columnar=True, window=window)
                assert columns == frames, (date_format, ds, dsf)
                assert len(frames.splitlines()) > {"15m": 700, "1h": 180, "1d": 8}[ds]
