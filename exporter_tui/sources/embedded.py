"""Readings kept in a local SQLite file (`source.db`), the default source.

Layout. `messages` holds exactly the SenML columns and is a WITHOUT ROWID table whose
primary key is (channel, subtopic, name, time, publisher). A WITHOUT ROWID table *is* its
primary-key B-tree, so the rows of one target are stored contiguously in time order: a
range read is a single seek plus a sequential leaf scan that needs no sort and no second
lookup, and the data is stored once (a rowid table with a covering index would store every
reading twice). The key follows the Mainflux readers' uniqueness (time, publisher,
subtopic, name) within a channel, so re-writing a reading replaces it. An absent subtopic
or publisher is stored, and read back, as the empty string, since key columns are NOT NULL.
Pages are 16 KiB: rows run ~170 bytes, and a WITHOUT ROWID table wants rows well under a
twentieth of a page; bigger pages also mean fewer page visits per range scan.

`targets` is a summary (unit of the newest reading, first/last time, count per target)
kept right by every write in the same transaction, so `targets()` never scans `messages`.

The file is in WAL mode so a reader (the app) and a writer (the demo generator) work at
the same time. EmbeddedSource opens it read-only: the database file itself is never
written, though SQLite keeps its usual `-wal`/`-shm` companions beside a WAL database.
"""

from __future__ import annotations

import contextlib
import itertools
import operator
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import numpy as np
import pandas as pd

from exporter_tui.sources.base import DELTA_LOOKBACK, READING_COLUMNS, Lookback, ReadQuery, SourceError, TargetInfo, normalise_frame

SCHEMA_VERSION = 1
PAGE_SIZE = 16384
BUSY_TIMEOUT_S = 10.0
_KEY = ("channel", "subtopic", "name")
# Every column but the target key, in chunk order: what a read selects.
_PAYLOAD = tuple(c for c in READING_COLUMNS if c not in _KEY)
_FLOAT_COLUMNS = ("time", "value", "sum", "update_time")
_RECORD_BATCH = 50_000
_FETCH_BATCH = 2048  # rows per fetchmany while reading (see _Chunk)

_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS messages (
        channel      TEXT NOT NULL,
        subtopic     TEXT NOT NULL DEFAULT '',
        publisher    TEXT NOT NULL DEFAULT '',
        protocol     TEXT,
        name         TEXT NOT NULL,
        unit         TEXT,
        time         REAL NOT NULL,
        value        REAL,
        string_value TEXT,
        bool_value   INTEGER,
        data_value   TEXT,
        sum          REAL,
        update_time  REAL,
        PRIMARY KEY (channel, subtopic, name, time, publisher)
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE IF NOT EXISTS targets (
        channel    TEXT NOT NULL,
        subtopic   TEXT NOT NULL,
        name       TEXT NOT NULL,
        unit       TEXT,
        first_time REAL NOT NULL,
        last_time  REAL NOT NULL,
        count      INTEGER NOT NULL,
        PRIMARY KEY (channel, subtopic, name)
    ) WITHOUT ROWID
    """,
)
_WHERE_TARGET = "channel = ? AND subtopic = ? AND name = ?"
_WHERE_RANGE = _WHERE_TARGET + " AND time >= ? AND time < ?"
# Text fields that usually hold one value over a whole window: a device's publisher, protocol
# and unit, and the string and data values of a numeric target (NULL throughout).
_USUALLY_CONSTANT = ("publisher", "protocol", "unit", "string_value", "data_value")


def _fail(path: Path, what: str, err: BaseException) -> SourceError:
    return SourceError(f"source database {path}: {what}: {err}")


def _connect_rw(path: Path) -> sqlite3.Connection:
    """A read-write connection with transactions under explicit BEGIN/COMMIT control.

    A new file is created readable by its owner only, whatever the umask: readings may be
    as private as the exports made from them."""
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600))
        os.chmod(path, 0o600)
    return sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)


def ensure_schema(path: Path) -> None:
    """Create the file, tables and WAL mode if needed; refuse a file that is not a source."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        conn = _connect_rw(path)
    except sqlite3.Error as e:
        raise _fail(path, "cannot be opened", e) from None
    try:
        conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # takes effect only while the file is empty
        conn.execute("BEGIN IMMEDIATE")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise SourceError(f"source database {path} has schema version {version}; this program knows up to {SCHEMA_VERSION}")
        if version < SCHEMA_VERSION:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if tables - {"messages", "targets"}:
                raise SourceError(
                    f"{path} is a SQLite database of something else (tables: {', '.join(sorted(tables))}); not using it as a source"
                )
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode = WAL")
    except sqlite3.Error as e:
        raise _fail(path, "cannot be prepared", e) from None
    finally:
        conn.close()


def _sql_literal(v: Any) -> str | None:
    """A constant as SQL text: only NULL and text; numbers are bound so they keep their exact bits."""
    if v is None:
        return "NULL"
    if isinstance(v, str) and "\x00" not in v:
        return "'" + v.replace("'", "''") + "'"
    return None


def _is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, (str, bytes, int, float, np.generic))


def _frame_column(series: pd.Series, column: str) -> Any:
    """A frame column as `write_target` takes it: one value when constant, else a list."""
    if column in _FLOAT_COLUMNS:
        arr = series.to_numpy(dtype=np.float64, na_value=np.nan)
        return None if np.isnan(arr).all() else arr
    values = series.to_numpy(dtype=object, na_value=None).tolist()  # type: ignore[call-overload]  # pandas takes any na_value, its stubs only a Scalar (not None)
    first = values[0]
    same = all(v is None for v in values) if first is None else values.count(first) == len(values)
    return first if same and _is_scalar(first) else values


class ReadingsWriter:
    """One write transaction on a source file, open from `with` to its end.

    `bulk=True` turns fsync off for the load (`PRAGMA synchronous = OFF`; WAL keeps the file
    consistent if the program dies, only an OS crash could lose the load) and checkpoints
    and truncates the WAL afterwards; the setting dies with the connection, so nothing
    needs restoring. The journal stays WAL: leaving it would need every reader gone and
    would let an interrupted load corrupt the file.
    """

    def __init__(self, path: Path, bulk: bool = False) -> None:
        self.path = Path(path)
        self.bulk = bulk
        self._conn: sqlite3.Connection | None = None

    def __enter__(self) -> ReadingsWriter:
        ensure_schema(self.path)
        try:
            conn = _connect_rw(self.path)
            if self.bulk:
                conn.execute("PRAGMA synchronous = OFF")
                conn.execute("PRAGMA cache_size = -65536")  # 64 MiB, so a big load rarely spills mid-transaction
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            raise _fail(self.path, "cannot be written", e) from None
        self._conn = conn
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        conn = self._require()
        self._conn = None
        try:
            if exc_type is None:
                conn.execute("COMMIT")
                if self.bulk:  # best effort: shrink the WAL now unless a reader is busy
                    conn.execute("PRAGMA busy_timeout = 0")
                    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            else:
                conn.execute("ROLLBACK")
        except sqlite3.Error as e:
            raise _fail(self.path, "write failed", e) from None
        finally:
            conn.close()

    def _require(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("ReadingsWriter used outside its `with` block")
        return self._conn

    def stored(self) -> int:
        """How many readings the source holds, as this transaction sees them (before and after
        a write, it tells new readings from replaced ones)."""
        try:
            return int(self._require().execute("SELECT coalesce(sum(count), 0) FROM targets").fetchone()[0])
        except sqlite3.Error as e:
            raise _fail(self.path, "read failed", e) from None

    def clear(self) -> None:
        """Delete every reading (and so every target)."""
        conn = self._require()
        try:
            conn.execute("DELETE FROM messages")
            conn.execute("DELETE FROM targets")
        except sqlite3.Error as e:
            raise _fail(self.path, "write failed", e) from None

    def write(self, rows: Iterable[dict[str, Any]] | pd.DataFrame) -> int:
        """Insert or replace readings (dicts or a frame with READING_COLUMNS); returns how many were given."""
        if isinstance(rows, pd.DataFrame):
            return self._write_frame(rows)
        it = iter(rows)
        written = 0
        while batch := list(itertools.islice(it, _RECORD_BATCH)):
            written += self._write_frame(pd.DataFrame.from_records(batch))
        return written

    def _write_frame(self, df: pd.DataFrame) -> int:
        if df.empty:
            return 0
        unknown = [c for c in df.columns if c not in READING_COLUMNS]
        if unknown:
            raise ValueError(f"unknown reading fields: {', '.join(map(str, unknown))}")
        for col in ("channel", "name", "time"):
            if col not in df.columns or df[col].isna().any():
                raise ValueError(f"every reading needs a '{col}'")
        df = normalise_frame(df)
        for col in ("subtopic", "publisher"):
            df[col] = df[col].where(df[col].notna(), "")
        for key, group in df.groupby(list(_KEY), sort=True):
            columns = {c: _frame_column(group[c], c) for c in _PAYLOAD if c != "time"}
            channel, subtopic, name = cast(tuple[str, str, str], key)
            self.write_target(channel, subtopic, name, group["time"].to_numpy(), **columns)
        return len(df)

    def write_target(self, channel: str, subtopic: str, name: str, time: np.ndarray | Sequence[float], **columns: Any) -> int:
        """Insert or replace readings of one target; the fast path for bulk loads.

        `time` holds Unix seconds. Every other reading column is one value for all rows or a
        sequence as long as `time` (None, or NaN in float columns, for NULL); absent columns
        are NULL. Constant text goes into the statement as a literal, which roughly halves
        the cost per row; the rest is bound. Returns the row count given.
        """
        conn = self._require()
        times = np.asarray(time, dtype=np.float64)
        n = len(times)
        unknown = [c for c in columns if c not in _PAYLOAD or c == "time"]
        if unknown:
            raise ValueError(f"unknown reading fields: {', '.join(unknown)}")
        if n == 0:
            return 0
        if not np.isfinite(times).all():
            raise ValueError("reading times must be finite numbers")
        key = _target_key(channel, subtopic, name)
        columns["publisher"] = columns.get("publisher") or ""
        names: list[str] = []
        exprs: list[str] = []
        bound: list[Iterable[Any]] = []
        for col, v in [*zip(_KEY, key), ("time", times), *columns.items()]:
            names.append(col)
            if _is_scalar(v):
                v = v.item() if isinstance(v, np.generic) else v
                literal = _sql_literal(v)
                exprs.append(literal or "?")
                if literal is None:
                    bound.append(itertools.repeat(v, n))
                continue
            if len(v) != n:
                raise ValueError(f"column '{col}' has {len(v)} values for {n} times")
            exprs.append("?")
            if col in _FLOAT_COLUMNS:
                bound.append(np.asarray(v, dtype=np.float64).tolist())
            else:
                bound.append(v.tolist() if isinstance(v, np.ndarray) else list(v))
        # Distinct keys by construction: one publisher and strictly increasing times.
        distinct = _is_scalar(columns["publisher"]) and bool(np.all(times[1:] > times[:-1]))
        lo, hi = float(times.min()), float(times.max())
        sql = f"INSERT OR REPLACE INTO messages ({', '.join(names)}) VALUES ({', '.join(exprs)})"
        try:
            self._insert_and_summarise(conn, key, lo, hi, sql, zip(*bound), n if distinct else None)
        except sqlite3.Error as e:
            raise _fail(self.path, "write failed", e) from None
        return n

    @staticmethod
    def _insert_and_summarise(
        conn: sqlite3.Connection,
        key: tuple[str, str, str],
        lo: float,
        hi: float,
        sql: str,
        rows: Iterable[tuple[Any, ...]],
        distinct: int | None,
    ) -> None:
        """Run the insert and bring the target's summary row up to date.

        The count changes by the rows now in [lo, hi] minus those there before; when the
        new rows are known distinct and fall outside the stored range, that is their number
        and no scan is needed.
        """
        old = conn.execute(f"SELECT first_time, last_time, count FROM targets WHERE {_WHERE_TARGET}", key).fetchone()
        in_range = f"SELECT count(*) FROM messages WHERE {_WHERE_TARGET} AND time BETWEEN ? AND ?"
        overlaps = old is not None and lo <= old[1] and hi >= old[0]
        before = conn.execute(in_range, (*key, lo, hi)).fetchone()[0] if overlaps else 0
        conn.executemany(sql, rows)
        added = distinct if distinct is not None and not overlaps else conn.execute(in_range, (*key, lo, hi)).fetchone()[0] - before
        unit = conn.execute(f"SELECT unit FROM messages WHERE {_WHERE_TARGET} ORDER BY time DESC, publisher DESC LIMIT 1", key).fetchone()[
            0
        ]
        first, last, count = (lo, hi, added) if old is None else (min(old[0], lo), max(old[1], hi), old[2] + added)
        conn.execute(
            "INSERT OR REPLACE INTO targets (channel, subtopic, name, unit, first_time, last_time, count) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (*key, unit, first, last, count),
        )


def write_readings(path: Path, rows: Iterable[dict[str, Any]] | pd.DataFrame) -> int:
    """Insert or replace readings in one transaction (creating the file if needed); returns the row count given."""
    with ReadingsWriter(path) as writer:
        return writer.write(rows)


def _floats(values: list[Any]) -> np.ndarray:
    """A column as float64 with NaN for NULL.

    The common columns are all numbers (fromiter, the fastest conversion) or all NULL (no
    conversion); a mix goes through np.array, which reads None as NaN.
    """
    n = len(values)
    if n and values[0] is None and values.count(None) == n:
        return np.full(n, np.nan)
    try:
        return np.fromiter(values, dtype=np.float64, count=n)
    except TypeError:
        return np.array(values, dtype=np.float64)


def _target_key(channel: str, subtopic: str | None, name: str) -> tuple[str, str, str]:
    return (channel, subtopic or "", name)


class _Chunk:
    """One chunk's columns, converted batch by batch as the rows arrive.

    Rows come in small batches: their tuples stay in the CPU cache while each column is
    picked out with a C-level map (`zip(*rows)` costs several times more), and their memory
    is recycled for the next batch instead of 100,000 tuples living at once. `fetched` are
    the columns of the rows; `constants` the columns known to hold one value throughout.
    """

    def __init__(self, key: tuple[str, str, str], fetched: Sequence[str], constants: dict[str, Any], wanted: set[str]) -> None:
        self.key = key
        self.fetched = fetched
        self.constants = constants
        self.wanted = wanted
        # Per column: float arrays, one a batch; for text, (first row, values) of the batches
        # holding any value, since all-NULL text columns are common and cost nothing that way.
        self.parts: list[list[Any]] = [[] for _ in fetched]
        self.rows = 0

    def add(self, rows: list[tuple[Any, ...]]) -> None:
        for i, (col, parts) in enumerate(zip(self.fetched, self.parts)):
            values = list(map(operator.itemgetter(i), rows))
            if col in _FLOAT_COLUMNS or col == "bool_value":
                parts.append(_floats(values))
            elif values.count(None) != len(values):
                parts.append((self.rows, values))
        self.rows += len(rows)

    def frame(self) -> pd.DataFrame:
        """A READING_DTYPES frame; columns neither wanted nor in the key are empty (NULL)."""
        n = self.rows
        data: dict[str, Any] = {}
        for col in READING_COLUMNS:
            parts = self.parts[self.fetched.index(col)] if col in self.fetched and col in self.wanted else None
            if col in _KEY or col in self.constants:
                constant = np.empty(n, dtype=object)  # None-filled
                value = self.key[_KEY.index(col)] if col in _KEY else self.constants[col]
                if value is not None:
                    constant.fill(value)  # one shared object; np.full would make n copies of a str
                data[col] = pd.Series(constant, dtype=object)
            elif col in _FLOAT_COLUMNS:
                data[col] = np.full(n, np.nan) if parts is None else np.concatenate(parts)
            elif col == "bool_value":
                raw = np.full(n, np.nan) if parts is None else np.concatenate(parts)
                data[col] = pd.arrays.BooleanArray(raw == 1.0, np.isnan(raw))
            else:
                arr = np.empty(n, dtype=object)  # None-filled
                for first, values in parts or ():
                    arr[first : first + len(values)] = values
                data[col] = pd.Series(arr, dtype=object)  # pandas would otherwise infer its string dtype
        return pd.DataFrame(data, copy=False)  # the arrays are this frame's alone: no copy into consolidated blocks


def _row_dict(key: tuple[str, str, str], row: tuple[Any, ...]) -> dict[str, Any]:
    values = dict(zip(_KEY, key)) | dict(zip(_PAYLOAD, row))
    if values["bool_value"] is not None:
        values["bool_value"] = bool(values["bool_value"])
    return {c: values[c] for c in READING_COLUMNS}


class EmbeddedSource:
    """The Source protocol over a source file, opened read-only (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise SourceError(f"source database {self.path} does not exist (generate demo data or point the source elsewhere)")
        if not self.path.is_file():
            raise SourceError(f"source database {self.path} is not a file")
        uri = self.path.resolve().as_uri() + "?mode=ro"
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
        except sqlite3.Error as e:
            raise _fail(self.path, "cannot be opened", e) from None
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.Error as e:
            conn.close()
            raise _fail(self.path, "not a readable SQLite database", e) from None
        if version > SCHEMA_VERSION or not {"messages", "targets"} <= tables:
            conn.close()
            raise SourceError(
                f"source database {self.path} is not an exporter-tui source (schema version {version}, tables: {', '.join(sorted(tables)) or 'none'})"
            )
        self._conn = conn
        # One connection serves every thread; the lock keeps each statement step exclusive.
        self._lock = threading.Lock()

    def __enter__(self) -> EmbeddedSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, query: ReadQuery, chunk_rows: int = 100_000) -> Iterator[pd.DataFrame]:
        return self.read_columns(query, _PAYLOAD, chunk_rows)

    def read_columns(self, query: ReadQuery, columns: Iterable[str], chunk_rows: int = 100_000) -> Iterator[pd.DataFrame]:
        """`read` that fetches only the key and `columns`; every other column of the chunks is empty.

        The rows and the chunk boundaries are exactly `read`'s, so a stage that looks only at
        these columns gives the same result from either. Fetching fewer columns is the cheap
        part of a big export: the cost of a read is mostly per cell turned into Python objects.
        """
        if chunk_rows < 1:
            raise ValueError("chunk_rows must be at least 1")
        wanted = set(columns)
        unknown = wanted - set(READING_COLUMNS)
        if unknown:
            raise ValueError(f"unknown reading fields: {', '.join(sorted(unknown))}")
        if not query.start < query.end:
            return
        key = _target_key(query.channel, query.subtopic, query.name)
        window = (*key, query.start, query.end)
        maybe_constant = [c for c in _USUALLY_CONSTANT if c in wanted]
        fetched = [c for c in _PAYLOAD if c in wanted and c not in maybe_constant] or ["time"]
        select = "SELECT {} FROM messages WHERE " + _WHERE_RANGE + " ORDER BY time, publisher"
        cursor = self._execute(select.format(", ".join(fetched)), window)
        try:
            # The cursor has stepped once, so until it is done this connection reads one
            # snapshot: the check sees exactly the rows the cursor will return.
            constants = self._constants(maybe_constant, window) if maybe_constant else {}
            if constants is None:  # they vary after all: fetch every row of them, in one statement
                with self._lock:
                    cursor.close()
                fetched = [c for c in _PAYLOAD if c in wanted] or ["time"]
                cursor = self._execute(select.format(", ".join(fetched)), window)
                constants = {}
            while True:
                chunk = _Chunk(key, fetched, constants, wanted)
                while chunk.rows < chunk_rows:
                    try:
                        with self._lock:
                            rows = cursor.fetchmany(min(_FETCH_BATCH, chunk_rows - chunk.rows))
                    except sqlite3.Error as e:
                        raise _fail(self.path, "read failed", e) from None
                    if not rows:
                        break
                    chunk.add(rows)
                if not chunk.rows:
                    return
                yield chunk.frame()
                if chunk.rows < chunk_rows:
                    return
        finally:
            with self._lock, contextlib.suppress(sqlite3.ProgrammingError):  # the source may be closed already
                cursor.close()

    def _execute(self, sql: str, params: tuple[Any, ...]) -> sqlite3.Cursor:
        try:
            with self._lock:
                return self._conn.execute(sql, params)
        except sqlite3.Error as e:
            raise _fail(self.path, "read failed", e) from None

    def _constants(self, columns: list[str], window: tuple[Any, ...]) -> dict[str, Any] | None:
        """Each column's one value over the window when none of them varies, else None.

        A scan in SQLite costs a fraction of fetching the column row by row into Python.
        """
        first = self._one(f"SELECT {', '.join(columns)} FROM messages WHERE {_WHERE_RANGE} ORDER BY time, publisher LIMIT 1", window)
        if first is None:
            return {}
        differs = " OR ".join(f"{c} IS NOT ?" for c in columns)
        varies = self._one(f"SELECT EXISTS (SELECT 1 FROM messages WHERE {_WHERE_RANGE} AND ({differs}))", (*window, *first))
        return None if varies is None or varies[0] else dict(zip(columns, first))

    def count(self, query: ReadQuery) -> int:
        if not query.start < query.end:
            return 0
        key = _target_key(query.channel, query.subtopic, query.name)
        summary = self._one(f"SELECT first_time, last_time, count FROM targets WHERE {_WHERE_TARGET}", key)
        if summary is None:
            return 0
        if query.start <= summary[0] and summary[1] < query.end:
            return int(summary[2])
        row = self._one(f"SELECT count(*) FROM messages WHERE {_WHERE_TARGET} AND time >= ? AND time < ?", (*key, query.start, query.end))
        return int(row[0]) if row else 0

    def last_before(self, channel: str, subtopic: str, name: str, before: float) -> dict[str, Any] | None:
        key = _target_key(channel, subtopic, name)
        sql = f"SELECT {', '.join(_PAYLOAD)} FROM messages WHERE {_WHERE_TARGET} AND time < ? ORDER BY time DESC, publisher DESC LIMIT 1"
        row = self._one(sql, (*key, before))
        return None if row is None else _row_dict(key, row)

    def last_numeric_before(self, channel: str, subtopic: str, name: str, before: float, within: int = DELTA_LOOKBACK) -> Lookback:
        key = _target_key(channel, subtopic, name)
        # One more row than `within` tells "gave up" from "no older reading at all".
        sql = f"SELECT value FROM messages WHERE {_WHERE_TARGET} AND time < ? ORDER BY time DESC, publisher DESC LIMIT ?"
        cursor = self._execute(sql, (*key, before, within + 1))
        seen = 0
        try:
            while seen < within:
                with self._lock:
                    rows = cursor.fetchmany(min(256, within - seen))
                if not rows:
                    return Lookback(None, exhausted=False)
                for (value,) in rows:
                    if value is not None:
                        return Lookback(float(value), exhausted=False)
                seen += len(rows)
            with self._lock:
                return Lookback(None, exhausted=cursor.fetchone() is not None)
        except sqlite3.Error as e:
            raise _fail(self.path, "read failed", e) from None
        finally:
            with self._lock, contextlib.suppress(sqlite3.ProgrammingError):
                cursor.close()

    def targets(self) -> list[TargetInfo]:
        try:
            with self._lock:
                rows = self._conn.execute(
                    "SELECT channel, subtopic, name, unit, first_time, last_time, count FROM targets ORDER BY channel, subtopic, name"
                ).fetchall()
        except sqlite3.Error as e:
            raise _fail(self.path, "read failed", e) from None
        return [TargetInfo(*r) for r in rows]

    def has_readings(self, channel: str, subtopic: str, name: str) -> bool:
        return self._one(f"SELECT 1 FROM targets WHERE {_WHERE_TARGET}", _target_key(channel, subtopic, name)) is not None

    def describe(self) -> dict[str, Any]:
        """The source as a manifest names it (no API, so nothing detected)."""
        return {"kind": "embedded", "api": None, "detected": False}

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _one(self, sql: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        try:
            with self._lock:
                return self._conn.execute(sql, params).fetchone()
        except sqlite3.Error as e:
            raise _fail(self.path, "read failed", e) from None


__all__ = [
    "EmbeddedSource",
    "ReadingsWriter",
    "SCHEMA_VERSION",
    "ensure_schema",
    "write_readings",
]
