"""ISO 8601 durations and calendar arithmetic in a time zone.

Years, months, weeks and days move the wall clock (so `P1D` over a daylight-saving change
lasts 23 or 25 hours and `P1M` from 31 January lands on 28 February); hours, minutes and
seconds are elapsed time, however many there are (`PT24H` is 24 hours, never a day: the
written units are kept apart, where isodate would fold 24 hours into a day). Arithmetic is
anchored: the k-th step is computed from the start, never from the previous step, so `P1M`
from 31 January gives 28 February, then 31 March.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_DURATION_RE = re.compile(r"^P(?!$)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")
_MAX_SECONDS = 1000 * 366 * 86_400  # a thousand years


class DurationError(ValueError):
    pass


@dataclass(frozen=True)
class Period:
    """A parsed duration: calendar months and days, plus elapsed seconds."""

    text: str
    months: int
    days: int
    seconds: float

    def approx_seconds(self) -> float:
        return self.months * 30.436875 * 86400 + self.days * 86400 + self.seconds


def parse_duration(text: str, *, allow_zero: bool = False) -> Period:
    """Parse an ISO 8601 duration (no sign, fractions only on seconds); malformed is an error, and
    so is zero unless `allow_zero` (a delay may be zero, a periodicity never)."""
    if not isinstance(text, str):
        raise DurationError("must be an ISO 8601 duration string such as PT15M or P1D")
    match = _DURATION_RE.match(text) if len(text) <= 64 else None
    if match is None:
        raise DurationError(f"'{_short(text)}' is not an ISO 8601 duration (e.g. P1D, PT15M, P1Y6M4DT12H30M5S)")
    years, months, weeks, days, hours, minutes = (int(g or 0) for g in match.groups()[:6])
    seconds = hours * 3600 + minutes * 60 + float(match.group(7) or 0)
    months += years * 12
    days += weeks * 7
    if months == 0 and days == 0 and seconds == 0 and not allow_zero:
        raise DurationError(f"'{_short(text)}' is zero; a duration must be positive")
    if months > 12 * 1000 or days > 366 * 1000 or seconds > _MAX_SECONDS:
        raise DurationError(f"'{_short(text)}' is longer than a thousand years")
    return Period(text=text, months=months, days=days, seconds=seconds)


def _short(text: object) -> str:
    s = str(text)
    return s if len(s) <= 40 else s[:37] + "..."


def get_zone(name: str | None) -> ZoneInfo | timezone:
    """An IANA zone; `utc` (any case) and empty mean UTC."""
    if name is None or name == "" or name.lower() == "utc":
        return UTC
    if len(name) > 64 or name.startswith("/") or ".." in name:
        raise DurationError(f"'{_short(name)}' is not an IANA time zone")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise DurationError(f"'{_short(name)}' is not an IANA time zone (e.g. Europe/Rome, UTC)") from None


def add_months(dt: datetime, months: int) -> datetime:
    """Move a naive wall-clock time by whole months, clamping the day to the month's end."""
    total = dt.year * 12 + (dt.month - 1) + months
    year, month = divmod(total, 12)
    day = min(dt.day, calendar.monthrange(year, month + 1)[1])
    return dt.replace(year=year, month=month + 1, day=day)


def shift(start: datetime, period: Period, k: int = 1, tz: ZoneInfo | timezone | None = None) -> datetime:
    """start + k * period, anchored at start; `start` aware, result aware in `tz` (default start's zone)."""
    zone = tz or start.tzinfo or UTC
    local = start.astimezone(zone).replace(tzinfo=None)
    local = add_months(local, k * period.months) + timedelta(days=k * period.days)
    # A wall-clock time that does not exist (spring forward) resolves like zoneinfo's fold=0.
    aware = local.replace(tzinfo=zone).astimezone(UTC)
    return (aware + timedelta(seconds=k * period.seconds)).astimezone(zone)


def shift_back(end: datetime, period: Period, tz: ZoneInfo | timezone | None = None) -> datetime:
    """end - period, the start of a period that ends at `end`."""
    zone = tz or end.tzinfo or UTC
    utc = end.astimezone(UTC) - timedelta(seconds=period.seconds)
    local = utc.astimezone(zone).replace(tzinfo=None)
    local = add_months(local, -period.months) - timedelta(days=period.days)
    return local.replace(tzinfo=zone).astimezone(zone)


# Length of each decimation unit in seconds: exact for s m h (local-clock buckets), nominal for
# the calendar units (a Gregorian month and year), used only to bound `ds`.
DS_UNITS: dict[str, int] = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "M": 2_629_746, "y": 31_556_952}
_MAX_DS_SECONDS = 1000 * 31_556_952  # a thousand years
_DS_RE = re.compile(r"^(\d+)([A-Za-z]+)$")


def parse_ds(ds: str) -> tuple[int, str]:
    """Decimation granularity `"15m"` -> `(15, "m")`; anything else is a DurationError saying why."""
    if not isinstance(ds, str) or not ds:
        raise DurationError("ds must be a positive integer followed by a unit among s m h d w M y (e.g. 15m, 1d, 1M)")
    shown = ds if len(ds) <= 20 else ds[:17] + "..."
    match = _DS_RE.match(ds) if len(ds) <= 20 else None
    if match is None:
        raise DurationError(f"ds '{shown}' must be a positive integer followed by a unit among s m h d w M y (e.g. 15m, 1d, 1M)")
    n, unit = int(match.group(1)), match.group(2)
    if unit not in DS_UNITS:
        raise DurationError(f"ds '{shown}': unit '{unit}' is not one of s m h d w M y (m is minutes, M months)")
    if n <= 0:
        raise DurationError(f"ds '{shown}': the count must be positive")
    if n * DS_UNITS[unit] > _MAX_DS_SECONDS:
        raise DurationError(f"ds '{shown}' is longer than a thousand years")
    return n, unit
