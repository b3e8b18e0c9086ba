"""When a request runs and which data each run covers.

Nominal times of a recurring request: t_k = periodStart + k * periodicity for k >= 1, as
wall-clock time in the request's zone (see durations.shift); run k covers [t_(k-1), t_k).
An item's own from/to fix its window; its `period` means the period that ends at the run's
nominal time; with neither, the item covers the run's interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from exporter_tui.core.durations import Period, get_zone, parse_duration, shift, shift_back
from exporter_tui.core.models import ExportRequest, ItemParams


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

    def __init__(self, request: ExportRequest, created_at: datetime):
        if request.periodicity is None:
            raise ValueError("a oneTime request has no schedule of intervals")
        self.zone = get_zone(request.format.timezone)
        self.period: Period = parse_duration(request.periodicity)
        start = request.period_start
        self.start = datetime.fromtimestamp(start, UTC) if start is not None else created_at.astimezone(UTC).replace(microsecond=0)

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

    def next_times(self, after: datetime, count: int = 5) -> list[datetime]:
        k = self.last_index_at(after) + 1
        return [self.at(k + i) for i in range(count)]


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
