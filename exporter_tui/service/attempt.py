"""One attempt at a claimed run: export it, record how it ended, notify. The scheduler, the
manual runs (runs.py) and the late-data reruns all execute a run here."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from exporter_tui.config import Settings
from exporter_tui.core.enums import EventKind, RunStatus
from exporter_tui.core.schedule import item_windows
from exporter_tui.core.times import utc_now
from exporter_tui.events import EventSink, RunEvent, ignore
from exporter_tui.pipeline.export import Cancelled, ExportJob, ExportResult, run_export
from exporter_tui.pipeline.files import remove_partials
from exporter_tui.service.heartbeat import Heartbeat
from exporter_tui.sources.base import Noting, Source, SourceError
from exporter_tui.store.errors import TakenOver
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
    exports_dir: Path,
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
    stops, records nothing but a warning (its own leftovers are removed) and returns the run as
    the attempt that holds it now left it.
    """
    attempt = _Attempt(settings, store, run, stored, sink, on_progress, should_stop, cancelled_by, clock)
    sink(RunEvent(EventKind.STARTED, f"run {run.id[:8]} of {stored.short_id} started (attempt {run.attempt})", run.id, stored.id))
    with attempt.beat:
        try:
            try:
                result = attempt.export(exports_dir, open_source)
            except TakenOver:
                raise
            except Exception as exc:  # every failure of an export ends the run, with its reason
                return attempt.failed(exc, retry_at)
            return attempt.done(result)
        except TakenOver as e:
            return attempt.taken_over(e)


class _Attempt:
    """What one attempt knows while it runs: its claim, its progress, whether it was asked to
    stop; and how it records its end. Every write of it holds only while `holder` holds the run."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        run: Run,
        stored: StoredRequest,
        sink: EventSink,
        on_progress: Progress | None,
        should_stop: Callable[[], bool] | None,
        cancelled_by: Callable[[], str | None] | None,
        clock: Callable[[], datetime],
    ) -> None:
        self.settings, self.store, self.run, self.stored, self.sink = settings, store, run, stored, sink
        self.on_progress, self.should_stop, self.cancelled_by, self.clock = on_progress, should_stop, cancelled_by, clock
        self.holder = run.claimed_by
        self.beat = Heartbeat(store, run.id, self.holder, settings.scheduler.heartbeat_timeout / 4, clock)
        self.cancel: str | None = run.cancel_requested
        self.read = 0  # readings read so far
        self._last_write = 0.0

    def _event(self, kind: EventKind, text: str, done: int | None = None, total: int | None = None) -> None:
        self.sink(RunEvent(kind, text, self.run.id, self.stored.id, done, total))

    def cancelled(self) -> str | None:
        """The run's cancel reason, once someone asked; a cancel from this process is written
        to the store first, so there is one way a run gets cancelled."""
        who = self.cancelled_by() if self.cancelled_by and self.cancel is None else None
        if who:
            self.cancel = self.store.runs.cancel(self.run.id, who).cancel_requested
        return self.cancel

    def stop(self) -> bool:
        return self.cancelled() is not None or self.beat.lost.is_set() or bool(self.should_stop and self.should_stop())

    def progress(self, done: int, total: int | None) -> None:
        self.read = done
        if self.on_progress:
            self.on_progress(done, total)
        now = time.monotonic()
        if now - self._last_write >= PROGRESS_EVERY or (total is not None and done >= total):
            self._last_write = now
            self.cancel = self.store.runs.update_progress(self.run.id, done, total, self.holder) or self.cancel
            self._event(EventKind.PROGRESS, f"{done}/{total if total is not None else '?'} readings", done, total)
        elif self.cancel is None:
            self.cancel = self.store.runs.cancel_requested(self.run.id)

    def export(self, exports_dir: Path, open_source: Callable[[], Source]) -> ExportResult:
        if self.stop():
            raise Cancelled("stopped before the export started")
        run, stored = self.run, self.stored
        windows = job_windows(run, stored)
        self.store.runs.set_item_windows(run.id, windows)  # the request may have been edited since the run was queued
        job = ExportJob(stored.request, stored.id, run.id, windows, run.attempt, supersedes=_superseded(self.store, run))
        source = open_source()
        try:
            return run_export(job, source, self.settings.exports, exports_dir, on_progress=self.progress, should_stop=self.stop)
        finally:
            if isinstance(source, Noting):
                for note in source.take_notes():
                    self.store.run_log.add(run.id, "info", note)
            source.close()

    def failed(self, exc: Exception, retry_at: Callable[[Run], float | None] | None) -> Run:
        """The end of a failed export: queued again (a stop, or a failure with a retry left) or
        failed for good. The end is written before the error line, so an attempt taken over
        (TakenOver here) logs nothing of its own failure into a run that is another attempt's."""
        by = self.cancelled()  # a worker killed by the same Ctrl-C fails otherwise; the cancel is the reason
        reason = by or failure_reason(exc)
        if by:
            when = None
        elif isinstance(exc, Cancelled):  # stopped, not broken: due again at once
            when = time.time()
        else:
            when = retry_at(self.run) if retry_at else None
        if when is not None:
            requeued = self.store.runs.requeue(self.run.id, reason, when, self.holder)
            self.store.run_log.add(self.run.id, "error", reason)
            self._event(EventKind.FAILED, f"run {self.run.id[:8]} failed: {reason}; retry {requeued.attempt} queued")
            return requeued
        # The readings it got through, not its last periodic progress write.
        finished = self.store.runs.finish(self.run.id, RunStatus.FAILED, error=reason, progress=self.read, holder=self.holder)
        self.store.run_log.add(self.run.id, "error", reason)
        self._event(EventKind.FAILED, f"run {self.run.id[:8]} failed: {reason}")
        notify_outcome(self.settings, self.store, self.stored, finished, self.sink)
        return finished

    def done(self, result: ExportResult) -> Run:
        run = self.run
        for warning in result.warnings:
            self.store.run_log.add(run.id, "warning", warning)
            self._event(EventKind.WARNING, warning)
        try:
            finished = self.store.runs.finish(
                run.id,
                RunStatus.DONE,
                rows=result.rows,
                progress=self.read,
                file_name=result.file_name,
                file_extension=result.extension,
                file_path=str(result.path),
                sha256=result.sha256,
                counts=result.counts,
                now=self.clock(),
                holder=self.holder,
            )
        except TakenOver:
            remove_partials(result.path.parent, run.id, run.attempt)  # its own file only: the new attempt's stays
            raise
        self.store.run_log.add(run.id, "info", f"wrote {result.rows} rows to {result.path} (sha256 {result.sha256[:12]})")
        self._event(EventKind.DONE, f"run {run.id[:8]} done: {result.rows} rows -> {result.path}", finished.progress, finished.total)
        notify_outcome(self.settings, self.store, self.stored, finished, self.sink)
        return finished

    def taken_over(self, e: TakenOver) -> Run:
        """This attempt stalled and the run runs again elsewhere: leave it to that one."""
        self.store.run_log.add(self.run.id, "warning", str(e))
        self._event(EventKind.WARNING, str(e))
        return self.store.runs.get(self.run.id)


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


def _superseded(store: Store, run: Run) -> dict[str, str | None] | None:
    """A rerun's manifest names the run whose file it corrects, and that file's digest."""
    if run.supersedes is None:
        return None
    old = store.runs.get(run.supersedes)
    return {"runId": old.id, "sha256": old.sha256}
