"""A run's life: claim, export, record, notify. The CLI, the scheduler and the TUI all come here."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from exporter_tui.config import Settings
from exporter_tui.context import Context
from exporter_tui.core.durations import get_zone
from exporter_tui.core.enums import EventKind, Origin, RunStatus
from exporter_tui.core.schedule import item_windows, overall_window, run_windows
from exporter_tui.core.times import utc_now
from exporter_tui.events import EventSink, RunEvent, ignore
from exporter_tui.pipeline.export import Cancelled, ExportJob, run_export
from exporter_tui.pipeline.files import remove_partials
from exporter_tui.scheduler import ledger
from exporter_tui.scheduler.planner import Rules
from exporter_tui.scheduler.schedules import schedule_of
from exporter_tui.scheduler.service import holder_id
from exporter_tui.service.heartbeat import Heartbeat
from exporter_tui.sources.base import Noting, Source, SourceError
from exporter_tui.store.errors import LimitReached, TakenOver
from exporter_tui.store.requests import StoredRequest
from exporter_tui.store.runs import Run
from exporter_tui.store.store import Store

Progress = Callable[[int, int | None], None]
PROGRESS_EVERY = 0.5  # seconds between progress writes to the database and the log


def job_windows(run: Run, stored: StoredRequest) -> list[tuple[float, float]]:
    """Each item's window for this run: the override, else the item's own rules at run_at."""
    run_at = run.run_at if run.run_at is not None else run.window_to
    if run_at is None:
        raise ValueError(f"run {run.id} has no time to anchor its window to")
    interval = (run.window_from, run.window_to) if run.window_from is not None and run.window_to is not None else None
    return item_windows(stored.request, run_at, interval, bool(run.window_override))


def failure_reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        what = exc.strerror or str(exc)
        where = f" ({exc.filename})" if exc.filename else ""
        return f"cannot write the export file: {what}{where}"
    if isinstance(exc, SourceError):
        return exc.text()
    if isinstance(exc, Cancelled):
        return "interrupted"
    return f"{type(exc).__name__}: {exc}"


def execute_run(
    settings: Settings,
    exports_dir,
    store: Store,
    open_source: Callable[[], Source],
    run: Run,
    stored: StoredRequest,
    *,
    sink: EventSink = ignore,
    on_progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    cancelled_by: Callable[[], str | None] | None = None,
    retry_at: Callable[[Run], float | None] | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> Run:
    """Export a claimed (inProgress) run and record how it ended (at `clock`'s time: when its
    readings were counted, from which the late-data check counts `late_check_every`).

    The source is opened here, so one that cannot be opened fails the run (and is retried)
    like one that fails mid-read.

    Two ways to stop it, both checked at each progress step: `should_stop` (shutdown, a dropped
    terminal) stops it as "interrupted" and queues it again at once, like a crash; a cancel
    (`cancel_run` from any process, or `cancelled_by` naming who cancels it from this one, as
    Ctrl-C does) ends it failed "cancelled by <user>" and it is not retried. Either way its
    partial files are removed.

    When it fails and `retry_at` gives a time, the run goes back to the queue in the same row
    (attempt + 1) and nobody is notified yet; otherwise it ends failed and onFailure messages go.

    It beats while it runs (service/heartbeat.py). Every write of its progress and its end holds
    only while the run is still this attempt's claim: one taken over after this process stalled
    stops, records nothing (a file it had published is removed) and returns the run as it is.
    """
    sink(RunEvent(EventKind.STARTED, f"run {run.id[:8]} of {stored.short_id} started (attempt {run.attempt})", run.id, stored.id))
    last = [0.0]
    cancel: list[str | None] = [run.cancel_requested]

    def cancelled() -> str | None:
        """The run's cancel reason, once someone asked; a cancel from this process is written
        to the store first, so there is one way a run gets cancelled."""
        who = cancelled_by() if cancelled_by and cancel[0] is None else None
        if who:
            cancel[0] = cancel_run(store, run.id, who).cancel_requested
        return cancel[0]

    beat = Heartbeat(store, run.id, run.claimed_by, settings.scheduler.heartbeat_timeout / 4, clock)

    def stop() -> bool:
        return cancelled() is not None or beat.lost.is_set() or bool(should_stop and should_stop())

    read = [0]

    def progress(done: int, total: int | None) -> None:
        read[0] = done
        if on_progress:
            on_progress(done, total)
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY or (total is not None and done >= total):
            last[0] = now
            cancel[0] = store.runs.update_progress(run.id, done, total, holder) or cancel[0]
            sink(RunEvent(EventKind.PROGRESS, f"{done}/{total if total is not None else '?'} readings", run.id, stored.id, done, total))
        elif cancel[0] is None:
            cancel[0] = store.runs.cancel_requested(run.id)

    holder = run.claimed_by
    with beat:
        try:
            try:
                if stop():
                    raise Cancelled("stopped before the export started")
                windows = job_windows(run, stored)
                store.runs.set_item_windows(run.id, windows)  # the request may have been edited since the run was queued
                job = ExportJob(stored.request, stored.id, run.id, windows, run.attempt, supersedes=_superseded(store, run))
                source = open_source()
                try:
                    result = run_export(job, source, settings.exports, exports_dir, on_progress=progress, should_stop=stop)
                finally:
                    if isinstance(source, Noting):
                        for note in source.take_notes():
                            store.run_log.add(run.id, "info", note)
                    source.close()
            except Exception as exc:  # every failure of an export ends the run, with its reason
                by = cancelled()  # a worker killed by the same Ctrl-C fails otherwise; the cancel is the reason
                reason = by or failure_reason(exc)
                if by:
                    when = None
                elif isinstance(exc, Cancelled):  # stopped, not broken: due again at once
                    when = time.time()
                else:
                    when = retry_at(run) if retry_at else None
                # The end is written first: an attempt taken over (TakenOver here) logs nothing
                # of its own failure into the run that is now another attempt's.
                if when is not None:
                    requeued = store.runs.requeue(run.id, reason, when, holder)
                    store.run_log.add(run.id, "error", reason)
                    sink(
                        RunEvent(EventKind.FAILED, f"run {run.id[:8]} failed: {reason}; retry {requeued.attempt} queued", run.id, stored.id)
                    )
                    return requeued
                # The readings it got through, not its last periodic progress write.
                finished = store.runs.finish(run.id, RunStatus.FAILED, error=reason, progress=read[0], holder=holder)
                store.run_log.add(run.id, "error", reason)
                sink(RunEvent(EventKind.FAILED, f"run {run.id[:8]} failed: {reason}", run.id, stored.id))
                notify_outcome(settings, store, stored, finished, sink)
                return finished
            for warning in result.warnings:
                store.run_log.add(run.id, "warning", warning)
                sink(RunEvent(EventKind.WARNING, warning, run.id, stored.id))
            try:
                finished = store.runs.finish(
                    run.id,
                    RunStatus.DONE,
                    rows=result.rows,
                    progress=read[0],
                    file_name=result.file_name,
                    file_extension=result.extension,
                    file_path=str(result.path),
                    sha256=result.sha256,
                    counts=result.counts,
                    now=clock(),
                    holder=holder,
                )
            except TakenOver:
                remove_partials(result.path.parent, run.id, run.attempt)  # its own file only: the new attempt's stays
                raise
            store.run_log.add(run.id, "info", f"wrote {result.rows} rows to {result.path} (sha256 {result.sha256[:12]})")
            sink(
                RunEvent(
                    EventKind.DONE,
                    f"run {run.id[:8]} done: {result.rows} rows -> {result.path}",
                    run.id,
                    stored.id,
                    finished.progress,
                    finished.total,
                )
            )
            notify_outcome(settings, store, stored, finished, sink)
            return finished
        except TakenOver as e:  # this attempt stalled and the run runs again elsewhere: leave it to that one
            store.run_log.add(run.id, "warning", str(e))
            sink(RunEvent(EventKind.WARNING, str(e), run.id, stored.id))
            return store.runs.get(run.id)


def _superseded(store: Store, run: Run) -> dict[str, str | None] | None:
    """A rerun's manifest names the run whose file it corrects, and that file's digest."""
    if run.supersedes is None:
        return None
    old = store.runs.get(run.supersedes)
    return {"runId": old.id, "sha256": old.sha256}


def cancel_run(store: Store, run_id: str, actor: str) -> Run:
    """Cancel a run, from the CLI, the TUI or the HTTP API: a queued one ends failed "cancelled
    by <actor>" at once; a running one, in whatever process, stops at its next progress step,
    ends the same way with its partial files removed, and is not retried."""
    return store.runs.cancel(run_id, actor)


def notify_outcome(settings: Settings, store: Store, stored: StoredRequest, run: Run, sink: EventSink = ignore) -> None:
    """Send the request's messages whose policy matches, recording every outcome; none for a run
    queued with its messages off (a backfill without --notify), which its log says."""
    note = stored.request.notification
    if note is None or not note.messages:
        return
    if run.notify == 0:
        store.run_log.add(run.id, "info", f"{len(note.messages)} notification(s) not sent: a backfill run notifies only with --notify")
        return
    from exporter_tui.notify.dispatch import notify_run
    from exporter_tui.notify.outcome import NotificationContext

    w = run.as_json()["window"]
    ctx = NotificationContext(
        request_id=stored.id,
        run_id=run.id,
        status=run.status,
        rows=run.rows,
        file_name=run.file_name,
        file_path=run.file_path,
        window_from=w["from"],
        window_to=w["to"],
        error=run.error,
    )

    def record(outcome) -> None:
        store.notifications.record(
            run.id, stored.id, outcome.medium, outcome.target, outcome.policy, outcome.status, outcome.attempts, outcome.error, outcome.at
        )
        detail = f" after {outcome.attempts} attempt(s)" + (f": {outcome.error}" if outcome.error else "")
        sink(RunEvent(EventKind.NOTIFICATION, f"{outcome.medium} to {outcome.target}: {outcome.status}{detail}", run.id, stored.id))

    attachment = Path(run.file_path) if run.file_path else None
    notify_run(note.messages, ctx, settings.notify, on_outcome=record, attachment=attachment)


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
