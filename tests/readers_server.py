"""A real readers HTTP API (Mainflux/Magistrala contract) over a SQLite file, for tests.

    with ReadersServer.from_rows(rows, tmp_path / "readers.db", token="t0k") as server:
        ReadersSource(ReadersSettings(url=server.url, token="t0k"))

`GET /channels/{id}/messages?offset&limit&subtopic&publisher&name&from&to` with
`Authorization: Bearer <token>` answers `{"offset", "limit", "total", "messages"}`, newest
first (ties: the later inserted row first), each message without its empty keys.

Fault modes, settable while running through `server.mode`:
  ok         the contract
  garbage    200 with a body that is not JSON
  bad_shape  200 with `bad_shape_body` (JSON of the wrong shape; tests may replace it)
  cut        headers and half the body, then the socket is closed
  slow       waits `slow_seconds` before answering (cut short by `stop()`)
  error500   500
  flaky      the first `flaky_failures` requests after the mode was set get 503, then ok
`camel_case = True` sends stringValue/boolValue/dataValue/updateTime.
`requests` logs every request target (path and query string; headers are never logged).
"""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from exporter_tui.sources.base import READING_COLUMNS

MODES = ("ok", "garbage", "bad_shape", "cut", "slow", "error500", "flaky")

_SQL_TYPES = {
    "time": "REAL",
    "value": "REAL",
    "sum": "REAL",
    "update_time": "REAL",
    "bool_value": "INTEGER",
}
_CAMEL = {
    "string_value": "stringValue",
    "bool_value": "boolValue",
    "data_value": "dataValue",
    "update_time": "updateTime",
}
_DEFAULT_LIMIT = 10


class ReadersServer:
    """Serves the readers contract from `db_path` on 127.0.0.1 in a daemon thread."""

    def __init__(
        self,
        db_path: str | Path,
        *,
        token: str = "test-token",
        mode: str = "ok",
        camel_case: bool = False,
        flaky_failures: int = 2,
        slow_seconds: float = 30.0,
        max_limit: int = 10_000,
    ):
        self.db_path = Path(db_path)
        self.token = token
        self.camel_case = camel_case
        self.flaky_failures = flaky_failures
        self.slow_seconds = slow_seconds
        self.max_limit = max_limit
        self.bad_shape_body: Any = {"offset": 0, "limit": 10, "total": 1, "messages": {"not": "a list"}}
        self.requests: list[str] = []
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
        insert_rows(self.db_path, rows)

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

    def _answer(self, channel: str, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        try:
            offset = int(query.get("offset", "0"))
            limit = int(query.get("limit", str(_DEFAULT_LIMIT)))
            lo = float(query["from"]) if query.get("from") else None
            hi = float(query["to"]) if query.get("to") else None
        except ValueError as e:
            return 400, {"error": f"malformed query: {e}"}
        if offset < 0 or not 1 <= limit <= self.max_limit:
            return 400, {"error": "invalid offset or limit"}
        where = ["channel = ?"]
        args: list[Any] = [channel]
        for key in ("subtopic", "publisher", "name"):
            if query.get(key):
                where.append(f"{key} = ?")
                args.append(query[key])
        if lo is not None:
            where.append("time >= ?")
            args.append(lo)
        if hi is not None:
            where.append("time < ?")
            args.append(hi)
        cond = " AND ".join(where)
        cols = ", ".join(f'"{c}"' for c in READING_COLUMNS)
        con = sqlite3.connect(self.db_path)
        try:
            total = con.execute(f"SELECT count(*) FROM messages WHERE {cond}", args).fetchone()[0]
            rows = con.execute(
                f"SELECT {cols} FROM messages WHERE {cond} ORDER BY time DESC, rowid DESC LIMIT ? OFFSET ?",
                [*args, limit, offset],
            ).fetchall()
        finally:
            con.close()
        return 200, {"offset": offset, "limit": limit, "total": total, "messages": [self._message(r) for r in rows]}

    def _message(self, row: tuple[Any, ...]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for col, v in zip(READING_COLUMNS, row):
            if v is None or v == "":
                continue
            if col == "bool_value":
                v = bool(v)
            out[_CAMEL.get(col, col) if self.camel_case else col] = v
        return out


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
        if len(segs) != 3 or segs[0] != "channels" or segs[2] != "messages" or not segs[1]:
            return self._json(404, {"error": "not found"})
        if self.headers.get("Authorization") != f"Bearer {owner.token}":
            return self._json(401, {"error": "missing or invalid credentials provided"})
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        status, body = owner._answer(unquote(segs[1]), query)
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
    cols = ", ".join(f'"{c}" {_SQL_TYPES.get(c, "TEXT")}' for c in READING_COLUMNS)
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
