"""When a request runs and which data each run covers.

Nominal times of a recurring request: t_k = periodStart + k * periodicity for k >= 1, as
wall-clock time in the request's zone (see durations.shift); run k covers [t_(k-1), t_k).
It is due at t_k + delay (late data has time to arrive; the window does not move). With a
`periodEnd`, the last interval is the last with t_k <= periodEnd; with `days`, an interval
runs only when the local date of its start t_(k-1) is a listed day.
An item's own from/to fix its window; its `period` means the period that ends at the run's
nominal time; with neither, the item covers the run's interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo

from exporter_tui.core.durations import Period, get_zone, parse_duration, shift, shift_back
from exporter_tui.core.models import WEEKDAYS, ExportRequest, ItemParams


@dataclass(frozen=True)
class Interval:
    k: int
    start: datetime
    end: datetime

    @property
    def bounds(self) -> tuple[float, float]:
        return self.start.timestamp(), self.end.timestamp()


class Schedule:
    """The nominal times of one recurring request."""

    def __init__(self, request: ExportRequest, created_at: datetime, default_delay: str = "PT0S"):
        """`default_delay` (the config's `scheduler.delay`) applies when the request has no `delay`."""
        if request.periodicity is None:
            raise ValueError("a oneTime request has no schedule of intervals")
        self.zone = get_zone(request.format.timezone)
        self.period: Period = parse_duration(request.periodicity)
        self.delay: Period = parse_duration(request.delay or default_delay, allow_zero=True)
        self.days: frozenset[int] | None = None if request.days is None else frozenset(WEEKDAYS.index(d) for d in request.days)
        start = request.period_start
        self.start = datetime.fromtimestamp(start, UTC) if start is not None else created_at.astimezone(UTC).replace(microsecond=0)
        end = request.period_end
        self.last: int | None = None if end is None else self.last_index_at(datetime.fromtimestamp(end, UTC))

    def at(self, k: int) -> datetime:
        """t_k, in the request's zone."""
        return shift(self.start, self.period, k, self.zone)

    def interval(self, k: int) -> Interval:
        return Interval(k, self.at(k - 1), self.at(k))

    def last_index_at(self, when: datetime) -> int:
        """The largest k with t_k <= when (0 when no interval has ended yet)."""
        if when < self.at(1):
            return 0
        k = max(1, int((when - self.start).total_seconds() // max(self.period.approx_seconds(), 1e-6)))
        while self.at(k) > when and k > 1:
            k -= 1
        while self.at(k + 1) <= when:
            k += 1
        return k

    def due(self, k: int) -> datetime:
        """When interval k runs: t_k + delay, in the request's zone."""
        return shift(self.at(k), self.delay, 1, self.zone)

    def last_due_at(self, when: datetime) -> int:
        """The largest k whose run time has come by `when` (0 when none), never past the last interval."""
        k = self.last_index_at(shift_back(when.astimezone(self.zone), self.delay, self.zone))
        while k >= 1 and self.due(k) > when:
            k -= 1
        while (self.last is None or k < self.last) and self.due(k + 1) <= when:
            k += 1
        return k if self.last is None else min(k, self.last)

    def runs_on(self, k: int) -> bool:
        """Whether interval k's start falls on one of the listed `days` (always, without them)."""
        return self.days is None or self.at(k - 1).astimezone(self.zone).weekday() in self.days

    def next_listed(self, k: int) -> int:
        """The first interval at or after k that runs on a listed day (jumping whole days)."""
        while not self.runs_on(k):
            day = self.at(k - 1).astimezone(self.zone).date() + timedelta(days=1)
            midnight = datetime.combine(day, time(), self.zone)
            j = self.last_index_at(midnight)
            k = max(k + 1, j + 1 if self.at(j) >= midnight else j + 2)
        return k

    def day_ranges(self, first: int, last: int) -> list[tuple[int, int, bool]]:
        """first..last cut into consecutive ranges (a, b, runs on a listed day)."""
        out: list[tuple[int, int, bool]] = []
        k = first
        while k <= last:
            listed = self.next_listed(k)
            if listed > k:
                out.append((k, min(listed - 1, last), False))
                k = listed
            else:
                end = k
                while end < last and self.runs_on(end + 1):
                    end += 1
                out.append((k, end, True))
                k = end + 1
        return out

    def last_runnable_at(self, when: datetime) -> int:
        """The newest interval on a listed day whose run time has come by `when` (0 when none)."""
        k = self.last_due_at(when)
        while k >= 1 and not self.runs_on(k):
            k -= 1
        return k

    def next_indices(self, after: datetime, count: int = 5) -> list[int]:
        """The next `count` intervals to run after `after` (listed days only, up to the last interval)."""
        out: list[int] = []
        k = self.last_due_at(after) + 1
        while len(out) < count:
            k = self.next_listed(k)
            if self.last is not None and k > self.last:
                break
            out.append(k)
            k += 1
        return out

    def next_times(self, after: datetime, count: int = 5) -> list[datetime]:
        """The run times (t_k + delay) of the next `count` intervals after `after`."""
        return [self.due(k) for k in self.next_indices(after, count)]


def item_window(params: ItemParams, nominal_end: datetime, interval: tuple[float, float] | None, zone) -> tuple[float, float]:
    """The half-open window [from, to) one item exports for a run ending at `nominal_end`."""
    if params.from_ is not None and params.to is not None:
        return params.from_, params.to
    if params.period is not None:
        end = nominal_end.astimezone(zone)
        return shift_back(end, parse_duration(params.period), zone).timestamp(), end.timestamp()
    if interval is None:
        raise ValueError("a oneTime item needs from/to or period")
    return interval


def run_windows(request: ExportRequest, nominal_end: datetime, interval: tuple[float, float] | None) -> list[tuple[float, float]]:
    zone = get_zone(request.format.timezone)
    return [item_window(item.params, nominal_end, interval, zone) for item in request.items]


def item_windows(request: ExportRequest, run_at: float, interval: tuple[float, float] | None, override: bool) -> list[tuple[float, float]]:
    """Each item's data window for a run anchored at `run_at`: with `override` (a manual
    --from/--to), `interval` for every item; otherwise each item's own rules."""
    if override and interval is not None:
        return [interval] * len(request.items)
    return run_windows(request, datetime.fromtimestamp(run_at, UTC), interval)


def overall_window(windows: list[tuple[float, float]]) -> tuple[float, float]:
    return min(w[0] for w in windows), max(w[1] for w in windows)


@dataclass(frozen=True)
class PlannedRun:
    """The one run of a oneTime request: when it may start and what it covers."""

    nominal: float
    window: tuple[float, float]
    not_before: float


def one_time_run(request: ExportRequest, created_at: datetime) -> PlannedRun:
    """A oneTime request runs once: at periodStart when that is in the future, else at once."""
    created = created_at.timestamp()
    start = request.period_start if request.period_start is not None and request.period_start > created else created
    end = datetime.fromtimestamp(start, UTC)
    return PlannedRun(nominal=start, window=overall_window(run_windows(request, end, None)), not_before=start)


# What a new recurring request starts at when the form fills its start in: the boundary of
# the calendar unit its periodicity ends with, so the first interval is the current one
# (a new daily request covers today so far, and its preview shows data).
START_RULES = {"D": "the last midnight", "W": "Monday 00:00", "M": "the 1st of the month", "Y": "1 January"}
HOUR_RULE = "the last whole hour"


def default_start_rule(periodicity: str) -> str:
    """How `default_start` picks the start, in words; ValueError when `periodicity` is not a duration."""
    parse_duration(periodicity)
    return HOUR_RULE if "T" in periodicity else START_RULES[periodicity[-1]]


def default_start(periodicity: str, now: datetime, zone: tzinfo) -> datetime:
    """The latest boundary at or before `now`, on the wall clock of `zone`: midnight for a
    periodicity written in days (`P1D`), Monday 00:00 for weeks, the 1st for months,
    1 January for years, the whole hour for any with a time part (`PT15M`, `P1DT12H`).
    ValueError when `periodicity` is not a duration."""
    rule = default_start_rule(periodicity)
    local = now.astimezone(zone)
    if rule == HOUR_RULE:
        return local.replace(minute=0, second=0, microsecond=0)  # the whole hour of the wall clock
    day = local.date()
    if rule == START_RULES["W"]:
        day -= timedelta(days=day.weekday())
    elif rule == START_RULES["M"]:
        day = day.replace(day=1)
    elif rule == START_RULES["Y"]:
        day = day.replace(month=1, day=1)
    # Through UTC: a midnight that does not exist (a spring-forward at 00:00) becomes the first time that does.
    return datetime.combine(day, time(), zone).astimezone(UTC).astimezone(zone)
