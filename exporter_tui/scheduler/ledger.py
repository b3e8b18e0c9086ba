"""The scheduler's writes, each a conditional change in one SQLite transaction.

Any number of schedulers (the TUI, headless ones, `run-due` from cron) may share a database,
and none relies on being alone: deciding an interval (its skip events and its run), taking
over a dead run (`store.runs.take_stale`; its recovery ends with `end_recovery`) and expiring
a file (`store.runs.expire_done`) each happen in one `BEGIN IMMEDIATE` transaction that
re-reads the state first, so only one scheduler ever does each of them. The SQL lives in the store; this module says what it means.

A request's *watermark* is the end of the newest interval already considered: the newest
nominal time among its runs, or the `through` of its newest skip event, whichever is later.
A backfill run counts like a scheduled one (scheduler/backfill.py says why that is safe).
"""

from __future__ import annotations

from datetime import datetime

from exporter_tui.core.enums import Origin, RunStatus
from exporter_tui.core.schedule import Schedule
from exporter_tui.core.times import parse_iso
from exporter_tui.scheduler.planner import (
    PAUSED_REASON,
    Decision,
    Rules,
    SkipRange,
    decide,
    decisions,
    interval_bounds,
    skip_detail,
    watermark,
)
from exporter_tui.store.errors import LimitReached
from exporter_tui.store.requests import StoredRequest
from exporter_tui.store.runs import Run
from exporter_tui.store.store import Store

ACTOR = "scheduler"


def considered_through(store: Store, request_id: str) -> float | None:
    """The request's watermark (Unix seconds), or None when no interval was considered yet."""
    found = [t for t in (store.runs.newest_nominal_time(request_id), store.audit.newest_skip_through(request_id)) if t is not None]
    return max(found) if found else None


def last_pause(store: Store, request_id: str) -> tuple[datetime, datetime] | None:
    """(paused at, resumed at) of the request's latest pause, once it has been resumed."""
    stamps = store.audit.last_pause(request_id)
    return None if stamps is None else (_parse(stamps[0]), _parse(stamps[1]))


def _parse(stamp: str) -> datetime:
    return parse_iso(stamp)


def current_decision(store: Store, stored: StoredRequest, schedule: Schedule, now: datetime, rules: Rules) -> tuple[Decision, float | None]:
    """What the scheduler would do for this request now, and the watermark's instant, read from the database (no writes)."""
    through = considered_through(store, stored.id)
    return decide(schedule, watermark(schedule, through), now, rules, last_pause(store, stored.id)), through


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
    with store.transaction():
        decision, through = current_decision(store, stored, schedule, now, rules)
        written = []
        for skip in decision.skips:
            detail = skip_detail(schedule, skip, through)
            store.audit.record("skip", ACTOR, "request", stored.id, detail, stamp)
            written.append(detail)
            through = detail["through"]
        if not decision.runs:
            return None, written
        bounds = interval_bounds(schedule, decision.runs[0], through)
        run_id = store.runs.claim_interval_in(stored.id, bounds[1], bounds, holder, stamp, max_queued)
    return (None if run_id is None else store.runs.get(run_id)), written


def claim_by_hand(
    store: Store,
    stored: StoredRequest,
    schedule: Schedule,
    k: int,
    now: datetime,
    rules: Rules,
    *,
    origin: Origin,
    holder: str,
    stamp: datetime,
) -> Run | None:
    """`run ID` takes interval k (the newest that has ended) before the scheduler does, in one transaction.

    The intervals before k are decided as the scheduler would decide them (skip events; under
    catch-up `all` they are queued as scheduled runs), so taking k never hides one; then k's run
    is created inProgress with the caller's origin, and the scheduler never runs k again.
    None when k already has a run; LimitReached (nothing written) when the request is running.
    """
    with store.transaction():
        if store.runs.of_interval(stored.id, schedule.at(k).timestamp()) is not None:
            return None
        if store.runs.running(stored.id) is not None:
            raise LimitReached("the request is already running; wait for its run to finish")
        decide_before(store, stored, schedule, k, now, rules, stamp)
        interval = schedule.interval(k)
        run_id = store.runs.claim_interval_in(stored.id, interval.end.timestamp(), interval.bounds, holder, stamp, None, origin=origin)
    return None if run_id is None else store.runs.get(run_id)


def decide_before(store: Store, stored: StoredRequest, schedule: Schedule, k: int, now: datetime, rules: Rules, stamp: datetime) -> int:
    """Inside an open transaction: decide the undecided intervals before k as the scheduler would
    at `now` (skip events; under catch-up `all`, scheduled runs queued), so that giving k a run
    (which moves the watermark to k) never hides one. Returns the number of runs queued."""
    considered = watermark(schedule, considered_through(store, stored.id))
    if k - 1 <= considered:
        return 0
    if stored.paused:  # the scheduler decides nothing while paused; what k passes over was paused
        decision = Decision(range(0), (SkipRange(considered + 1, k - 1, PAUSED_REASON),), rules.policy)
    else:
        decision = _merged(list(decisions(schedule, considered, now, rules, last_pause(store, stored.id))), rules.policy)
    for skip in decision.skips:
        if skip.first < k:
            store.audit.record(
                "skip",
                ACTOR,
                "request",
                stored.id,
                skip_detail(schedule, SkipRange(skip.first, min(skip.last, k - 1), skip.reason)),
                stamp,
            )
    queued = 0
    for j in decision.runs:
        if j < k:
            before = schedule.interval(j)
            store.runs.insert(stored.id, Origin.SCHEDULE, before.bounds, before.end.timestamp(), RunStatus.NOT_PROCESSED, stamp)
            queued += 1
    return queued


def _merged(steps: list[Decision], policy: str) -> Decision:
    """The decisions a scheduler would take in turn, as one: every skip, and every run (a tuple, not a range, once days cut it)."""
    runs = tuple(k for d in steps for k in d.runs)
    return Decision(runs, tuple(s for d in steps for s in d.skips), policy)
