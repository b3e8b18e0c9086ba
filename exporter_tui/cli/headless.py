"""`exporter-tui --headless`: the scheduler with no screen, for systemd and containers.

Serves until SIGINT or SIGTERM, then asks the runs in hand to stop (they end as interrupted
and are queued again; no half-written file ever gets a final name) and exits within a bounded
time. One log line per event on stdout, text or JSON, the first one giving the settings in
use; every configured secret is masked in every line. Exit codes: 0 after a signal, 1 when
the database cannot be used or the scheduler fails, 2 for a bad config.
This module must not import textual.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from exporter_tui.config import ConfigError, redacted, secret_values
from exporter_tui.context import Context, load_context
from exporter_tui.core.times import iso
from exporter_tui.events import RunEvent
from exporter_tui.notify.masking import SecretMaskingFilter, mask
from exporter_tui.store.errors import StoreError

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2
STOP_GRACE = 10.0  # seconds the runs in hand get to stop after a signal
LOGGER = "exporter_tui.headless"


class LineFormatter(logging.Formatter):
    """`<at> <kind> <message>` or one JSON object per line, with every secret masked."""

    def __init__(self, log_format: str, secrets: Iterable[str]):
        super().__init__()
        self.json = log_format == "json"
        self.secrets = [s for s in secrets if s]

    def format(self, record: logging.LogRecord) -> str:
        at = getattr(record, "at", None) or _stamp(datetime.fromtimestamp(record.created, UTC))
        kind = getattr(record, "kind", record.levelname.lower())
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        data: dict[str, Any] = getattr(record, "data", {})
        if self.json:
            line = json.dumps(
                {
                    "at": at,
                    "kind": kind,
                    "message": message,
                    "run_id": getattr(record, "run_id", None),
                    "request_id": getattr(record, "request_id", None),
                    **data,
                    **({"traceback": record.exc_text} if record.exc_text else {}),
                },
                default=str,
            )
        else:
            extra = f" {json.dumps(data, sort_keys=True, default=str)}" if data else ""
            line = f"{at} {kind} {message}{extra}" + (f"\n{record.exc_text}" if record.exc_text else "")
        return mask(line, self.secrets)


def _stamp(dt: datetime) -> str:
    return iso(dt, "seconds")


def setup_logging(log_format: str, secrets: list[str]) -> logging.Logger:
    """Lines on stdout for our events, and warnings of any library, all masked."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(LineFormatter(log_format, secrets))
    handler.addFilter(SecretMaskingFilter(secrets))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    log = logging.getLogger(LOGGER)
    log.setLevel(logging.INFO)
    return log


def event_logger(log: logging.Logger):
    """An EventSink writing one line per event (thread-safe: logging handlers lock)."""

    def sink(event: RunEvent) -> None:
        log.info(event.message, extra={"kind": event.kind, "at": event.at, "run_id": event.run_id, "request_id": event.request_id})

    return sink


def settings_line(ctx: Context) -> dict[str, Any]:
    p = ctx.paths
    return {
        "paths": {"home": p.home, "config": p.config_file, "database": p.database, "source": p.source_db, "exports": p.exports_dir},
        "settings": redacted(ctx.settings),
    }


def run_headless(home: str | None, config: str | None, log_format: str = "text") -> int:
    try:
        ctx = load_context(home, config)
    except ConfigError as e:
        print(f"error: bad config {e.path}:\n" + "\n".join(f"  {p}: {r}" for p, r in e.errors), file=sys.stderr)
        return EXIT_INVALID
    log = setup_logging(log_format, secret_values(ctx.settings))
    log.info("exporter-tui headless scheduler starting", extra={"kind": "settings", "data": settings_line(ctx)})
    try:
        store = ctx.open_store()
    except (StoreError, OSError) as e:
        print(f"error: {mask(str(e), secret_values(ctx.settings))}", file=sys.stderr)
        return EXIT_FAILED

    # Imported after the config and database checks, which should answer fast; pandas takes a moment.
    from exporter_tui.service.scheduling import make_scheduler

    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info(f"{signal.Signals(signum).name} received; stopping", extra={"kind": "info"})
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    scheduler = make_scheduler(ctx, store, sink=event_logger(log))
    code = EXIT_OK
    try:
        scheduler.serve(stop, grace=STOP_GRACE)
    except Exception:  # a failure of the scheduler itself: say it and exit non-zero for the service manager
        log.exception("the scheduler failed", extra={"kind": "error"})
        code = EXIT_FAILED
    if scheduler.busy:
        log.info(
            f"runs did not stop within {STOP_GRACE:g} s; exiting anyway (they will be recovered as interrupted)", extra={"kind": "warning"}
        )
        sys.stdout.flush()
        os._exit(EXIT_FAILED)  # worker threads cannot be killed; the process can
    store.close()
    log.info("stopped", extra={"kind": "info"})
    return code
