"""The schedule of a stored request: its t_k anchored at creation, and the next run times."""

from __future__ import annotations

from datetime import datetime

from exporter_tui.core.durations import get_zone
from exporter_tui.core.schedule import Schedule
from exporter_tui.core.times import iso, parse_iso, utc_now
from exporter_tui.scheduler.ledger import considered_through
from exporter_tui.scheduler.planner import watermark
from exporter_tui.store.requests import StoredRequest
from exporter_tui.store.store import Store


def schedule_of(stored: StoredRequest, default_delay: str = "PT0S") -> Schedule:
    """A recurring request's schedule; `periodStart` defaults to the creation time, as in Connhex;
    `default_delay` is the config's `scheduler.delay`, for a request without `delay`."""
    return Schedule(stored.request, parse_iso(stored.created_at), default_delay)


def next_times(stored: StoredRequest, now: datetime, count: int = 1, default_delay: str = "PT0S") -> list[datetime]:
    """The next `count` run times after `now`; none for a oneTime or paused request."""
    if stored.request.type != "recurring" or stored.paused:
        return []
    return schedule_of(stored, default_delay).next_times(now, count)


def next_runs(stored: StoredRequest, now: datetime | None = None, count: int = 5, default_delay: str = "PT0S") -> list[dict]:
    """The next runs of a recurring request: the run time in UTC and in the request's zone, and the data window."""
    if stored.request.type != "recurring" or stored.paused:
        return []
    zone = get_zone(stored.request.format.timezone)
    schedule = schedule_of(stored, default_delay)
    out = []
    for k in schedule.next_indices(now or utc_now(), count):
        t, interval = schedule.due(k), schedule.interval(k)
        out.append(
            {
                "utc": iso(t, "auto"),
                "local": t.astimezone(zone).isoformat(),
                "window": {"from": iso(interval.start), "to": iso(interval.end)},
            }
        )
    return out


def finished(store: Store, stored: StoredRequest) -> bool:
    """Whether a request with a `periodEnd` has had its last interval decided (run or skipped)."""
    if stored.request.type != "recurring" or stored.request.period_end is None:
        return False
    schedule = schedule_of(stored)
    return schedule.last is not None and watermark(schedule, considered_through(store, stored.id)) >= schedule.last
