"""A real uvicorn serving the API on 127.0.0.1 at a free port, in a thread, for the API tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import uvicorn

from exporter_tui.api.app import create_app
from exporter_tui.api.server import SchedulerThread
from exporter_tui.api.state import ApiState, Clock
from exporter_tui.context import Context
from exporter_tui.core.times import utc_now


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout: float = 20.0, what: str = "the condition"):
    """Poll `check` until it returns something truthy, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Served:
    url: str
    state: ApiState

    def client(self, secret: str | None = None, **kw) -> httpx.Client:
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10.0, **kw)


@contextmanager
def running_api(
    ctx: Context, *, clock: Clock = utc_now, scheduler: bool = False, certfile: str | None = None, keyfile: str | None = None
) -> Iterator[Served]:
    app = create_app(ctx, clock=clock)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ssl_certfile=certfile, ssl_keyfile=keyfile)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    sched = SchedulerThread(ctx, app.state.api) if scheduler else None
    if sched:
        sched.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), what="uvicorn to start")
        assert server.started, "uvicorn did not start"
        yield Served(f"{'https' if certfile else 'http'}://127.0.0.1:{port}", app.state.api)
    finally:
        server.should_exit = True
        thread.join(10)
        if sched:
            sched.close()
