"""The scheduler's writes, each a conditional change in one SQLite transaction.

Any number of schedulers (the TUI, headless ones, `run-due` from cron) may share a database,
and none relies on being alone: deciding an interval (its skip events and its run), taking
over a dead run (`Store.fail_stale_run`) and expiring a file (`Store.expire_done_run`) each
happen in one `BEGIN IMMEDIATE` transaction that re-reads the state first, so only one
scheduler ever does each of them. The SQL lives in the store; this module says what it means.

A request's *watermark* is the end of the newest interval already considered: the newest
nominal time among its runs, or the `through` of its newest skip event, whichever is later.
"""

from __future__ import annotations

from datetime import datetime

from exporter_tui.core.schedule import Schedule
from exporter_tui.scheduler.planner import (
    Decision,
    Rules,
    decide,
    skip_detail,
    watermark,
)
from exporter_tui.store.store import Run, Store, StoredRequest

ACTOR = "scheduler"


def considered_through(store: Store, request_id: str) -> float | None:
    """The request's watermark (Unix seconds), or None when no interval was considered yet."""
    found = [t for t in (store.newest_nominal_time(request_id), store.newest_skip_through(request_id)) if t is not None]
    return max(found) if found else None


def last_pause(store: Store, request_id: str) -> tuple[datetime, datetime] | None:
    """(paused at, resumed at) of the request's latest pause, once it has been resumed."""
    stamps = store.last_pause(request_id)
    return None if stamps is None else (_parse(stamps[0]), _parse(stamps[1]))


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def current_decision(store: Store, stored: StoredRequest, schedule: Schedule, now: datetime, rules: Rules) -> Decision:
    """What the scheduler would do for this request now, read from the database (no writes)."""
    considered = watermark(schedule, considered_through(store, stored.id))
    return decide(schedule, considered, now, rules, last_pause(store, stored.id))


def decide_and_claim(
    store: Store,
    stored: StoredRequest,
    schedule: Schedule,
    now: datetime,
    rules: Rules,
    *,
    holder: str,
    stamp: datetime,
    max_queued: int | None,
) -> tuple[Run | None, list[dict]]:
    """Decide the request's intervals at `now` and claim the oldest one to run, in one transaction.

    Writes one skip event per skip decision and creates the interval's run inProgress (origin
    `schedule`, claimed by `holder`). Returns the claimed run (None when nothing is to run, or
    the request is running, or the queue is full: the interval then waits for a later tick) and
    the details of the skip events written. A second scheduler doing the same at the same time
    finds the watermark moved and does nothing twice; the unique (request, nominal time) index
    backs this up.
    """
    with store.transaction() as conn:
        decision = current_decision(store, stored, schedule, now, rules)
        written = []
        for skip in decision.skips:
            detail = skip_detail(schedule, skip)
            store.record_audit("skip", ACTOR, "request", stored.id, detail, stamp)
            written.append(detail)
        if not decision.runs:
            return None, written
        interval = schedule.interval(decision.runs[0])
        run_id = store.claim_interval_in(conn, stored.id, interval.end.timestamp(), interval.bounds, holder, stamp, max_queued)
    return (None if run_id is None else store.get_run(run_id)), written
