"""A readers HTTP service for tests, following the upstream readers' code, over SQLite or PostgreSQL.

    with ReadersServer.from_rows(rows, tmp_path / "readers.db", token="t0k") as server:       # SQLite
    with ReadersServer.from_pg(rows, pg.new_schema(), **GENERATIONS["supermq"]) as server:   # PostgreSQL

`GET [/{domain}]/channels/{id}/messages?offset&limit&subtopic&publisher&protocol&name&from&to`
answers `{"offset", "limit", "total", "messages"}` by the readers' SQL: a COUNT(*) and
`ORDER BY time DESC LIMIT OFFSET` over the `messages` table, each filter applied only when
non-empty, `from`/`to` only when non-zero, parsed as float64 (as the Go readers do) and
compared as `time >= from AND time < to`. Nothing orders readings that share a time: on
PostgreSQL their order is whatever the sort gives (it changes with LIMIT and OFFSET), and
`shuffle_seed` shuffles them afresh on every request. `limit` outside 1..max_limit is a 400
"invalid limit size". Times are served in the unit they are stored in. `truncating` (PostgreSQL)
is Magistrala 0.14's Timescale reader: float seconds stored in `time BIGINT` through pgx, which
truncates a float64 toward zero on its way into an int8, for the rows and for `from`/`to` alike.

`schemes` are the accepted `Authorization` schemes ("" = the bare key, Mainflux <= 0.12);
`domain`, when set, must be the path's first segment; `health` / `version` are the bodies of
`GET /health` / `GET /version` (404 when None); `omit_empty` leaves `messages` out of an
empty answer (older readers). GENERATIONS holds these per generation, as upstream has them.

`aggregation=MAX|MIN|AVG|SUM|COUNT&interval=<Go duration>` (both `from` and `to` required) is
answered with `date_bin(interval, time, 2000-01-03 UTC)` buckets when `aggregates` is True
(the Timescale reader, PostgreSQL only); otherwise it is ignored and echoed back, as the
postgres reader does.

Fault modes, settable while running through `server.mode`:
  ok         the contract
  garbage    200 with a body that is not JSON
  bad_shape  200 with `bad_shape_body` (JSON of the wrong shape; tests may replace it)
  cut        headers and half the body, then the socket is closed
  slow       waits `slow_seconds` before answering (cut short by `stop()`)
  error500   500
  flaky      the first `flaky_failures` requests after the mode was set get 503, then ok
`on_answer(query)`, when set, is called after each messages request is answered (e.g. to add a
reading that arrives while a read goes on).
`camel_case = True` sends stringValue/boolValue/dataValue/updateTime.
`requests` logs every request target (path and query string; headers are never logged).
"""

from __future__ import annotations

import json
import random
import re
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from exporter_tui.sources.base import READING_COLUMNS

MODES = ("ok", "garbage", "bad_shape", "cut", "slow", "error500", "flaky")

_CAMEL = {
    "string_value": "stringValue",
    "bool_value": "boolValue",
    "data_value": "dataValue",
    "update_time": "updateTime",
}
_DEFAULT_LIMIT = 10
_FILTERS = ("subtopic", "publisher", "protocol", "name")
_AGGREGATIONS = ("MAX", "MIN", "AVG", "SUM", "COUNT")

# What each generation's readers accept and say, from the upstream code.
GENERATIONS: dict[str, dict[str, Any]] = {
    "mainflux-0.12": {"schemes": ("",), "version": {"service": "readers", "version": "0.12.1"}, "omit_empty": True},
    "magistrala-0.14": {"schemes": ("Bearer", "Thing"), "health": {"status": "pass", "version": "0.14.0", "description": "readers"}},
    "magistrala-0.15": {
        "schemes": ("Bearer", "Thing"),
        "domain": "d0m41n",
        "health": {"status": "pass", "version": "0.15.1", "description": "timescale-reader service"},
    },
    "magistrala-0.16": {"schemes": ("Bearer", "Client"), "health": {"status": "pass", "version": "v0.16.0", "description": "readers"}},
    "supermq": {
        "schemes": ("Bearer", "Client"),
        "domain": "d0m41n",
        "health": {"status": "pass", "version": "v0.18.0", "description": "supermq timescale-reader service"},
    },
}
NANOSECOND_GENERATIONS = ("magistrala-0.15", "magistrala-0.16", "supermq")


class Backend(Protocol):
    def page(self, channel: str, filters: dict[str, Any], limit: int | None, offset: int) -> tuple[int, list[tuple[Any, ...]]]:
        """(COUNT(*), rows of READING_COLUMNS ordered by time DESC); every row when limit is None."""
        ...

    def insert(self, rows: Iterable[Mapping[str, Any]]) -> None: ...


def _where(channel: str, filters: dict[str, Any], mark: str, whole: bool = False, truncating: bool = False) -> tuple[str, list[Any]]:
    """The readers' WHERE; `whole`: times are BIGINT, compared as float64 as the Go readers' float
    parameters make them (written out, so an index on `time::float8` can serve it); `truncating`:
    times are BIGINT seconds and a float parameter reaches the column as pgx v5 encodes a float64
    for an int8, truncated toward zero (`int64(f)`): Magistrala 0.14's Timescale reader."""
    where, args = [f"channel = {mark}"], [channel]
    for key in _FILTERS:
        if filters.get(key):
            where.append(f"{key} = {mark}")
            args.append(filters[key])
    column = "time::float8" if whole and not truncating else "time"
    for key, op in (("from", ">="), ("to", "<")):
        if filters.get(key):
            where.append(f"{column} {op} {mark}")
            args.append(int(filters[key]) if truncating else filters[key])
    return " AND ".join(where), args


class SqliteBackend:
    """The readers' SQL on SQLite; ties come newest-inserted first, the same on every request."""

    def __init__(self, db_path: str | Path):
        self.db_path = Path(db_path)

    def page(self, channel: str, filters: dict[str, Any], limit: int | None, offset: int) -> tuple[int, list[tuple[Any, ...]]]:
        cond, args = _where(channel, filters, "?")
        cols = ", ".join(f'"{c}"' for c in READING_COLUMNS)
        con = sqlite3.connect(self.db_path)
        try:
            total = con.execute(f"SELECT count(*) FROM messages WHERE {cond}", args).fetchone()[0]
            rows = con.execute(
                f"SELECT {cols} FROM messages WHERE {cond} ORDER BY time DESC, rowid DESC LIMIT ? OFFSET ?",
                [*args, -1 if limit is None else limit, offset],
            ).fetchall()
        finally:
            con.close()
        return total, rows

    def insert(self, rows: Iterable[Mapping[str, Any]]) -> None:
        insert_rows(self.db_path, rows)


_PG_TYPES = {"value": "FLOAT", "sum": "FLOAT", "update_time": "FLOAT", "bool_value": "BOOL"}


class PgBackend:
    """The readers' SQL on PostgreSQL, one connection per server thread.

    The table is the postgres reader's (`id UUID PRIMARY KEY`, `time FLOAT`) or, for
    nanoseconds, the Timescale reader's `time BIGINT`. Without an index on time every page
    is a sort, whose order among equal times depends on LIMIT and OFFSET."""

    def __init__(self, dsn: str, nanoseconds: bool = False, truncating: bool = False):
        self.dsn = dsn
        self.nanoseconds = nanoseconds
        self.truncating = truncating
        self._local = threading.local()

    def _con(self) -> Any:
        import psycopg

        con = getattr(self._local, "con", None)
        if con is None or con.closed:
            con = self._local.con = psycopg.connect(self.dsn, autocommit=True)
        return con

    def page(self, channel: str, filters: dict[str, Any], limit: int | None, offset: int) -> tuple[int, list[tuple[Any, ...]]]:
        cond, args = _where(channel, filters, "%s", self.nanoseconds, self.truncating)
        cols = ", ".join(READING_COLUMNS)
        con = self._con()
        total = con.execute(f"SELECT COUNT(*) FROM messages WHERE {cond}", args).fetchone()[0]
        lim = "" if limit is None else f" LIMIT {int(limit)}"
        rows = con.execute(f"SELECT {cols} FROM messages WHERE {cond} ORDER BY time DESC{lim} OFFSET {int(offset)}", args).fetchall()
        return total, rows

    def aggregate(self, channel: str, filters: dict[str, Any], agg: str, seconds: int, nanos: bool, limit: int, offset: int) -> Any:
        """Buckets of `value` as the Timescale reader's time_bucket gives them (origin 2000-01-03 UTC, whole seconds)."""
        cond, args = _where(channel, filters, "%s", self.nanoseconds)
        ts = "to_timestamp(time / 1e9)" if nanos else "to_timestamp(time)"
        bucket = f"date_bin(make_interval(secs => {int(seconds)}), {ts}, TIMESTAMPTZ '2000-01-03 00:00:00+00')"
        fn = {"MAX": "MAX(value)", "MIN": "MIN(value)", "AVG": "AVG(value)", "SUM": "SUM(value)", "COUNT": "COUNT(*)"}[agg]
        sql = (
            f"SELECT EXTRACT(EPOCH FROM {bucket})::bigint AS b, {fn} FROM messages WHERE {cond} AND value IS NOT NULL "
            f"GROUP BY b ORDER BY b DESC"
        )
        con = self._con()
        rows = con.execute(sql, args).fetchall()
        return len(rows), rows[offset : offset + limit]

    def insert(self, rows: Iterable[Mapping[str, Any]]) -> None:
        pg_insert(self._con(), rows)

    def close(self) -> None:
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()


class ReadersServer:
    """Serves the readers contract from a backend on 127.0.0.1 in a daemon thread."""

    def __init__(
        self,
        backend: Backend | str | Path,
        *,
        token: str = "test-token",
        mode: str = "ok",
        camel_case: bool = False,
        flaky_failures: int = 2,
        slow_seconds: float = 30.0,
        max_limit: int = 1000,
        schemes: tuple[str, ...] = ("Bearer",),
        domain: str | None = None,
        health: Any = None,
        version: Any = None,
        omit_empty: bool = False,
        shuffle_seed: int | None = None,
        aggregates: bool = False,
    ):
        self.backend: Backend = SqliteBackend(backend) if isinstance(backend, str | Path) else backend
        self.token = token
        self.camel_case = camel_case
        self.flaky_failures = flaky_failures
        self.slow_seconds = slow_seconds
        self.max_limit = max_limit
        self.schemes = schemes
        self.domain = domain
        self.health = health
        self.version = version
        self.omit_empty = omit_empty
        self.aggregates = aggregates
        self._rng = random.Random(shuffle_seed) if shuffle_seed is not None else None
        self.bad_shape_body: Any = {"offset": 0, "limit": 10, "total": 1, "messages": {"not": "a list"}}
        self.requests: list[str] = []
        self.on_answer: Callable[[dict[str, str]], None] | None = None
        self.bytes_sent = 0
        self._lock = threading.Lock()
        self._flaky_seen = 0
        self._mode = "ok"
        self.mode = mode
        self._stopping = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any]], db_path: str | Path, **kwargs: Any) -> ReadersServer:
        """A server over a new SQLite file holding `rows` (dicts of READING_COLUMNS; missing keys are NULL)."""
        create_db(db_path, rows)
        return cls(db_path, **kwargs)

    @classmethod
    def from_pg(
        cls,
        rows: Iterable[Mapping[str, Any]],
        dsn: str,
        *,
        nanoseconds: bool = False,
        truncating: bool = False,
        index: bool = False,
        **kwargs: Any,
    ) -> ReadersServer:
        """A server over a new `messages` table in the (empty) schema of `dsn`. `truncating`: the
        Timescale reader of Magistrala 0.14 and before, float seconds in a `time BIGINT` column,
        each time truncated to whole seconds as pgx stores it, and the `from`/`to` parameters too."""
        backend = PgBackend(dsn, nanoseconds, truncating)
        create_pg(backend._con(), rows, nanoseconds=nanoseconds, truncating=truncating, index=index)
        return cls(backend, **kwargs)

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise ValueError(f"unknown mode {value!r}; one of {', '.join(MODES)}")
        with self._lock:
            self._mode = value
            self._flaky_seen = 0

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self.requests)

    def query_params(self) -> list[dict[str, str]]:
        """The query of every request so far, parsed (single values)."""
        with self._lock:
            targets = list(self.requests)
        return [{k: v[0] for k, v in parse_qs(urlsplit(t).query, keep_blank_values=True).items()} for t in targets]

    def insert(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Add readings while the server runs (new data arriving during a read)."""
        self.backend.insert(rows)

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("server not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> ReadersServer:
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Wakes slow handlers, stops the loop and closes the listening socket."""
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ReadersServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- used by the handler ---------------------------------------------------------

    def _log(self, target: str) -> str:
        """Record a request; the fault to play for it ('ok' when none)."""
        with self._lock:
            self.requests.append(target)
            if self._mode == "flaky":
                if self._flaky_seen < self.flaky_failures:
                    self._flaky_seen += 1
                    return "flaky"
                return "ok"
            return self._mode

    def _authorized(self, header: str | None) -> bool:
        return header is not None and any(header == (f"{s} {self.token}" if s else self.token) for s in self.schemes)

    def _answer(self, channel: str, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        try:
            offset = int(query.get("offset", "0"))
            limit = int(query.get("limit", str(_DEFAULT_LIMIT)))
            filters: dict[str, Any] = {k: query[k] for k in _FILTERS if query.get(k)}
            for key in ("from", "to"):
                if query.get(key):
                    filters[key] = float(query[key])  # strconv.ParseFloat, as upstream
        except ValueError as e:
            return 400, {"error": "malformed query parameters", "message": str(e)}
        if offset < 0:
            return 400, {"error": "malformed query parameters", "message": "invalid offset"}
        if not 1 <= limit <= self.max_limit:
            return 400, {"error": "malformed query parameters", "message": "invalid limit size"}
        agg = query.get("aggregation", "").upper()
        head: dict[str, Any] = {"offset": offset, "limit": limit}
        if agg:
            head["aggregation"] = query["aggregation"]
            head["interval"] = query.get("interval", "")
        if agg and self.aggregates:
            return self._aggregated(channel, filters, agg, query.get("interval", ""), head, limit, offset)
        if self._rng is None:
            total, rows = self.backend.page(channel, filters, limit, offset)
        else:
            total, rows = self.backend.page(channel, filters, None, 0)
            rows = self._shuffle_ties(rows)[offset : offset + limit]
        messages = [self._message(r) for r in rows]
        body = head | {"total": total}
        if messages or not self.omit_empty:
            body["messages"] = messages
        return 200, body

    def _aggregated(
        self, channel: str, filters: dict[str, Any], agg: str, interval: str, head: dict[str, Any], limit: int, offset: int
    ) -> tuple[int, dict[str, Any]]:
        seconds = go_duration_seconds(interval)
        if agg not in _AGGREGATIONS or seconds is None or not filters.get("from") or not filters.get("to"):
            return 400, {"error": "malformed query parameters", "message": "invalid aggregation, interval, from or to"}
        if not isinstance(self.backend, PgBackend):
            raise TypeError("aggregation needs the PostgreSQL backend")
        nanos = filters["from"] >= 1e13
        total, rows = self.backend.aggregate(channel, filters, agg, seconds, nanos, limit, offset)
        scale = 1_000_000_000 if nanos else 1
        messages = [{"channel": channel, "time": b * scale, "value": float(v)} for b, v in rows]
        return 200, head | {"total": total, "messages": messages}

    def _shuffle_ties(self, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        assert self._rng is not None
        ti = READING_COLUMNS.index("time")
        with self._lock:
            keys = [(-float(r[ti]), self._rng.random()) for r in rows]
        return [r for _, r in sorted(zip(keys, rows), key=lambda kr: kr[0])]

    def _message(self, row: tuple[Any, ...]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for col, v in zip(READING_COLUMNS, row):
            if v is None or v == "":
                continue
            if col == "bool_value":
                v = bool(v)
            out[_CAMEL.get(col, col) if self.camel_case else col] = v
        return out


def go_duration_seconds(text: str) -> int | None:
    """Whole seconds of a Go duration like "15m" or "1h30m" (fractions dropped, as time_bucket's caller does)."""
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    seconds = int(sum(float(n) * units[u] for n, u in parts))
    return seconds if seconds >= 1 else None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: ReadersServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10  # idle keep-alive connections end on their own
    disable_nagle_algorithm = True  # headers and body go in two writes
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def do_GET(self) -> None:
        try:
            self._serve()
        except (TimeoutError, BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (timeout) first

    def _serve(self) -> None:
        owner = self.server.owner
        fault = owner._log(self.path)
        if fault == "slow":
            if owner._stopping.wait(owner.slow_seconds):
                self.close_connection = True
                return
            fault = "ok"
        if fault == "garbage":
            return self._send(200, b"<html><body>Bad Gateway</body></html>", "text/html")
        if fault == "bad_shape":
            return self._json(200, owner.bad_shape_body)
        if fault == "error500":
            return self._json(500, {"error": "internal server error"})
        if fault == "flaky":
            return self._json(503, {"error": "service unavailable"})
        parts = urlsplit(self.path)
        segs = parts.path.strip("/").split("/")
        if segs == ["health"] and owner.health is not None:
            return self._json(200, owner.health)
        if segs == ["version"] and owner.version is not None:
            return self._json(200, owner.version)
        if owner.domain is not None:
            if len(segs) != 4 or not segs[0]:
                return self._json(404, {"message": "page not found"})
            domain, segs = unquote(segs[0]), segs[1:]
        else:
            domain = None
        if len(segs) != 3 or segs[0] != "channels" or segs[2] != "messages" or not segs[1]:
            return self._json(404, {"message": "page not found"})
        if not owner._authorized(self.headers.get("Authorization")):
            return self._json(401, {"error": "missing or invalid credentials provided"})
        if domain is not None and domain != owner.domain:
            return self._json(403, {"error": "failed to perform authorization over the entity", "message": "domain not found"})
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        status, body = owner._answer(unquote(segs[1]), query)
        if owner.on_answer is not None:
            owner.on_answer(query)
        if fault == "cut":
            return self._cut(status, json.dumps(body).encode())
        self._json(status, body)

    def _json(self, status: int, body: Any) -> None:
        self._send(status, json.dumps(body).encode(), "application/json")

    def _send(self, status: int, data: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        with self.server.owner._lock:
            self.server.owner.bytes_sent += len(data)

    def _cut(self, status: int, data: bytes) -> None:
        """Promise the whole body, send half of it, then drop the connection."""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.wfile.flush()
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)


def create_db(db_path: str | Path, rows: Iterable[Mapping[str, Any]]) -> None:
    """A SQLite file with a `messages` table of READING_COLUMNS holding `rows`."""
    types = {"time": "NUMERIC", "value": "REAL", "sum": "REAL", "update_time": "REAL", "bool_value": "INTEGER"}
    cols = ", ".join(f'"{c}" {types.get(c, "TEXT")}' for c in READING_COLUMNS)
    con = sqlite3.connect(db_path)
    try:
        con.execute(f"CREATE TABLE messages ({cols})")
        con.execute("CREATE INDEX messages_time ON messages (channel, time)")
        con.commit()
    finally:
        con.close()
    insert_rows(db_path, rows)


def insert_rows(db_path: str | Path, rows: Iterable[Mapping[str, Any]]) -> None:
    names = ", ".join(f'"{c}"' for c in READING_COLUMNS)
    marks = ", ".join("?" for _ in READING_COLUMNS)
    con = sqlite3.connect(db_path)
    try:
        with con:
            con.executemany(f"INSERT INTO messages ({names}) VALUES ({marks})", [tuple(r.get(c) for c in READING_COLUMNS) for r in rows])
    finally:
        con.close()


def create_pg(con: Any, rows: Iterable[Mapping[str, Any]], *, nanoseconds: bool, truncating: bool = False, index: bool = False) -> None:
    """The readers' `messages` table in the connection's schema, holding `rows`."""
    types = _PG_TYPES | {"time": "BIGINT" if nanoseconds or truncating else "FLOAT"}
    cols = ", ".join(f"{c} {types.get(c, 'TEXT')}" for c in READING_COLUMNS)
    con.execute(f"CREATE TABLE messages (id UUID PRIMARY KEY DEFAULT gen_random_uuid(), {cols})")
    if truncating:
        rows = ({**r, "time": int(r["time"])} for r in rows)
    pg_insert(con, rows)
    if index:
        con.execute(f"CREATE INDEX messages_channel_time ON messages (channel, {'(time::float8)' if nanoseconds else 'time'})")
    con.execute("ANALYZE messages")


def pg_insert(con: Any, rows: Iterable[Mapping[str, Any]]) -> None:
    names = ", ".join(READING_COLUMNS)
    with con.cursor() as cur, cur.copy(f"COPY messages ({names}) FROM STDIN") as copy:
        for r in rows:
            copy.write_row(tuple(r.get(c) for c in READING_COLUMNS))
