"""Backfill: one run (origin `backfill`) for each interval of a request's schedule in a past range.

The intervals taken are those with from <= t_(k-1) and t_k <= to that run at all (`days`,
`periodEnd`) and whose run time t_k + delay has come; an interval that already has a run, of
any origin, is left alone. A backfill run is the interval's run: it has the interval's nominal
time, so the unique (request, nominal time) index and the watermark count it and no scheduler
runs that interval again. So that moving the watermark never hides an interval, queuing first
decides the undecided intervals before the range as the scheduler would (`ledger.decide_before`)
and records the ones of the range off the listed days as skipped; both are no-ops when the
range lies behind what the scheduler has already considered, the usual case.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from exporter_tui.core.enums import Origin, RunStatus
from exporter_tui.core.schedule import Interval, Schedule
from exporter_tui.core.times import iso, utc_now
from exporter_tui.scheduler import ledger
from exporter_tui.scheduler.planner import DAYS_REASON, Rules, SkipRange, skip_detail, watermark
from exporter_tui.store.errors import LimitReached
from exporter_tui.store.requests import StoredRequest
from exporter_tui.store.runs import Run
from exporter_tui.store.store import Store

MAX_INTERVALS = 100_000  # intervals one backfill may span (a minute schedule over two months)


class BackfillTooBig(LimitReached):
    """Queuing the backfill would pass `limits.max_queued_runs`; nothing was queued."""

    def __init__(self, count: int, queued: int, limit: int):
        super().__init__(
            f"backfill refused: it would queue {count} run(s) and {queued} are queued already, "
            f"more than limits.max_queued_runs = {limit}; nothing was queued (backfill a shorter range)"
        )
        self.count = count
        self.queued = queued
        self.limit = limit

    def body(self) -> dict:
        return {"detail": str(self), "count": self.count, "queued": self.queued, "limit": self.limit, "validationErrors": []}


@dataclass(frozen=True)
class BackfillPlan:
    """What a backfill of [start, end] takes: the intervals to queue, and those left alone (with their run)."""

    start: datetime
    end: datetime
    first: int  # the range's first interval
    to_queue: list[Interval]
    left_alone: list[tuple[Interval, Run]]
    off_days: list[tuple[int, int]]  # ranges of intervals in the range not on a listed day
    not_due: int  # intervals in the range whose run time has not come (the scheduler's)

    def as_json(self) -> dict:
        return {
            "from": iso(self.start),
            "to": iso(self.end),
            "count": len(self.to_queue),
            "toQueue": [_window(i) for i in self.to_queue],
            "leftAlone": [{**_window(i), "runId": r.id, "status": r.status, "origin": r.origin} for i, r in self.left_alone],
            "offDays": sum(b - a + 1 for a, b in self.off_days),
            "notDue": self.not_due,
        }

    def describe(self, limit: int | None = None, when: Callable[[datetime], str] = iso) -> list[str]:
        """The preview in lines: how many, the first and last window, and what is left alone
        (the first `limit` of those, and how many more); `when` writes each instant (the TUI's clock)."""
        lines = [f"{len(self.to_queue)} interval(s) to queue"]
        if self.to_queue:
            lines.append(f"  first  {window_text(self.to_queue[0], when)}")
            if len(self.to_queue) > 1:
                lines.append(f"  last   {window_text(self.to_queue[-1], when)}")
        if self.left_alone:
            lines.append(f"{len(self.left_alone)} interval(s) already have a run, left alone:")
            shown = self.left_alone if limit is None else self.left_alone[:limit]
            lines.extend(f"  {window_text(i, when)}  run {r.id[:8]} {r.status} ({r.origin})" for i, r in shown)
            if len(shown) < len(self.left_alone):
                lines.append(f"  ... and {len(self.left_alone) - len(shown)} more")
        skipped = sum(b - a + 1 for a, b in self.off_days)
        if skipped:
            lines.append(f"{skipped} interval(s) not on the request's days, not run")
        if self.not_due:
            lines.append(f"{self.not_due} interval(s) not due yet, left to the scheduler")
        return lines


def window_text(interval: Interval, when: Callable[[datetime], str] = iso) -> str:
    return f"{when(interval.start)} .. {when(interval.end)}"


def _window(interval: Interval) -> dict:
    return {"k": interval.k, "window": {"from": iso(interval.start), "to": iso(interval.end)}}


def plan_backfill(store: Store, stored: StoredRequest, schedule: Schedule, start: datetime, end: datetime, now: datetime) -> BackfillPlan:
    """The intervals a backfill of [start, end] takes at `now`; reads, writes nothing.
    ValueError when the range is backwards; LimitReached when it spans more than MAX_INTERVALS."""
    if end <= start:
        raise ValueError("--to must be after --from")
    first = _first_starting_at(schedule, start)
    last = schedule.last_index_at(end)
    if schedule.last is not None:
        last = min(last, schedule.last)
    if last - first + 1 > MAX_INTERVALS:
        raise LimitReached(
            f"backfill refused: the range spans {last - first + 1} intervals, more than {MAX_INTERVALS}; give a shorter range"
        )
    due = min(last, schedule.last_due_at(now))
    if due < first:
        return BackfillPlan(start, end, first, [], [], [], max(0, last - first + 1))
    existing = store.runs.of_intervals(stored.id, schedule.at(first).timestamp(), schedule.at(due).timestamp())
    to_queue: list[Interval] = []
    left: list[tuple[Interval, Run]] = []
    off: list[tuple[int, int]] = []
    for a, b, listed in schedule.day_ranges(first, due):
        if not listed:
            off.append((a, b))
            continue
        for k in range(a, b + 1):
            interval = schedule.interval(k)
            run = existing.get(interval.end.timestamp())
            if run is None:
                to_queue.append(interval)
            else:
                left.append((interval, run))
    return BackfillPlan(start, end, first, to_queue, left, off, last - due)


def _first_starting_at(schedule: Schedule, start: datetime) -> int:
    """The first interval k with t_(k-1) >= start."""
    if start <= schedule.at(0):
        return 1
    j = schedule.last_index_at(start)  # t_j <= start < t_(j+1)
    return j + 1 if schedule.at(j) == start else j + 2


def queue_backfill(
    store: Store,
    stored: StoredRequest,
    schedule: Schedule,
    start: datetime,
    end: datetime,
    now: datetime,
    rules: Rules,
    *,
    actor: str,
    notify: bool,
    max_queued: int | None,
    stamp: datetime | None = None,
) -> tuple[BackfillPlan, list[str]]:
    """Queue the backfill in one transaction, planned again inside it (so two backfills at once
    queue nothing twice); the plan and the ids of the runs queued, oldest interval first.

    BackfillTooBig (nothing written) when it would pass `max_queued`."""
    stamp = stamp or utc_now()
    with store.transaction():
        plan = plan_backfill(store, stored, schedule, start, end, now)
        if not plan.to_queue:
            return plan, []
        considered = watermark(schedule, ledger.considered_through(store, stored.id))
        gap_runs = ledger.decide_before(store, stored, schedule, plan.first, now, rules, stamp)
        queued = store.runs.queued_count(stored.id)  # with the gap's runs
        if max_queued is not None and queued + len(plan.to_queue) > max_queued:
            raise BackfillTooBig(len(plan.to_queue) + gap_runs, queued - gap_runs, max_queued)
        for a, b in plan.off_days:
            if b > considered:
                skip = SkipRange(max(a, considered + 1), b, DAYS_REASON)
                store.audit.record("skip", ledger.ACTOR, "request", stored.id, skip_detail(schedule, skip), stamp)
        ids = [
            store.runs.insert(stored.id, Origin.BACKFILL, i.bounds, i.end.timestamp(), RunStatus.NOT_PROCESSED, stamp, notify=notify)
            for i in plan.to_queue
        ]
        store.audit.record(
            "backfill",
            actor,
            "request",
            stored.id,
            {"from": iso(start), "to": iso(end), "queued": len(ids), "leftAlone": len(plan.left_alone), "notify": notify},
            stamp,
        )
    return plan, ids
