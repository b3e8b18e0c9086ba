"""EmbeddedSource: the Source protocol over a source file, opened read-only.

A read of [start, end) on a target finds its series (one per publisher), decodes only the
chunks of the days the window touches (their metadata picked first, their blobs then fetched
one chunk at a time, so no sort ever carries them), cuts the edge days with a binary search,
adds the head's readings of the window, and orders the readings of several publishers by
time, then publisher, as the row store did. Frames are built straight from the arrays: a
column that holds one value in a chunk is filled, never looked at per reading.
"""

from __future__ import annotations

import contextlib
import math
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from exporter_tui.sources.base import DELTA_LOOKBACK, READING_COLUMNS, Lookback, ReadingArrays, ReadQuery, SourceError, TargetInfo
from exporter_tui.sources.embedded import codec
from exporter_tui.sources.embedded.block import BOOL_NULL, FLOAT_FIELDS, Block, concat, filled, is_array, merged
from exporter_tui.sources.embedded.layout import (
    BUSY_TIMEOUT_S,
    DAY,
    HEAD_FIELDS,
    ROW_LAYOUT_VERSION,
    fail,
    inspect,
    refuse_unknown,
)
from exporter_tui.sources.embedded.writer import head_block

if TYPE_CHECKING:
    import pandas as pd

_KEY = ("channel", "subtopic", "name")
_PAYLOAD = tuple(c for c in READING_COLUMNS if c not in _KEY)


@dataclass(frozen=True)
class _Series:
    id: int
    publisher: str
    rank: int  # its publisher's place among the target's, in SQLite's text order


class EmbeddedSource:
    """The Source protocol over a source file (see the module docstring).

    A file in the row layout of earlier versions is converted first (migrate.py): the only
    time opening a source writes to it."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise SourceError(f"source database {self.path} does not exist (generate demo data or point the source elsewhere)")
        if not self.path.is_file():
            raise SourceError(f"source database {self.path} is not a file")
        conn = self._open()
        try:
            version, tables = inspect(conn)
        except sqlite3.Error as e:
            conn.close()
            raise fail(self.path, "not a readable SQLite database", e) from None
        try:
            refuse_unknown(self.path, version, tables)
            if not version:
                raise SourceError(f"source database {self.path} is not an exporter-tui source (schema version 0)")
        except SourceError:
            conn.close()
            raise
        if version == ROW_LAYOUT_VERSION:
            conn.close()
            from exporter_tui.sources.embedded.migrate import migrate

            migrate(self.path)
            conn = self._open()
        self._conn = conn
        # One connection serves every thread; the lock keeps each statement step exclusive.
        self._lock = threading.Lock()

    def _open(self) -> sqlite3.Connection:
        uri = self.path.resolve().as_uri() + "?mode=ro"
        try:
            return sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, check_same_thread=False, isolation_level=None)
        except sqlite3.Error as e:
            raise fail(self.path, "cannot be opened", e) from None

    def __enter__(self) -> EmbeddedSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, query: ReadQuery, chunk_rows: int = 100_000) -> Iterator[pd.DataFrame]:
        return self.read_columns(query, _PAYLOAD, chunk_rows)

    def read_columns(self, query: ReadQuery, columns: Iterable[str], chunk_rows: int = 100_000) -> Iterator[pd.DataFrame]:
        """`read` that fills only the key and `columns`; every other column of the chunks is empty.

        The rows and the frame boundaries are exactly `read`'s (frames of `chunk_rows`, the
        last one shorter), so a stage that looks only at these columns gives the same result
        from either; fewer columns means fewer blobs decoded.
        """
        key = _target_key(query.channel, query.subtopic, query.name)
        wanted = frozenset(columns)
        frames = _Frames(key, "time" in wanted)
        for block in self._chunks(query, wanted, chunk_rows):
            yield frames.frame(block)

    def read_arrays(self, query: ReadQuery, columns: frozenset[str], chunk_rows: int = 100_000) -> Iterator[ReadingArrays]:
        """`read_columns`' chunks as arrays, without building frames (ArrayReader)."""
        key = _target_key(query.channel, query.subtopic, query.name)
        for block in self._chunks(query, frozenset(columns), chunk_rows):
            yield _Arrays(key, block)

    def _chunks(self, query: ReadQuery, wanted: frozenset[str], chunk_rows: int) -> Iterator[Block]:
        """The query's readings in blocks of `chunk_rows` (the last one shorter), `wanted` fields filled."""
        if chunk_rows < 1:
            raise ValueError("chunk_rows must be at least 1")
        unknown = wanted - set(READING_COLUMNS)
        if unknown:
            raise ValueError(f"unknown reading fields: {', '.join(sorted(unknown))}")
        if not query.start < query.end:
            return
        key = _target_key(query.channel, query.subtopic, query.name)
        pending: list[Block] = []  # whole days, or the rest of the day the last chunk cut
        rows = 0
        for block in self._blocks(key, query.start, query.end, wanted):
            pending.append(block)
            rows += len(block)
            while rows >= chunk_rows:
                # The chunk copies only its own readings; what is left of the day it cut stays
                # a view until the next chunk copies it (each reading is copied once).
                cut = len(pending[-1]) - (rows - chunk_rows)
                yield concat([*pending[:-1], pending[-1].slice(0, cut)])
                rest = pending[-1].slice(cut, len(pending[-1]))
                pending, rows = ([rest] if len(rest) else []), len(rest)
        if rows:
            yield concat(pending)

    def _blocks(
        self, key: tuple[str, str, str], start: float, end: float, wanted: frozenset[str], newest_first: bool = False
    ) -> Iterator[Block]:
        """The target's readings in [start, end), a day at a time, each day's in time then
        publisher order; with `newest_first`, the days from the newest back."""
        with self._snapshot() as snap:
            yield from snap._day_blocks(key, start, end, wanted, newest_first)

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[EmbeddedSource]:
        """A view of this source on a connection of its own inside one read transaction: the
        several statements of a read see one state of the file, whatever a writer commits
        meanwhile, and another thread's read never waits for this one."""
        view = object.__new__(EmbeddedSource)
        view.path = self.path
        view._conn = self._open()
        view._lock = threading.Lock()
        try:
            view._conn.execute("BEGIN")
            yield view
        finally:
            view._conn.close()

    def _day_blocks(
        self, key: tuple[str, str, str], start: float, end: float, wanted: frozenset[str], newest_first: bool
    ) -> Iterator[Block]:
        series = self._series_of(key)
        if not series:
            return
        by_id = {s.id: s for s in series}
        ids = ", ".join(str(s.id) for s in series)
        lo_day, hi_day = _day_of(start), _day_of(end, upper=True)
        order = "DESC" if newest_first else ""
        chunks = self._all(
            f"SELECT day, series, rowid FROM chunks WHERE series IN ({ids}) AND day >= ? AND day <= ? ORDER BY day {order}, series",
            (lo_day, hi_day),
        )
        head = self._head_days(series, start, end, wanted)
        days = sorted({int(r[0]) for r in chunks} | set(head), reverse=newest_first)
        per_day: dict[int, list[tuple[int, int]]] = {}
        for day, sid, rowid in chunks:
            per_day.setdefault(int(day), []).append((int(sid), int(rowid)))
        blob_cols = (
            "codec, first_time, times, "
            + ("vals" if "value" in wanted else "NULL")
            + ", meta, "
            + ("extra" if wanted - {"time", "value", "publisher"} else "NULL")
        )
        for day in days:
            parts: list[Block] = []
            ranks: list[int] = []
            for sid, rowid in per_day.get(day, ()):
                row = self._one(f"SELECT {blob_cols} FROM chunks WHERE rowid = ?", (rowid,))
                if row is None:
                    raise SourceError(f"source database {self.path}: a chunk vanished while it was read")
                parts.append(
                    codec.decode(row[0], row[1], row[2], row[3], row[4], row[5], publisher=by_id[sid].publisher, wanted=wanted).window(
                        start, end
                    )
                )
                ranks.append(by_id[sid].rank)
            for sid, block in head.get(day, ()):
                parts.append(block)
                ranks.append(by_id[sid].rank)
            kept = [(p, r) for p, r in zip(parts, ranks) if len(p)]
            if kept:
                yield merged([p for p, _ in kept], [r for _, r in kept])

    def _head_days(self, series: list[_Series], start: float, end: float, wanted: frozenset[str]) -> dict[int, list[tuple[int, Block]]]:
        """The head's readings of the window, per day: (series id, block) in time order."""
        out: dict[int, list[tuple[int, Block]]] = {}
        for s in series:
            rows = self._all(
                f"SELECT time, {', '.join(HEAD_FIELDS)} FROM head WHERE series = ? AND time >= ? AND time < ? ORDER BY time",
                (s.id, start, end),
            )
            if not rows:
                continue
            block = head_block(rows)
            block.cols = {k: (v if k in wanted else None) for k, v in block.cols.items()}
            block.cols["publisher"] = s.publisher if "publisher" in wanted else None
            days = (block.time // DAY).astype(np.int64)
            for day in np.unique(days).tolist():
                out.setdefault(int(day), []).append((s.id, block.take(np.flatnonzero(days == day))))
        return out

    def _series_of(self, key: tuple[str, str, str]) -> list[_Series]:
        rows = self._all("SELECT id, publisher FROM series WHERE channel = ? AND subtopic = ? AND name = ? ORDER BY publisher", key)
        return [_Series(int(sid), pub, rank) for rank, (sid, pub) in enumerate(rows)]

    def count(self, query: ReadQuery) -> int:
        if not query.start < query.end:
            return 0
        with self._snapshot() as snap:
            return snap._count(query)

    def _count(self, query: ReadQuery) -> int:
        key = _target_key(query.channel, query.subtopic, query.name)
        summary = self._one(
            "SELECT min(first_time), max(last_time), sum(count) FROM series WHERE channel = ? AND subtopic = ? AND name = ?", key
        )
        if summary is None or summary[2] is None or summary[0] is None:
            return 0
        if query.start <= summary[0] and summary[1] < query.end:
            return int(summary[2])
        series = self._series_of(key)
        ids = ", ".join(str(s.id) for s in series)
        window = (query.start, query.end)
        days = f"series IN ({ids}) AND day >= {_day_of(query.start)} AND day <= {_day_of(query.end, upper=True)}"
        inside = self._one(f"SELECT coalesce(sum(count), 0) FROM chunks WHERE {days} AND first_time >= ? AND last_time < ?", window)
        edges = self._all(
            f"SELECT codec, first_time, times, meta FROM chunks WHERE {days} AND first_time < ? AND last_time >= ?"
            " AND NOT (first_time >= ? AND last_time < ?)",
            (query.end, query.start, *window),
        )
        cut = 0
        for row in edges:
            t = codec.times_of(*row)
            lo, hi = np.searchsorted(t, [query.start, query.end])
            cut += int(hi - lo)
        head = self._one(f"SELECT count(*) FROM head WHERE series IN ({ids}) AND time >= ? AND time < ?", window)
        return int(inside[0]) + cut + int(head[0])

    def last_before(self, channel: str, subtopic: str, name: str, before: float) -> dict[str, Any] | None:
        key = _target_key(channel, subtopic, name)
        for block in self._blocks(key, -math.inf, before, codec.ALL_FIELDS | {"value", "publisher"}, newest_first=True):
            return _row_dict(key, block, len(block) - 1)
        return None

    def last_numeric_before(self, channel: str, subtopic: str, name: str, before: float, within: int = DELTA_LOOKBACK) -> Lookback:
        key = _target_key(channel, subtopic, name)
        seen = 0
        for block in self._blocks(key, -math.inf, before, frozenset({"value"}), newest_first=True):
            values = block.column("value")[::-1][: within - seen]
            found = np.flatnonzero(~np.isnan(values))
            if len(found):
                return Lookback(float(values[found[0]]), exhausted=False)
            seen += len(values)
            if seen >= within:
                return Lookback(None, exhausted=len(block) > len(values) or self._older(key, block.time[0]))
        return Lookback(None, exhausted=False)

    def _older(self, key: tuple[str, str, str], before: float) -> bool:
        """Whether the target holds a reading before `before`."""
        first = self._one("SELECT min(first_time) FROM series WHERE channel = ? AND subtopic = ? AND name = ?", key)
        return first is not None and first[0] is not None and first[0] < before

    def targets(self) -> list[TargetInfo]:
        rows = self._all(
            "SELECT channel, subtopic, name, unit, first_time, last_time, count, publisher FROM series WHERE count > 0"
            " ORDER BY channel, subtopic, name, last_time, publisher",
            (),
        )
        found: dict[tuple[str, str, str], TargetInfo] = {}
        for channel, subtopic, name, unit, first, last, count, _ in rows:
            old = found.get((channel, subtopic, name))
            if old is None:
                found[(channel, subtopic, name)] = TargetInfo(channel, subtopic, name, unit, first, last, count)
            else:  # rows come oldest last reading first: this one's unit is the newest reading's
                found[(channel, subtopic, name)] = TargetInfo(
                    channel, subtopic, name, unit, min(old.first_time, first), max(old.last_time, last), old.count + count
                )
        return list(found.values())

    def has_readings(self, channel: str, subtopic: str, name: str) -> bool:
        key = _target_key(channel, subtopic, name)
        return self._one("SELECT 1 FROM series WHERE channel = ? AND subtopic = ? AND name = ? AND count > 0", key) is not None

    def describe(self) -> dict[str, Any]:
        """The source as a manifest names it (no API, so nothing detected)."""
        return {"kind": "embedded", "api": None, "detected": False}

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _one(self, sql: str, params: tuple[Any, ...]) -> Any:
        try:
            with self._lock:
                return self._conn.execute(sql, params).fetchone()
        except sqlite3.Error as e:
            raise fail(self.path, "read failed", e) from None

    def _all(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        try:
            with self._lock:
                return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as e:
            raise fail(self.path, "read failed", e) from None


def _target_key(channel: str, subtopic: str | None, name: str) -> tuple[str, str, str]:
    return (channel, subtopic or "", name)


def _day_of(t: float, upper: bool = False) -> int:
    """The UTC day holding `t`; with `upper`, the last day before `t` (an exclusive end)."""
    if math.isinf(t):
        return -(2**62) if t < 0 else 2**62
    return int(math.ceil(t / DAY)) - 1 if upper else int(t // DAY)


class _Frames:
    """Builds a read's frames. A column that holds one value throughout a frame (the key, a
    device's unit, a NULL text value) is one shared read-only array, made once per read and
    size: pandas' copy-on-write never lets a frame write into it, and filling a fresh array of
    100,000 objects for every column of every frame was a fifth of a big export's time."""

    def __init__(self, key: tuple[str, str, str], with_time: bool) -> None:
        self.key = key
        self.with_time = with_time
        self.shared: dict[tuple[str, Any, int], np.ndarray] = {}

    def _one_value(self, col: str, value: Any, n: int) -> np.ndarray:
        # Columns of one kind holding the same value share the array (the empty text columns, above all).
        kind = "float" if col in FLOAT_FIELDS else "bool" if col == "bool_value" else "object"
        arr = self.shared.get((kind, value, n))
        if arr is None:
            arr = filled(col, value, n)
            arr.flags.writeable = False
            self.shared[(kind, value, n)] = arr
        return arr

    def _column(self, block: Block, col: str) -> np.ndarray:
        v = block.cols.get(col)
        return v if is_array(v) else self._one_value(col, v, len(block))

    def frame(self, block: Block) -> pd.DataFrame:
        """A READING_DTYPES frame of the block; the key columns filled from the key, `time` only `with_time`."""
        import pandas as pd

        n = len(block)
        data: dict[str, Any] = {}
        for col in READING_COLUMNS:
            if col in _KEY:
                data[col] = pd.Series(self._one_value(col, self.key[_KEY.index(col)], n), dtype=object, copy=False)
            elif col == "time":
                data[col] = block.time if self.with_time else self._one_value("value", None, n)
            elif col == "bool_value":
                raw = block.column(col)
                data[col] = pd.arrays.BooleanArray(raw == 1, raw == BOOL_NULL)
            elif col in FLOAT_FIELDS:
                data[col] = self._column(block, col)
            else:  # object dtype given: pandas would otherwise infer its string dtype
                data[col] = pd.Series(self._column(block, col), dtype=object, copy=False)
        return pd.DataFrame(data, copy=False)  # no copy into consolidated blocks


class _Arrays:
    """A block of one target's readings as ReadingArrays: the key columns from the key."""

    def __init__(self, key: tuple[str, str, str], block: Block) -> None:
        self.key = key
        self.block = block

    @property
    def time(self) -> np.ndarray:
        return self.block.time

    def __len__(self) -> int:
        return len(self.block)

    def numbers(self) -> np.ndarray:
        values = self.block.column("value")
        missing = np.isnan(values)
        if missing.any():
            raw = self.block.column("bool_value")
            values = np.where(missing & (raw != BOOL_NULL), raw.astype(np.float64), values)
        return values

    def at(self, column: str, rows: np.ndarray) -> np.ndarray:
        value: Any
        if column in _KEY:
            value = self.key[_KEY.index(column)]
        else:
            v = self.block.cols.get(column)
            if is_array(v):
                return v.astype(object, copy=False)[rows]
            value = v
        out = np.empty(len(rows), dtype=object)
        out.fill(value)
        return out


def _row_dict(key: tuple[str, str, str], block: Block, i: int) -> dict[str, Any]:
    values: dict[str, Any] = dict(zip(_KEY, key))
    values["time"] = float(block.time[i])
    for col in _PAYLOAD:
        if col == "time":
            continue
        v = block.column(col)[i]
        if col in FLOAT_FIELDS:
            v = None if v != v else float(v)
        elif col == "bool_value":
            v = None if v == BOOL_NULL else bool(v)
        values[col] = v
    return {c: values[c] for c in READING_COLUMNS}
