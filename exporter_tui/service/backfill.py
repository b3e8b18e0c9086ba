"""Backfill as the front ends offer it (`exporter-tui backfill`, the TUI's `b`): preview, queue,
and run in the foreground. What a backfill takes is scheduler/backfill.py's."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

from exporter_tui.context import Context
from exporter_tui.core.enums import RunStatus
from exporter_tui.core.schedule import Schedule
from exporter_tui.core.times import utc_now
from exporter_tui.events import EventSink, ignore
from exporter_tui.scheduler.backfill import BackfillPlan, plan_backfill, queue_backfill
from exporter_tui.scheduler.planner import Rules
from exporter_tui.scheduler.schedules import schedule_of
from exporter_tui.service.scheduling import make_scheduler
from exporter_tui.store.requests import StoredRequest
from exporter_tui.store.runs import Run
from exporter_tui.store.store import Store

ONE_TIME = "request {id} is oneTime: it has no schedule of intervals to backfill (run it with `run ID --from T --to T` instead)"


def backfill_schedule(ctx: Context, stored: StoredRequest) -> Schedule:
    """The schedule a backfill follows; ValueError for a oneTime request."""
    if stored.request.type != "recurring":
        raise ValueError(ONE_TIME.format(id=stored.short_id))
    return schedule_of(stored, ctx.settings.scheduler.delay)


def preview(ctx: Context, store: Store, stored: StoredRequest, start: datetime, end: datetime, now: datetime | None = None) -> BackfillPlan:
    """What a backfill of [start, end] would queue and leave alone; writes nothing."""
    return plan_backfill(store, stored, backfill_schedule(ctx, stored), start, end, now or utc_now())


def queue(
    ctx: Context, store: Store, stored: StoredRequest, start: datetime, end: datetime, *, notify: bool, now: datetime | None = None
) -> tuple[BackfillPlan, list[str]]:
    """Queue the backfill in one transaction (BackfillTooBig, nothing queued, past `max_queued_runs`);
    the plan and the ids of the runs queued, oldest first. Any scheduler runs them from then on."""
    return queue_backfill(
        store,
        stored,
        backfill_schedule(ctx, stored),
        start,
        end,
        now or utc_now(),
        Rules.of(stored.request, ctx.settings.scheduler),
        actor=ctx.actor,
        notify=notify,
        max_queued=ctx.settings.limits.max_queued_runs,
    )


def to_finish(plan: BackfillPlan, queued: list[str]) -> list[str]:
    """The runs a foreground backfill sees through, oldest interval first: those it queued and
    those of its range that are still queued or running (an earlier backfill's, say)."""
    open_ones = {RunStatus.NOT_PROCESSED, RunStatus.IN_PROGRESS}
    pending = [(i.k, r.id) for i, r in plan.left_alone if r.status in open_ones]
    return [run_id for _, run_id in sorted([*pending, *zip((i.k for i in plan.to_queue), queued, strict=True)])]


def run_backfill(
    ctx: Context,
    store: Store,
    run_ids: list[str],
    stop: threading.Event,
    *,
    on_ended: Callable[[Run], None] = lambda run: None,
    sink: EventSink = ignore,
) -> list[Run]:
    """Run a backfill's runs in this thread, oldest first, until each has ended (see Scheduler.finish)."""
    return make_scheduler(ctx, store, sink=sink).finish(run_ids, stop, on_ended)
