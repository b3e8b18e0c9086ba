"""What the app's thread workers do. Each opens its own Store connection and reports back
only by posting messages, so the screen never waits on the database or an export."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime

from textual.message import Message

from exporter_tui.context import Context
from exporter_tui.core.enums import EventKind, Origin
from exporter_tui.events import RunEvent
from exporter_tui.scheduler.schedules import finished, next_times
from exporter_tui.store.requests import StoredRequest
from exporter_tui.store.runs import Run
from exporter_tui.tui.clock import UiClock
from exporter_tui.tui.formatting import next_run_text
from exporter_tui.tui.messages import DataChanged, EventPosted, RequestRow, RunProgress

Post = Callable[[Message], object]
PAGE = 1000
PROGRESS_EVERY = 0.1  # seconds between progress messages of one run


def load_request_rows(ctx: Context, now: datetime, is_cancelled: Callable[[], bool] = lambda: False) -> list[RequestRow]:
    """Every active request, newest first, with its last run status and next run time."""
    store = ctx.open_store()
    clock = UiClock(ctx.settings.tui.clock)
    try:
        rows: list[RequestRow] = []
        page = 1
        while True:
            chunk = store.requests.page(page, PAGE)
            statuses = chunk.extra["last_status"]
            for sr in chunk.results:
                times = next_times(sr, now, default_delay=ctx.settings.scheduler.delay)
                rows.append(RequestRow(sr, statuses.get(sr.id), next_run_text(sr, now, times, clock, finished(store, sr))))
            if not chunk.has_next or is_cancelled():
                return rows
            page += 1
    finally:
        store.close()


def stopper(stop: threading.Event) -> Callable[..., None]:
    """A progress callback that ends the demo fill when the app is quitting."""

    def check(*_: object) -> None:
        if stop.is_set():
            from exporter_tui.pipeline.export import (
                Cancelled,  # imported late: the writers are slow to import
            )

            raise Cancelled("the app is quitting")

    return check


def run_request(ctx: Context, request_id: str, now: datetime, post: Post, stop: threading.Event) -> Run:
    """Run one request now (origin tui), posting its events and progress."""
    from exporter_tui.service.runs import run_now

    last = [0.0]
    began = time.monotonic()
    current: dict[str, str | None] = {"run": None}

    def sink(event: RunEvent) -> None:
        if event.run_id:
            current["run"] = event.run_id
        post(EventPosted(event))

    def on_progress(done: int, total: int | None) -> None:
        now_m = time.monotonic()
        if now_m - last[0] >= PROGRESS_EVERY or (total is not None and done >= total):
            last[0] = now_m
            post(RunProgress(current["run"], request_id, done, total, now_m - began))

    store = ctx.open_store()
    try:
        return run_now(
            ctx, request_id, origin=Origin.TUI, sink=sink, on_progress=on_progress, now=now, store=store, should_stop=stop.is_set
        )
    finally:
        store.close()


def fill_demo(ctx: Context, days: float, end: datetime, post: Post, stop: threading.Event) -> StoredRequest:
    """First start: fill the embedded source with demo data and store the example request."""
    from exporter_tui.sources.demo import generate_demo
    from exporter_tui.starter import ensure_example_request

    check = stopper(stop)
    last = [0.0]

    def progress(done: int, total: int) -> None:
        check()
        now_m = time.monotonic()
        if now_m - last[0] >= 0.25 or done >= total:
            last[0] = now_m
            post(EventPosted(RunEvent(EventKind.PROGRESS, f"demo data: {done}/{total} readings", progress=done, total=total)))

    post(
        EventPosted(
            RunEvent(
                EventKind.INFO,
                f"first start: filling the demo source ({days:g} days up to {UiClock(ctx.settings.tui.clock).full(end.timestamp())})",
            )
        )
    )
    ctx.ensure_dirs()
    stats = generate_demo(ctx.paths.source_db, days=days, end=end, progress=progress, codec=ctx.settings.source.chunk_codec)
    store = ctx.open_store()
    try:
        example = ensure_example_request(store, ctx.actor, stats.end)
    finally:
        store.close()
    post(
        EventPosted(
            RunEvent(
                EventKind.DONE,
                f"demo data ready: {stats.rows} readings of {stats.targets} targets; example request {example.short_id} stored",
                request_id=example.id,
            )
        )
    )
    post(DataChanged(select=example.id))
    return example
