"""Late data: readings that reach the source after a run exported their window, and reruns.

Gateways buffer and forward, so readings for 23:58 may land at 00:03, after the run of that
interval wrote its file. A done run stores each target's readings in its window as the export
counted them; the scheduler has them counted again (which runs, and when, is its business:
scheduler/service.py) and an increase is late data: the run's `lateReadings` grows and its log
gets a `late:` note. `runs rerun` writes a corrected file as a new run (origin `rerun`); a request
with `rerunLate = true` has that done by the scheduler, at most once per interval.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from exporter_tui.context import Context
from exporter_tui.core.enums import EventKind
from exporter_tui.events import EventSink, RunEvent, ignore
from exporter_tui.pipeline.export import late_readings
from exporter_tui.scheduler.service import holder_id
from exporter_tui.service.attempt import Progress, execute_run
from exporter_tui.sources.base import Source
from exporter_tui.store.errors import LimitReached, NotFound
from exporter_tui.store.runs import Run
from exporter_tui.store.store import Store

ACTOR = "scheduler"


def check_late(store: Store, source: Source, run: Run, *, max_queued: int | None = None, sink: EventSink = ignore) -> int:
    """Count a done run's targets again; the readings that arrived after its export (0: none).

    A new increase is noted in the run's log and told to `sink`; with the request's `rerunLate`
    a rerun is queued unless the interval already had one (a running request or a full queue:
    the next check tries again)."""
    if not run.target_counts:
        return 0
    late = late_readings(source, json.loads(run.target_counts))
    if late and store.runs.record_late(run.id, late):
        w = run.as_json()["window"]
        note = f"late: {late} reading(s) reached the source after the export of {w['from']} .. {w['to']}; `runs rerun {run.id[:8]}` writes a corrected file"
        store.run_log.add(run.id, "warning", note)
        sink(RunEvent(EventKind.WARNING, f"run {run.id[:8]}: {note}", run.id, run.request_id))
    if late:
        _rerun_once(store, run, max_queued, sink)
    return late


def _rerun_once(store: Store, run: Run, max_queued: int | None, sink: EventSink) -> None:
    try:
        stored = store.requests.get(run.request_id)
    except NotFound:
        return
    if not stored.request.rerun_late or stored.paused:
        return
    try:
        rerun = store.runs.rerun(run.id, ACTOR, once=True, max_queued=max_queued)
    except LimitReached:
        return
    if rerun is not None:
        note = f"late: rerun {rerun.id[:8]} queued (rerunLate)"
        store.run_log.add(run.id, "info", note)
        sink(RunEvent(EventKind.INFO, f"run {run.id[:8]}: {note}", run.id, run.request_id))


def rerun_now(
    ctx: Context,
    run_id: str,
    *,
    on_progress: Progress | None = None,
    sink: EventSink = ignore,
    should_stop: Callable[[], bool] | None = None,
    cancelled_by: Callable[[], str | None] | None = None,
) -> Run:
    """`runs rerun RUN_ID`: export the run's interval again now, in this thread, as a new run
    (see store.runs.rerun) whose manifest names the file it supersedes; the old file stays."""
    with ctx.open_store() as store:
        queued = store.runs.rerun(run_id, ctx.actor)  # it starts at once: max_queued_runs never refuses it
        assert queued is not None  # only `once` finds an earlier rerun
        claimed = store.runs.claim(queued.id, holder_id())
        if claimed is None:  # a scheduler took it first: it runs there
            raise LimitReached(f"rerun {queued.id} was taken by a scheduler; follow it with runs show {queued.id[:8]}")
        stored = store.requests.get(claimed.request_id)
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
