"""Which intervals of a recurring request to run at an instant, and which to skip: the pure decision.

Interval k covers [t_(k-1), t_k) (see core.schedule). The watermark W is the newest interval
already considered: it has a run, or a skip decision covers it. K is the newest interval that
is due by `now` (its run time t_k + delay has come; never past the request's last interval).
The intervals W+1..K are decided together, every time counted from the run time:

- those due before `now - max_catchup` are skipped ("older than max_catchup P7D");
- those starting on a day not in `days` are skipped ("days");
- of the rest, the catch-up policy picks:
  `latest` runs K and skips the others; `all` runs every one, oldest first; `skip` runs K only
  when it fell due on time (within the grace, so a live scheduler runs it) and skips the others.

Normal operation (only K is new, and it just ended) therefore runs K and skips nothing under
every policy. The first interval decided starts where the considered ones ended (`through`),
which is t_W except when a request's t_k moved under it (`PT24H` was once read as a calendar
day): then it covers [through, t_(W+1)), so no reading is exported twice or skipped. Intervals that ended while the request was paused are skipped with the reason
`paused` (the policy is still what decided it).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from exporter_tui.config import SchedulerSettings
from exporter_tui.core.durations import Period, parse_duration, shift_back
from exporter_tui.core.models import ExportRequest
from exporter_tui.core.schedule import Schedule
from exporter_tui.core.times import iso, iso_from_unix

POLICY_REASON = {"latest": "catch-up policy latest", "skip": "skip policy"}
PAUSED_REASON = "paused"
DAYS_REASON = "days"
MIN_GRACE = 300.0  # seconds: `skip` still runs an interval that ended this recently (or 3 ticks, if longer)


@dataclass(frozen=True)
class Rules:
    """How one request catches up, from its `catchUp` and the scheduler settings."""

    policy: str  # latest | all | skip
    max_catchup: Period
    grace: float  # seconds after its end during which an interval is on time

    @classmethod
    def of(cls, request: ExportRequest, settings: SchedulerSettings) -> Rules:
        return cls(request.catch_up or settings.catch_up, parse_duration(settings.max_catchup), max(3 * settings.tick, MIN_GRACE))


@dataclass(frozen=True)
class SkipRange:
    """Intervals first..last (inclusive) that will not run, and why."""

    first: int
    last: int
    reason: str

    @property
    def count(self) -> int:
        return self.last - self.first + 1


@dataclass(frozen=True)
class Decision:
    runs: Sequence[int]  # the intervals to run, oldest first
    skips: tuple[SkipRange, ...]
    policy: str

    def reason(self, k: int) -> str:
        """Why interval k runs, for `run-due --dry-run`."""
        skipped = sum(s.count for s in self.skips)
        if self.policy == "all" and (skipped or len(self.runs) > 1):
            return f"missed, catch-up all ({k - self.runs[0] + 1} of {len(self.runs)})"
        if not skipped:
            return "due"
        if self.policy == "skip":
            return f"due; {skipped} missed interval(s) not run (skip policy)"
        return f"newest of {skipped + 1} missed (catch-up latest)"


NOTHING = Decision(range(0), (), "latest")


def watermark(schedule: Schedule, through: float | None) -> int:
    """The newest interval whose end is at or before `through` (0 when nothing was considered)."""
    if through is None:
        return 0
    return schedule.last_index_at(datetime.fromtimestamp(through, UTC))


def decide(schedule: Schedule, considered: int, now: datetime, rules: Rules, paused: tuple[datetime, datetime] | None = None) -> Decision:
    """What to do with the intervals after `considered` whose run time (t_k + delay) has come by `now`.

    Intervals that start on a day not in `days` are skipped with the reason `days`, one range
    at a time: a range at the end is decided only once the next listed interval is due (or it
    holds the request's last interval), so a weekend is one skip, not one a day. Under `all`,
    the decision stops at the first run of listed intervals after such a range; `decisions`
    goes on from there."""
    newest = schedule.last_due_at(now)
    first = considered + 1
    if newest < first:
        return NOTHING
    skips: list[SkipRange] = []
    cutoff = shift_back(now.astimezone(UTC), rules.max_catchup, UTC)
    too_old = schedule.last_due_at(cutoff)
    if too_old >= 1 and schedule.due(too_old).timestamp() == cutoff.timestamp():  # due exactly at the cutoff is not older
        too_old -= 1
    if too_old >= first:
        last = min(too_old, newest)
        skips.append(SkipRange(first, last, f"older than max_catchup {rules.max_catchup.text}"))
        first = last + 1
    if first > newest:
        return Decision(range(0), tuple(skips), rules.policy)
    ranges = schedule.day_ranges(first, newest)
    if not ranges[-1][2] and ranges[-1][1] != schedule.last:  # a trailing range off the listed days waits to be whole
        ranges.pop()
    listed = [r for r in ranges if r[2]]
    if not listed:
        return Decision(range(0), (*skips, *(SkipRange(a, b, DAYS_REASON) for a, b, _ in ranges)), rules.policy)
    if rules.policy == "all":
        for a, b, on_day in ranges:
            if on_day:
                return Decision(range(a, b + 1), tuple(skips), rules.policy)
            skips.append(SkipRange(a, b, DAYS_REASON))
    top = listed[-1][1]
    on_time = rules.policy == "latest" or now - schedule.due(top) <= timedelta(seconds=rules.grace)
    for a, b, on_day in ranges:
        if a > top:
            break  # after the run: the next decision takes it
        if not on_day:
            skips.append(SkipRange(a, b, DAYS_REASON))
            continue
        last_skipped = b - 1 if on_time and b == top else b
        if last_skipped >= a:
            reason = POLICY_REASON[rules.policy]
            if paused is not None and paused[0] <= schedule.at(a) and schedule.at(last_skipped) <= paused[1]:
                reason = PAUSED_REASON
            skips.append(SkipRange(a, last_skipped, reason))
    return Decision(range(top, top + 1) if on_time else range(0), tuple(skips), rules.policy)


def decisions(
    schedule: Schedule, considered: int, now: datetime, rules: Rules, paused: tuple[datetime, datetime] | None = None
) -> Iterator[Decision]:
    """Every decision a scheduler would take in turn at `now`, each after the previous was carried out
    (more than one only under `all` when listed days are interrupted)."""
    while True:
        decision = decide(schedule, considered, now, rules, paused)
        if not decision.runs and not decision.skips:
            return
        yield decision
        if not decision.runs:
            return
        considered = decision.runs[-1]


def pending(schedule: Schedule, considered: int, now: datetime) -> bool:
    """Whether `decide` may have something to do: an interval after `considered` is due, and the
    ones due are not only a range off the listed days still waiting to be whole."""
    newest = schedule.last_due_at(now)
    if newest <= considered:
        return False
    return newest == schedule.last or schedule.runs_on(newest) or schedule.last_runnable_at(now) > considered


def interval_bounds(schedule: Schedule, k: int, through: float | None) -> tuple[float, float]:
    """The data window [t_(k-1), t_k) of interval k, starting instead at `through` (the end of
    what was already considered) when that falls inside it."""
    start, end = schedule.interval(k).bounds
    return (through if through is not None and start < through < end else start), end


def skip_detail(schedule: Schedule, skip: SkipRange, considered: float | None = None) -> dict:
    """The audit detail of one skip decision: the data range [from, to) it leaves out, and why.

    `through` (Unix seconds of the last skipped interval's end) is what the watermark reads;
    `considered` is the watermark's instant before the skip."""
    end = schedule.at(skip.last)
    return {
        "from": iso_from_unix(interval_bounds(schedule, skip.first, considered)[0]),
        "to": iso(end),
        "count": skip.count,
        "reason": skip.reason,
        "through": end.timestamp(),
    }


@dataclass(frozen=True)
class PlannedInterval:
    """One run the scheduler would start: an interval k of a recurring request, or a queued run (k None)."""

    request_id: str
    k: int | None
    nominal: datetime | None
    window: tuple[float | None, float | None]
    reason: str
    run_id: str | None = None
    run_at: datetime | None = None  # when it runs: t_k + delay, or a queued run's time
    skipped: int = 0  # > 0: not a run but a skip decision over this many intervals from k

    def as_json(self) -> dict:
        return {
            "requestId": self.request_id,
            "action": "skip" if self.skipped else "run",
            "k": self.k,
            "nominalTime": iso(self.nominal) if self.nominal else None,
            "runAt": iso(self.run_at) if self.run_at else None,
            "window": {"from": iso_from_unix(self.window[0]), "to": iso_from_unix(self.window[1])},
            "reason": self.reason,
            "runId": self.run_id,
            **({"count": self.skipped} if self.skipped else {}),
        }

    def describe(self) -> str:
        w = self.as_json()["window"]
        if self.skipped:
            what = f"skip {self.skipped}"
        else:
            what = f"interval {self.k}" if self.k is not None else f"run {self.run_id[:8] if self.run_id else '-'}"
        return f"{self.request_id[:8]}  {what:<14} {w['from']} .. {w['to']}  {self.reason}"
