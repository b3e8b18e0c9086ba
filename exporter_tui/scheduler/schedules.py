"""The schedule of a stored request: its t_k anchored at creation, and the next run times."""

from __future__ import annotations

from datetime import UTC, datetime

from exporter_tui.core.durations import get_zone
from exporter_tui.core.schedule import Schedule
from exporter_tui.store.store import StoredRequest


def schedule_of(stored: StoredRequest) -> Schedule:
    """A recurring request's schedule; `periodStart` defaults to the creation time, as in Connhex."""
    return Schedule(stored.request, datetime.fromisoformat(stored.created_at.replace("Z", "+00:00")))


def next_times(stored: StoredRequest, now: datetime, count: int = 1) -> list[datetime]:
    """The next `count` run times after `now`; none for a oneTime or paused request."""
    if stored.request.type != "recurring" or stored.paused:
        return []
    return schedule_of(stored).next_times(now, count)


def next_runs(stored: StoredRequest, now: datetime | None = None, count: int = 5) -> list[dict[str, str]]:
    """The next run times of a recurring request, in UTC and in the request's zone."""
    zone = get_zone(stored.request.format.timezone)
    return [
        {"utc": t.astimezone(UTC).isoformat().replace("+00:00", "Z"), "local": t.astimezone(zone).isoformat()}
        for t in next_times(stored, now or datetime.now(UTC), count)
    ]
