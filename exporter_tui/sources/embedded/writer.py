"""Writing readings into a source file: the head, the chunks, and sealing one into the other.

Where a write goes, per series and UTC day (see layout.py for the tables):

- a day that is over (before today, by the writer's clock) goes straight into its chunk,
  merged with what the chunk and the head held of it: history (demo data, an ingested file,
  a late reading) is stored as arrays at once, and a chunk is rewritten only when its day
  is written to again;
- today's readings wait in the head, one cheap row insert each, until the day holds
  SEAL_ROWS of them there (sealed on size), the day is over (sealed on age, by the first
  write after midnight UTC, or by `compact`);
- a reading that replaces one already in today's chunk rewrites the chunk, so that a
  reading is never both in the head and in a chunk.

Everything a writer does is one transaction; a crash at any point leaves the file as the
last commit left it (SQLite's WAL), so a seal never loses or doubles a reading.
"""

from __future__ import annotations

import itertools
import sqlite3
import time as clock
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np

from exporter_tui.sources.base import READING_COLUMNS
from exporter_tui.sources.embedded import codec
from exporter_tui.sources.embedded.block import BOOL_NULL, FLOAT_FIELDS, TEXT_FIELDS, Block, concat, is_array, one_value, text_array, union
from exporter_tui.sources.embedded.layout import DAY, HEAD_FIELDS, connect_rw, ensure_schema, fail

if TYPE_CHECKING:
    import pandas as pd

SEAL_ROWS = 4096  # head readings of one series and day that get sealed into its chunk
PENDING_ROWS = 500_000  # readings a writer queues before storing them
_RECORD_BATCH = 50_000
_KEY = ("channel", "subtopic", "name")
_FIELDS = tuple(c for c in READING_COLUMNS if c not in _KEY and c != "time")  # publisher and the reading's own fields


class ReadingsWriter:
    """One write transaction on a source file, open from `with` to its end.

    `bulk=True` turns fsync off for the load (`PRAGMA synchronous = OFF`; WAL keeps the file
    consistent if the program dies, only an OS crash could lose the load) and checkpoints
    and truncates the WAL afterwards; the setting dies with the connection, so nothing
    needs restoring. `now` is the clock that says which day is today (default: the real one).
    `codec` packs the chunks it writes: "none" (the default, fastest to read) or "zlib" (files ~3x smaller).
    """

    def __init__(self, path: Path, bulk: bool = False, now: float | None = None, codec: str = "none") -> None:
        self.path = Path(path)
        self.bulk = bulk
        self.now = now
        self.codec = _codec(codec)
        self._conn: sqlite3.Connection | None = None
        self._series: dict[tuple[str, str, str, str], int] = {}
        self._pending: dict[int, list[Block]] = {}
        self._pending_rows = 0

    def __enter__(self) -> ReadingsWriter:
        ensure_schema(self.path)
        try:
            conn = connect_rw(self.path)
            if self.bulk:
                conn.execute("PRAGMA synchronous = OFF")
                conn.execute("PRAGMA cache_size = -65536")  # 64 MiB, so a big load rarely spills mid-transaction
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            raise fail(self.path, "cannot be written", e) from None
        self._conn = conn
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        conn = self._require()
        try:
            if exc_type is None:
                self.flush()
                self.seal(before=self._today() * DAY)
                conn.execute("COMMIT")
                if self.bulk:  # best effort: shrink the WAL now unless a reader is busy
                    conn.execute("PRAGMA busy_timeout = 0")
                    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            else:
                conn.execute("ROLLBACK")
        except sqlite3.Error as e:
            raise fail(self.path, "write failed", e) from None
        finally:
            self._conn = None
            conn.close()

    def _require(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("ReadingsWriter used outside its `with` block")
        return self._conn

    def _today(self) -> int:
        return int((clock.time() if self.now is None else self.now) // DAY)

    def stored(self) -> int:
        """How many readings the source holds, as this transaction sees them (before and after
        a write, it tells new readings from replaced ones)."""
        self.flush()
        return int(self._one("SELECT coalesce(sum(count), 0) FROM series", ())[0])

    def clear(self) -> None:
        """Delete every reading (and so every target)."""
        conn = self._require()
        self._pending, self._pending_rows = {}, 0
        try:
            for table in ("head", "chunks", "series"):
                conn.execute(f"DELETE FROM {table}")
        except sqlite3.Error as e:
            raise fail(self.path, "write failed", e) from None
        self._series.clear()

    def write(self, rows: Iterable[dict[str, Any]] | pd.DataFrame) -> int:
        """Insert or replace readings (dicts or a frame with READING_COLUMNS); returns how many were given."""
        import pandas as pd

        if isinstance(rows, pd.DataFrame):
            return self._write_frame(rows)
        it = iter(rows)
        written = 0
        while batch := list(itertools.islice(it, _RECORD_BATCH)):
            written += self._write_frame(pd.DataFrame.from_records(batch))
        return written

    def _write_frame(self, df: pd.DataFrame) -> int:
        """Each column is converted and checked once for the whole frame, then cut per target;
        a column that holds one value throughout (a device's unit, the missing text fields of a
        numeric target) is passed on as that value, not cut."""
        import pandas as pd

        from exporter_tui.sources.base import normalise_frame

        if df.empty:
            return 0
        unknown = [c for c in df.columns if c not in READING_COLUMNS]
        if unknown:
            raise ValueError(f"unknown reading fields: {', '.join(map(str, unknown))}")
        for col in ("channel", "name", "time"):
            if col not in df.columns:
                raise ValueError(f"every reading needs a '{col}'")
        df = normalise_frame(df)
        texts: dict[str, np.ndarray] = {}
        for c in (*_KEY, *TEXT_FIELDS):
            values = df[c].to_numpy(dtype=object)
            missing = pd.isna(values)
            if missing.any():
                if c in ("channel", "name"):
                    raise ValueError(f"every reading needs a '{c}'")
                values = values.copy()
                values[missing] = "" if c in ("subtopic", "publisher") else None
            texts[c] = values
        times = df["time"].to_numpy(dtype=np.float64, na_value=np.nan)
        if np.isnan(times).any():
            raise ValueError("every reading needs a 'time'")
        columns: dict[str, Any] = {}
        for c in _FIELDS:
            if c in FLOAT_FIELDS:
                columns[c] = df[c].to_numpy(dtype=np.float64, na_value=np.nan)
            elif c == "bool_value":
                raw = df[c].to_numpy(dtype=np.float64, na_value=np.nan)
                columns[c] = np.where(np.isnan(raw), BOOL_NULL, raw).astype(np.int8)
            else:
                columns[c] = texts[c]
            same, value = one_value(c, columns[c])
            if same:
                columns[c] = value
        keys = [texts[c] for c in _KEY]
        order, cuts = _targets_in_order(keys)
        for lo, hi in zip([0, *cuts], [*cuts, len(df)]):
            rows = order[lo:hi]
            channel, subtopic, name = (str(k[rows[0]]) for k in keys)
            self.write_target(channel, subtopic, name, times[rows], **{c: v[rows] if is_array(v) else v for c, v in columns.items()})
        return len(df)

    def write_target(self, channel: str, subtopic: str, name: str, time: np.ndarray | Sequence[float], **columns: Any) -> int:
        """Insert or replace readings of one target; the fast path for bulk loads.

        `time` holds Unix seconds. Every other reading column is one value for all rows or a
        sequence as long as `time` (None, or NaN in float columns, for NULL; `bool_value` as
        bools, 0/1, or -1 for NULL); absent columns are NULL. Of several readings given with
        one publisher and time, the last is kept. Returns the row count given.
        """
        self._require()
        times = np.asarray(time, dtype=np.float64)
        n = len(times)
        unknown = [c for c in columns if c not in _FIELDS]
        if unknown:
            raise ValueError(f"unknown reading fields: {', '.join(unknown)}")
        if n == 0:
            return 0
        if not np.isfinite(times).all():
            raise ValueError("reading times must be finite numbers")
        cols = {c: _column(c, columns.get(c), n) for c in (*TEXT_FIELDS, *FLOAT_FIELDS, "bool_value")}
        cols["publisher"] = "" if cols["publisher"] is None else cols["publisher"]
        whole = Block(times, cols)
        publisher = cols["publisher"]
        if Block.const(publisher):
            self._write_series((channel, subtopic or "", name, publisher), whole)
        else:
            for pub in sorted(set(publisher.tolist())):
                part = whole.take(np.flatnonzero(publisher == pub))
                part.cols["publisher"] = pub
                self._write_series((channel, subtopic or "", name, pub), part)
        return n

    def _write_series(self, key: tuple[str, str, str, str], block: Block) -> None:
        """Queue one series' readings; they are stored at the next flush (many small writes to
        one day then cost one rewrite of its chunk, not one each)."""
        sid = self._series_id(key)
        self._pending.setdefault(sid, []).append(block)
        self._pending_rows += len(block)
        if self._pending_rows >= PENDING_ROWS:
            self.flush()

    def flush(self) -> None:
        """Store every queued reading (the later of two with one series and time wins)."""
        pending, self._pending, self._pending_rows = self._pending, {}, 0
        today = self._today()
        for sid, blocks in pending.items():
            block = _last_of_each_time(concat(blocks))
            days = (block.time // DAY).astype(np.int64)
            cuts = (np.flatnonzero(days[1:] != days[:-1]) + 1).tolist()
            added = 0
            for lo, hi in zip([0, *cuts], [*cuts, len(block)]):
                day = int(days[lo])
                added += self._write_day(sid, day, block.slice(lo, hi), sealed=day < today)
            unit = block.cols["unit"]
            newest = unit if Block.const(unit) else unit[-1]
            first, last = float(block.time[0]), float(block.time[-1])
            self._exec(
                "UPDATE series SET count = count + ?, first_time = min(coalesce(first_time, ?), ?),"
                " unit = CASE WHEN last_time IS NULL OR ? >= last_time THEN ? ELSE unit END,"
                " last_time = max(coalesce(last_time, ?), ?) WHERE id = ?",
                (added, first, first, last, newest, last, last, sid),
            )

    def _write_day(self, sid: int, day: int, part: Block, sealed: bool) -> int:
        """Store one series' readings of one day; returns how many of them were not stored before."""
        if sealed:
            return self._seal_day(sid, day, part)
        span = (sid, day * DAY, (day + 1) * DAY)
        waiting = int(self._one("SELECT count(*) FROM head WHERE series = ? AND time >= ? AND time < ?", span)[0])
        if waiting + len(part) >= SEAL_ROWS or self._replaces_chunked(sid, day, part.time):
            return self._seal_day(sid, day, part)
        lo, hi = float(part.time[0]), float(part.time[-1])
        there = self._all("SELECT time FROM head WHERE series = ? AND time >= ? AND time <= ?", (sid, lo, hi))
        known = int(np.isin(part.time, np.array([r[0] for r in there], dtype=np.float64)).sum()) if there else 0
        marks = ", ".join("?" * (2 + len(HEAD_FIELDS)))
        self._conn_many(
            f"INSERT OR REPLACE INTO head (series, time, {', '.join(HEAD_FIELDS)}) VALUES ({marks})",
            zip(itertools.repeat(sid), part.time.tolist(), *(_bound(f, part) for f in HEAD_FIELDS)),
        )
        return len(part) - known

    def _replaces_chunked(self, sid: int, day: int, times: np.ndarray) -> bool:
        """Whether a reading at one of `times` is in the day's chunk already."""
        row = self._one("SELECT codec, first_time, times, meta FROM chunks WHERE series = ? AND day = ?", (sid, day))
        return row is not None and bool(np.isin(times, codec.times_of(*row)).any())

    def _seal_day(self, sid: int, day: int, new: Block | None = None) -> int:
        """Rewrite the day's chunk as its readings, the head's and `new` (which win); returns how many are new."""
        span = (sid, day * DAY, (day + 1) * DAY)
        old = self._chunk(sid, day)
        head = self._head(sid, span)
        before = len(head) + (len(old) if old is not None else 0)
        stored = concat([b for b in (old, head) if b is not None and len(b)]) if before else None
        if stored is not None and old is not None and len(head):
            stored = stored.take(np.argsort(stored.time, kind="stable"))
        whole = new if stored is None else stored if new is None else union(stored, new)
        assert whole is not None
        enc = codec.encode(whole, self.codec)
        self._exec(
            "INSERT OR REPLACE INTO chunks (series, day, first_time, last_time, count, vmin, vmax, codec, meta, times, vals, extra)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (sid, day, enc.first_time, enc.last_time, enc.count, enc.vmin, enc.vmax, enc.codec, enc.meta, enc.times, enc.vals, enc.extra),
        )
        if len(head):
            self._exec("DELETE FROM head WHERE series = ? AND time >= ? AND time < ?", span)
        return len(whole) - before

    def seal(self, before: float | None = None) -> int:
        """Seal every head reading (with time < `before`, when given) into its chunk; returns how many."""
        self.flush()
        where, params = ("WHERE time < ?", (before,)) if before is not None else ("", ())
        rows = self._all(f"SELECT series, CAST(time / {DAY} AS INTEGER) AS day, count(*) FROM head {where} GROUP BY series, day", params)
        for sid, day, _ in rows:
            self._seal_day(int(sid), int(day))
        return sum(int(r[2]) for r in rows)

    def _chunk(self, sid: int, day: int) -> Block | None:
        row = self._one("SELECT codec, first_time, times, vals, meta, extra FROM chunks WHERE series = ? AND day = ?", (sid, day))
        if row is None:
            return None
        return codec.decode(row[0], row[1], row[2], row[3], row[4], row[5], publisher="", wanted=codec.ALL_FIELDS)

    def _head(self, sid: int, span: tuple[Any, ...]) -> Block:
        rows = self._all(f"SELECT time, {', '.join(HEAD_FIELDS)} FROM head WHERE series = ? AND time >= ? AND time < ? ORDER BY time", span)
        return head_block(rows)

    def _series_id(self, key: tuple[str, str, str, str]) -> int:
        sid = self._series.get(key)
        if sid is None:
            self._exec("INSERT OR IGNORE INTO series (channel, subtopic, name, publisher) VALUES (?, ?, ?, ?)", key)
            sid = int(self._one("SELECT id FROM series WHERE channel = ? AND subtopic = ? AND name = ? AND publisher = ?", key)[0])
            self._series[key] = sid
        return sid

    def _exec(self, sql: str, params: tuple[Any, ...]) -> None:
        try:
            self._require().execute(sql, params)
        except sqlite3.Error as e:
            raise fail(self.path, "write failed", e) from None

    def _conn_many(self, sql: str, rows: Iterable[tuple[Any, ...]]) -> None:
        try:
            self._require().executemany(sql, rows)
        except sqlite3.Error as e:
            raise fail(self.path, "write failed", e) from None

    def _one(self, sql: str, params: tuple[Any, ...]) -> Any:
        try:
            return self._require().execute(sql, params).fetchone()
        except sqlite3.Error as e:
            raise fail(self.path, "write failed", e) from None

    def _all(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        try:
            return self._require().execute(sql, params).fetchall()
        except sqlite3.Error as e:
            raise fail(self.path, "write failed", e) from None


def write_readings(path: Path, rows: Iterable[dict[str, Any]] | pd.DataFrame) -> int:
    """Insert or replace readings in one transaction (creating the file if needed); returns the row count given."""
    with ReadingsWriter(path) as writer:
        return writer.write(rows)


def _targets_in_order(keys: list[np.ndarray]) -> tuple[np.ndarray, list[int]]:
    """The rows grouped by target, targets in sorted key order and rows in their given order
    within each, and where each target's rows start (after the first). Factorized codes, not a
    groupby: a batch holds few targets, and pandas' group iteration cost more than the write."""
    import pandas as pd

    code = np.zeros(len(keys[0]), dtype=np.int64)
    for values in keys:  # sorted codes combined: their order is the keys' lexicographic order
        if one_value("name", values)[0]:
            continue  # one channel (or subtopic) throughout orders nothing
        codes, uniques = pd.factorize(values, sort=True)
        code = code * len(uniques) + codes
    order = np.argsort(code, kind="stable")
    ordered = code[order]
    return order, (np.flatnonzero(ordered[1:] != ordered[:-1]) + 1).tolist()


def head_block(rows: list[tuple[Any, ...]]) -> Block:
    """Head rows `(time, *HEAD_FIELDS)`, in time order, as a block (publisher left to the caller)."""
    n = len(rows)
    columns = list(zip(*rows)) if n else [()] * (1 + len(HEAD_FIELDS))
    cols: dict[str, Any] = {"publisher": None}
    for name, values in zip(HEAD_FIELDS, columns[1:]):
        cols[name] = _column(name, values, n)
    return Block(np.array(columns[0], dtype=np.float64), cols)


def _codec(name: str) -> int:
    try:
        return codec.CODECS[name]
    except KeyError:
        raise ValueError(f"unknown chunk codec {name!r} (known: {', '.join(codec.CODECS)})") from None


def _column(name: str, value: Any, n: int) -> Any:
    """A write_target column as a Block column: one value, or an array of n."""
    if value is None or isinstance(value, (str, bytes, int, float, bool, np.generic)):
        if isinstance(value, np.generic):
            value = value.item()
        if name in FLOAT_FIELDS:
            return None if value is None or value != value else np.full(n, float(value))
        if name == "bool_value":
            return None if value is None or value == BOOL_NULL else np.full(n, int(bool(value)), dtype=np.int8)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"'{name}' must be text, not {type(value).__name__}")
        return value
    if len(value) != n:
        raise ValueError(f"column '{name}' has {len(value)} values for {n} times")
    if name in FLOAT_FIELDS:
        return np.asarray(value, dtype=np.float64)
    if name == "bool_value":
        arr = np.asarray(value)
        if arr.dtype == object or arr.dtype == bool:
            return np.array([BOOL_NULL if v is None else int(bool(v)) for v in arr.tolist()], dtype=np.int8)
        return arr.astype(np.int8)
    arr = value if isinstance(value, np.ndarray) and value.dtype == object else text_array(list(value))
    kinds = set(map(type, arr.tolist())) - {str, type(None)}  # map(type) runs in C: ~20 ns a value
    if kinds:
        raise ValueError(f"'{name}' must be text, not {sorted(k.__name__ for k in kinds)[0]}")
    return arr


def _bound(name: str, block: Block) -> list[Any]:
    """A column as the head's statement binds it: floats with None for NaN, bools 0/1/None."""
    col = block.column(name)
    if name in FLOAT_FIELDS:
        return [None if v != v else v for v in col.tolist()]
    if name == "bool_value":
        return [None if v == BOOL_NULL else v for v in col.tolist()]
    return col.tolist()


def _last_of_each_time(block: Block) -> Block:
    """The block sorted by time with one reading per time: the last given of each."""
    if len(block) < 2 or bool(np.all(block.time[1:] > block.time[:-1])):
        return block
    order = np.argsort(block.time, kind="stable")
    t = block.time[order]
    last = np.ones(len(t), dtype=bool)
    last[:-1] = t[1:] != t[:-1]
    return block.take(order[last])
