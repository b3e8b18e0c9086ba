"""The scheduler's writes, each a conditional change in one SQLite transaction.

Any number of schedulers (the TUI, headless ones, `run-due` from cron) may share a database,
and none relies on being alone: deciding an interval (its skip events and its run), taking
over a dead run and expiring a file each happen in one `BEGIN IMMEDIATE` transaction that
re-reads the state first, so only one scheduler ever does each of them.

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
from exporter_tui.store.timeutil import iso

SKIP_ACTION = "exporter:exports:skip"
ACTOR = "scheduler"


def considered_through(store: Store, request_id: str) -> float | None:
    """The request's watermark (Unix seconds), or None when no interval was considered yet."""
    ran = store.query("SELECT max(nominal_time) AS t FROM runs WHERE request_id = ?", (request_id,))[0]["t"]
    skipped = store.query(
        "SELECT max(json_extract(detail, '$.through')) AS t FROM audit WHERE entity_id = ? AND action = ?",
        (request_id, SKIP_ACTION),
    )[0]["t"]
    found = [t for t in (ran, skipped) if t is not None]
    return max(found) if found else None


def last_pause(store: Store, request_id: str) -> tuple[datetime, datetime] | None:
    """(paused at, resumed at) of the request's latest pause, once it has been resumed."""
    rows = store.query(
        "SELECT action, at FROM audit WHERE entity_id = ? AND action IN ('exporter:exports:pause', 'exporter:exports:resume')"
        " ORDER BY id DESC LIMIT 2",
        (request_id,),
    )
    if len(rows) == 2 and rows[0]["action"].endswith(":resume") and rows[1]["action"].endswith(":pause"):
        return _parse(rows[1]["at"]), _parse(rows[0]["at"])
    return None


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


def mark_interrupted(store: Store, run_id: str, older_than: float, stamp: datetime) -> bool:
    """Fail a run whose heartbeat stopped before `older_than` with the reason "interrupted".

    True for the one scheduler that did it; it then owns the retry or the final failure."""
    with store.transaction() as conn:
        changed = conn.execute(
            "UPDATE runs SET status = 'failed', error = 'interrupted', finished_at = ?"
            " WHERE id = ? AND status = 'inProgress' AND coalesce(heartbeat_at, 0) < ?",
            (iso(stamp), run_id, older_than),
        ).rowcount
    return changed == 1


def expire_done(store: Store, run_id: str, stamp: datetime) -> bool:
    """Mark a done run expired (with its audit event); True for the one scheduler that did it."""
    with store.transaction() as conn:
        changed = conn.execute("UPDATE runs SET status = 'expired' WHERE id = ? AND status = 'done'", (run_id,)).rowcount
        if changed:
            store.record_audit("expire", "retention", "run", run_id, {}, stamp)
    return changed == 1
