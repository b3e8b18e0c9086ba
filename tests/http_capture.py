"""A real HTTP server on 127.0.0.1 for tests: records every request and answers each
path as told (status, body, delay, a number of failures before success).

    with CaptureServer() as srv:
        srv.set("/hook", failures=2, fail_status=500)   # 500, 500, then 200
        srv.set("/slow", delay=2.0)                      # for client timeouts
        ... call srv.url + "/hook" ...
        method, path, headers, body = srv.requests[0]

`path` includes the query string; headers are a dict with lower-case names; `json` is
the parsed JSON body, the raw text when the body is not JSON, or None when empty.
Paths not `set` answer 200 with the text `ok`. Delays end at once when the server
closes, so closing never waits for slow answers.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import urlsplit


class Captured(NamedTuple):
    method: str
    path: str
    headers: dict[str, str]
    json: Any


Body = bytes | str | dict | list | None


@dataclass
class Behaviour:
    status: int = 200
    body: Body = "ok"
    delay: float = 0.0
    failures: int = 0  # answer `fail_status` with an empty body this many times first
    fail_status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    handler: Callable[[Captured], tuple[int, Body]] | None = None  # dynamic answers


class CaptureServer:
    def __init__(self) -> None:
        self.requests: list[Captured] = []
        self._behaviours: dict[str, Behaviour] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.capture = self
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def set(self, path: str, **behaviour: Any) -> Behaviour:
        """How to answer `path` (without query); keywords are Behaviour fields."""
        b = Behaviour(**behaviour)
        with self._lock:
            self._behaviours[path] = b
        return b

    def requests_to(self, path: str) -> list[Captured]:
        return [r for r in list(self.requests) if urlsplit(r.path).path == path]

    def __enter__(self) -> CaptureServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _answer(self, captured: Captured) -> tuple[int, Body, dict[str, str]]:
        with self._lock:
            b = self._behaviours.get(urlsplit(captured.path).path, Behaviour())
            failing = b.failures > 0
            if failing:
                b.failures -= 1
        if b.delay:
            self._closing.wait(b.delay)
        if failing:
            return b.fail_status, None, b.headers
        if b.handler is not None:
            status, body = b.handler(captured)
            return status, body, b.headers
        return b.status, b.body, b.headers


def closed_port_url() -> str:
    """The URL of a 127.0.0.1 port nothing listens on: connecting there is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    capture: CaptureServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that gave up (timeouts) leave broken pipes: not worth a traceback."""


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        capture = self.server.capture
        captured = Captured(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, _parse(raw))
        with capture._lock:
            capture.requests.append(captured)
        status, body, headers = capture._answer(captured)
        data, content_type = _encode(body)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _parse(raw: bytes) -> Any:
    if not raw:
        return None
    text = raw.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def _encode(body: Body) -> tuple[bytes, str]:
    if body is None:
        return b"", "text/plain"
    if isinstance(body, bytes):
        return body, "application/octet-stream"
    if isinstance(body, str):
        return body.encode(), "text/plain; charset=utf-8"
    return json.dumps(body).encode(), "application/json"
