"""`exporter-tui serve`: uvicorn on the app, and the scheduler in a thread unless another process
holds its lease (looked at again every SCHEDULER_RECHECK seconds, as the TUI does)."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from exporter_tui.api.app import create_app
from exporter_tui.api.state import ApiState
from exporter_tui.config import secret_values
from exporter_tui.context import Context
from exporter_tui.core.hosts import is_loopback
from exporter_tui.events import RunEvent
from exporter_tui.notify.masking import SecretMaskingFilter

SCHEDULER_RECHECK = 15.0
STOP_GRACE = 10.0
log = logging.getLogger("exporter_tui.api")


class ServeRefused(ValueError):
    """serve cannot start as asked (a public host without keys, half a TLS pair)."""


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8750
    tls_cert: str | None = None
    tls_key: str | None = None
    scheduler: bool = True


def check_options(ctx: Context, options: ServeOptions) -> list[str]:
    """Refuse what must not start; the warnings to print when it may."""
    if bool(options.tls_cert) != bool(options.tls_key):
        raise ServeRefused("--tls-cert and --tls-key go together")
    if not ctx.settings.api.keys:
        if not is_loopback(options.host):
            raise ServeRefused(
                f"--host {options.host} is not a loopback address and config has no [api.keys]; add keys or serve on 127.0.0.1"
            )
        return [f"no [api.keys] in config: every local client acts as '{ctx.actor}' with every action"]
    return []


class SchedulerThread:
    """Runs the scheduler for as long as the server lives, unless another process serves the database."""

    def __init__(self, ctx: Context, state: ApiState):
        self.ctx = ctx
        self.state = state
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._main, name="exporter-scheduler", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(STOP_GRACE + 2)

    def _main(self) -> None:
        from exporter_tui.scheduler.service import Scheduler
        from exporter_tui.service.scheduling import make_scheduler

        store = self.ctx.open_store()
        try:
            while not self.stop.is_set():
                other = Scheduler.served_by_other(store)
                if other is None:
                    self.state.scheduler = "running in this process"
                    make_scheduler(self.ctx, store, sink=_log_event).serve(self.stop, grace=STOP_GRACE)
                    break
                self.state.scheduler = f"served by pid {other.get('pid')} on {other.get('host')}"
                self.stop.wait(SCHEDULER_RECHECK)
        except Exception as e:  # the API goes on; /health tells
            self.state.scheduler = f"stopped after an error: {type(e).__name__}: {e}"
            log.error("the scheduler failed: %s", e)
        finally:
            store.close()
            if self.state.scheduler == "running in this process":
                self.state.scheduler = "stopped"


def _log_event(event: RunEvent) -> None:
    log.info("%s %s", event.kind, event.message)


def serve(ctx: Context, options: ServeOptions) -> int:
    """Serve until SIGINT or SIGTERM, then stop the scheduler's runs (bounded) and exit 0."""
    import uvicorn

    class _Server(uvicorn.Server):
        @contextmanager
        def capture_signals(self) -> Iterator[None]:
            """uvicorn's own re-raises the signal after shutdown, so the exit status would be the signal's."""
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, self.handle_exit)
            yield

    warnings = check_options(ctx, options)
    masking = SecretMaskingFilter(secret_values(ctx.settings))
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.addFilter(masking)
    for name in ("exporter_tui", "uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(logging.INFO)
        logger.propagate = False
    for w in warnings:
        log.warning(w)
    app = create_app(ctx)
    scheduler = SchedulerThread(ctx, app.state.api) if options.scheduler else None
    if scheduler is None:
        app.state.api.scheduler = "off in this server"
    config = uvicorn.Config(
        app,
        host=options.host,
        port=options.port,
        ssl_certfile=options.tls_cert,
        ssl_keyfile=options.tls_key,
        log_config=None,
        access_log=True,
        timeout_graceful_shutdown=5,
    )
    server = _Server(config)
    if scheduler:
        scheduler.start()
    try:
        server.run()
    finally:
        if scheduler:
            scheduler.close()
    return 0 if server.started else 1
