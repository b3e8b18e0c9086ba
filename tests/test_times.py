"""The one time module: what every stamp the program writes and reads looks like."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from exporter_tui.core.times import iso, iso_from_unix, parse_iso, unix_from_iso

ROME = ZoneInfo("Europe/Rome")


def test_stamps_are_utc_with_a_z_at_the_precision_asked() -> None:
    dt = datetime(2025, 3, 9, 1, 30, 5, 250_000, tzinfo=timezone(timedelta(hours=1)))
    assert iso(dt) == "2025-03-09T00:30:05.250Z"
    assert iso(dt, "seconds") == "2025-03-09T00:30:05Z"
    assert iso_from_unix(1741478400.0, "auto") == "2025-03-09T00:00:00Z"
    assert iso_from_unix(None) is None


@pytest.mark.parametrize("text", ["2025-03-09T00:00:00Z", "2025-03-09T00:00:00z", "2025-03-09T01:00:00+01:00"])
def test_every_utc_spelling_reads_as_the_same_instant(text: str) -> None:
    assert parse_iso(text).timestamp() == unix_from_iso(text) == 1741478400.0


def test_a_naive_time_is_wall_time_in_the_zone_given_and_stays_naive_without_one() -> None:
    assert parse_iso("2025-07-01T00:00", ROME).astimezone(UTC) == datetime(2025, 6, 30, 22, tzinfo=UTC)
    assert parse_iso("2025-07-01T00:00").tzinfo is None
    assert unix_from_iso("2025-07-01T00:00") == datetime(2025, 7, 1, tzinfo=UTC).timestamp()


def test_text_that_is_not_iso_8601_is_refused() -> None:
    with pytest.raises(ValueError):
        parse_iso("yesterday")
