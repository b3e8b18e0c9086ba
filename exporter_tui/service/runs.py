"""Manual runs: which run `exporter-tui run`, the TUI and the API execute (claimed so it never
duplicates scheduled work), executed now (attempt.py) in this thread or in the background; and
cancelling a run from any front end."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

from exporter_tui.config import Settings
from exporter_tui.context import Context
from exporter_tui.core.durations import get_zone
from exporter_tui.core.enums import EventKind, Origin, RunStatus
from exporter_tui.core.schedule import overall_window, run_windows
from exporter_tui.core.times import utc_now
from exporter_tui.events import EventSink, RunEvent, ignore
from exporter_tui.scheduler import ledger
from exporter_tui.scheduler.planner import Rules
from exporter_tui.scheduler.schedules import schedule_of
from exporter_tui.scheduler.service import holder_id
from exporter_tui.service.attempt import Progress, execute_run
from exporter_tui.store.errors import LimitReached
from exporter_tui.store.requests import StoredRequest
from exporter_tui.store.runs import Run
from exporter_tui.store.store import Store


def cancel_run(store: Store, run_id: str, actor: str) -> Run:
    """Cancel a run, from the CLI, the TUI or the HTTP API: a queued one ends failed "cancelled
    by <actor>" at once; a running one, in whatever process, stops at its next progress step,
    ends the same way with its partial files removed, and is not retried."""
    return store.runs.cancel(run_id, actor)


def claim_manual(
    store: Store,
    settings: Settings,
    stored: StoredRequest,
    origin: Origin,
    actor: str,
    now: datetime,
    window: tuple[float, float] | None = None,
) -> tuple[Run, str | None]:
    """Claim the run that `run ID` executes, so it never duplicates scheduled work; with a note
    (one line) when it is an extra run that the scheduler does not count.

    A recurring request: the last interval (on a listed day) whose run time t_k + delay has passed by `now`. With no run yet,
    this run becomes the interval's run; a queued one is executed; a running one is refused
    (LimitReached); a done or failed one is exported again as an extra run. A oneTime request:
    its queued run, or an extra run once it has run. `window` (--from/--to) is always an extra
    run over exactly that window. A manual run starts at once, so `max_queued_runs` never refuses it.
    """
    holder = holder_id()
    if window is not None:
        return _extra_run(store, stored, origin, actor, window[1], window, True, holder), None
    request = stored.request
    if request.type == "recurring":
        schedule = schedule_of(stored, settings.scheduler.delay)
        k = schedule.last_runnable_at(now)
        if k < 1:
            first = schedule.due(schedule.next_listed(1)).astimezone(get_zone(request.format.timezone))
            raise LimitReached(f"no interval of this request is due yet (the first runs {first.isoformat()}); give --from and --to")
        rules = Rules.of(request, settings.scheduler)
        claimed = ledger.claim_by_hand(store, stored, schedule, k, now, rules, origin=origin, holder=holder, stamp=utc_now())
        if claimed is not None:
            return claimed, None
        interval = schedule.interval(k)
        existing = store.runs.of_interval(stored.id, interval.end.timestamp())
        assert existing is not None  # claim_by_hand found it
        if existing.status in (RunStatus.NOT_PROCESSED, RunStatus.IN_PROGRESS):
            return _claim_open(store, existing, holder), None
        w = existing.as_json()["window"]
        note = (
            f"interval {w['from']} .. {w['to']} already ran (run {existing.id[:8]}, {existing.status}); "
            "exporting it again as an extra run the scheduler does not count"
        )
        return _extra_run(store, stored, origin, actor, interval.end.timestamp(), interval.bounds, False, holder), note
    runs = store.runs.unfinished(stored.id)
    if runs:
        return _claim_open(store, runs[0], holder), None
    note = "the request's run already ran; exporting it again as an extra run"
    return _extra_run(store, stored, origin, actor, now.timestamp(), overall_window(run_windows(request, now, None)), False, holder), note


def _claim_open(store: Store, run: Run, holder: str) -> Run:
    """Claim a queued run; a running one (or one another process claimed first) is refused."""
    claimed = store.runs.claim(run.id, holder) if run.status == RunStatus.NOT_PROCESSED else None
    if claimed is None:
        raise LimitReached(f"the request is already running (run {run.id[:8]}); wait for it to finish")
    return claimed


def _extra_run(
    store: Store,
    stored: StoredRequest,
    origin: Origin,
    actor: str,
    run_at: float,
    interval: tuple[float, float],
    override: bool,
    holder: str,
) -> Run:
    run = store.runs.create(stored.id, origin, interval, actor, run_at=run_at, override=override)
    claimed = store.runs.claim(run.id, holder)
    if claimed is None:
        store.runs.finish(run.id, RunStatus.FAILED, error="the request is already running")
        raise LimitReached("the request is already running; wait for its run to finish")
    return claimed


def start_manual(
    ctx: Context,
    store: Store,
    stored: StoredRequest,
    origin: Origin,
    actor: str,
    now: datetime,
    window: tuple[float, float] | None = None,
) -> Run:
    """Claim the run that `run ID` would (claim_manual's rules) and export it in a background
    thread of this process; the claimed run, at once. For front ends that must not wait (the
    HTTP API): a refusal (already running, no interval ended) is raised here, before any thread."""
    claimed, note = claim_manual(store, ctx.settings, stored, origin, actor, now, window)
    if note:
        store.run_log.add(claimed.id, "info", note)

    def export() -> None:
        with ctx.open_store() as own:
            execute_run(ctx.settings, ctx.paths.exports_dir, own, ctx.open_source, claimed, stored)

    threading.Thread(target=export, name=f"run-{claimed.id[:8]}", daemon=True).start()
    return claimed


def run_now(
    ctx: Context,
    request_id: str,
    *,
    origin: Origin,
    window: tuple[float, float] | None = None,
    on_progress: Progress | None = None,
    sink: EventSink = ignore,
    now: datetime | None = None,
    store: Store | None = None,
    should_stop: Callable[[], bool] | None = None,
    cancelled_by: Callable[[], str | None] | None = None,
) -> Run:
    """Run one stored request now, in this thread, and return the run as it ended (see
    claim_manual for which run that is, and execute_run for `should_stop` and `cancelled_by`)."""
    own_store = store is None
    store = store or ctx.open_store()
    try:
        stored = store.requests.get(request_id)
        claimed, note = claim_manual(store, ctx.settings, stored, origin, ctx.actor, now or utc_now(), window)
        if note:
            store.run_log.add(claimed.id, "info", note)
            sink(RunEvent(EventKind.INFO, note, claimed.id, stored.id))
        return execute_run(
            ctx.settings,
            ctx.paths.exports_dir,
            store,
            ctx.open_source,
            claimed,
            stored,
            sink=sink,
            on_progress=on_progress,
            should_stop=should_stop,
            cancelled_by=cancelled_by,
        )
    finally:
        if own_store:
            store.close()
