"""The start a new recurring request gets in the form: the boundary of its periodicity's unit, on the request's wall clock."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from exporter_tui.core.schedule import Schedule, default_start, default_start_rule
from exporter_tui.core.validation import parse_request

ROME = ZoneInfo("Europe/Rome")
NOW = datetime(2025, 3, 13, 14, 37, 12, tzinfo=UTC)  # a Thursday; 15:37 in Rome


@pytest.mark.parametrize(
    ("periodicity", "expected"),
    [
        ("P1D", datetime(2025, 3, 13, 0, 0, tzinfo=ROME)),
        ("P3D", datetime(2025, 3, 13, 0, 0, tzinfo=ROME)),
        ("P1W", datetime(2025, 3, 10, 0, 0, tzinfo=ROME)),
        ("P2W", datetime(2025, 3, 10, 0, 0, tzinfo=ROME)),
        ("P1M", datetime(2025, 3, 1, 0, 0, tzinfo=ROME)),
        ("P1Y6M", datetime(2025, 3, 1, 0, 0, tzinfo=ROME)),
        ("P1Y", datetime(2025, 1, 1, 0, 0, tzinfo=ROME)),
        ("PT1H", datetime(2025, 3, 13, 15, 0, tzinfo=ROME)),
        ("PT15M", datetime(2025, 3, 13, 15, 0, tzinfo=ROME)),
        ("PT30S", datetime(2025, 3, 13, 15, 0, tzinfo=ROME)),
        ("P1DT12H", datetime(2025, 3, 13, 15, 0, tzinfo=ROME)),
    ],
)
def test_the_start_is_the_last_boundary_of_the_periodicitys_unit_in_the_requests_zone(periodicity: str, expected: datetime) -> None:
    start = default_start(periodicity, NOW, ROME)
    assert start == expected
    assert start <= NOW


def test_midnight_is_the_zones_own_not_utcs() -> None:
    late_evening_utc = datetime(2025, 3, 13, 23, 30, tzinfo=UTC)  # already 14 March in Rome
    assert default_start("P1D", late_evening_utc, ROME) == datetime(2025, 3, 14, 0, 0, tzinfo=ROME)
    assert default_start("P1D", late_evening_utc, UTC) == datetime(2025, 3, 13, 0, 0, tzinfo=UTC)


def test_a_midnight_that_does_not_exist_becomes_the_first_time_that_does() -> None:
    santiago = ZoneInfo("America/Santiago")  # clocks went from 00:00 to 01:00 on 8 September 2024
    start = default_start("P1D", datetime(2024, 9, 8, 15, 0, tzinfo=UTC), santiago)
    assert start.astimezone(UTC) == datetime(2024, 9, 8, 4, 0, tzinfo=UTC)
    assert (start.hour, start.minute) == (1, 0)


def test_on_the_boundary_itself_the_start_is_now() -> None:
    monday = datetime(2025, 3, 10, 0, 0, tzinfo=ROME)
    assert default_start("P1W", monday, ROME) == monday


def test_the_rule_in_words() -> None:
    assert default_start_rule("P1D") == "the last midnight"
    assert default_start_rule("P1W") == "Monday 00:00"
    assert default_start_rule("P1M") == "the 1st of the month"
    assert default_start_rule("P1Y") == "1 January"
    assert default_start_rule("PT15M") == "the last whole hour"


@pytest.mark.parametrize("bad", ["", "1D", "P", "P0D", "daily"])
def test_a_periodicity_that_is_not_a_duration_has_no_default(bad: str) -> None:
    with pytest.raises(ValueError):
        default_start(bad, NOW, ROME)


def test_a_daily_request_started_at_midnight_covers_today_so_far() -> None:
    """Why the default: the first interval is the current day, not the day after the request is saved."""
    start = default_start("P1D", NOW, UTC)
    body = {
        "type": "recurring",
        "periodicity": "P1D",
        "periodStart": start.timestamp(),
        "format": {"extension": "csv", "timezone": "UTC"},
        "items": [{"params": {"target": {"value": "t"}, "channelId": "c", "subtopic": "s"}}],
    }
    interval = Schedule(parse_request(body), NOW).interval(1)
    assert interval.start <= NOW < interval.end
