"""Timestamps as text, fast enough for tens of millions of rows.

pandas' `strftime` on tz-aware values costs microseconds per row; here the work per row is
integer arithmetic and table look-ups. A chunk's local dates and UTC offsets take a handful
of distinct values, so they are formatted once each (factorize, then take); the time of day
comes from a static table of the 86,400 seconds of a day. ISO strings are assembled as
fixed-width bytes in one numpy record array and split into Python strings in one pass.

A column comes as a WallClock: from a frame's datetimes (`wall_clock`), or straight from Unix
seconds and a zone (`clock_of`), so times that never were a frame are formatted without pandas.

Formats (moment.js `en` locale for L, LL, LLL):
  ISO  2026-03-29T01:00:00+01:00 (UTC gives +00:00), with .fff only when some value in the
       series has a sub-second part (milliseconds are truncated, like isoformat does)
  L    09/04/1986
  LL   September 4, 1986
  LLL  September 4, 1986 8:30 PM, and in any zone but UTC the offset as moment's `Z` writes
       it: September 4, 1986 8:30 PM +02:00 (a departure from moment's LLL, so the two rows
       of a repeated hour never read the same)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, get_args
from zoneinfo import ZoneInfo

import numpy as np

from exporter_tui.core.buckets import wall_seconds
from exporter_tui.core.models import DateFormat
from exporter_tui.pipeline.writers.distinct import factorize

if TYPE_CHECKING:
    import pandas as pd

DATE_FORMATS: tuple[str, ...] = get_args(DateFormat)

MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
_EPOCH = dt.date(1970, 1, 1)
_NAT = np.iinfo(np.int64).min


@dataclass(frozen=True)
class WallClock:
    """A timestamp column as integers: local wall clock and UTC, in `per_second` units."""

    local: np.ndarray  # int64; 0 where missing
    utc: np.ndarray  # int64; 0 where missing
    per_second: int
    missing: np.ndarray  # bool
    zoned: bool  # in a zone other than UTC, so an offset says something (LLL writes it)

    def __len__(self) -> int:
        return len(self.utc)

    def take(self, rows: slice) -> WallClock:
        return WallClock(self.local[rows], self.utc[rows], self.per_second, self.missing[rows], self.zoned)

    def seconds_and_fraction(self) -> tuple[np.ndarray, np.ndarray]:
        """Local whole seconds since the epoch (floored) and the sub-second remainder in units."""
        secs = self.local // self.per_second
        return secs, self.local - secs * self.per_second


def wall_clock(series: pd.Series) -> WallClock:
    """Split a datetime series into local and UTC integers; a naive series is taken as UTC."""
    values = series.array
    unit = series.dt.unit
    utc = values.asi8
    local = values.tz_localize(None).asi8 if getattr(values, "tz", None) is not None else utc
    missing = utc == _NAT
    if missing.any():
        utc = np.where(missing, 0, utc)
        local = np.where(missing, 0, local)
    return WallClock(local=local, utc=utc, per_second=_PER_SECOND[unit], missing=missing, zoned=not is_utc(series))


def clock_of(seconds: np.ndarray, zone: ZoneInfo | dt.timezone) -> WallClock:
    """Unix seconds (float, none missing) in `zone`, rounded to the microsecond: the WallClock of
    the frame column pipeline/columns.py would build from them (UTC microseconds, the zone's
    offset at each one's second), without building it."""
    utc = np.round(seconds * 1e6).astype("int64")
    whole = utc // 1_000_000
    local = utc + (wall_seconds(whole, zone) - whole) * 1_000_000
    return WallClock(local=local, utc=utc, per_second=1_000_000, missing=np.zeros(len(utc), dtype=bool), zoned=str(zone) != "UTC")


def zone_display(timezone_name: str) -> str:
    """The zone as shown to people: `utc` in any case (or empty) is `UTC`."""
    return "UTC" if timezone_name in ("", None) or timezone_name.lower() == "utc" else timezone_name


def zone_header(label: str, timezone_name: str) -> str:
    """A time column's header that names its zone, e.g. `time (Europe/Rome)`."""
    return f"{label} ({zone_display(timezone_name)})"


class TimeFormatter:
    """Formats one time column chunk after chunk.

    With `millis=None` the ISO milliseconds appear once any value seen so far had a
    sub-second part, and stay from then on (a streamed file cannot go back to earlier
    chunks, so whole-second chunks written before the first sub-second one keep no `.fff`).
    """

    def __init__(self, date_format: DateFormat, millis: bool | None = None) -> None:
        if date_format not in DATE_FORMATS:
            raise ValueError(f"unknown date format {date_format!r}; expected one of {', '.join(DATE_FORMATS)}")
        self.date_format = date_format
        self.millis = bool(millis)
        self._auto = millis is None

    def observe(self, wc: WallClock) -> None:
        """Take `wc` into the milliseconds decision without formatting it: a writer that
        formats a chunk in slices lets the whole chunk decide, as formatting it at once would."""
        if self._auto and not self.millis and len(wc):
            self.millis = bool(wc.seconds_and_fraction()[1][~wc.missing].any())

    def format(self, wc: WallClock) -> np.ndarray:
        """An object array of strings, None where the value is missing."""
        if len(wc.local) == 0:
            return np.empty(0, dtype=object)
        secs, frac = wc.seconds_and_fraction()
        if self._auto and not self.millis:
            self.millis = bool(frac[~wc.missing].any())
        days = secs // 86_400
        sod = secs - days * 86_400
        day_codes, day_values = factorize(days)
        if self.date_format == "ISO":
            out = _iso(wc, frac, day_codes, day_values, sod, self.millis)
        else:
            table = np.array([_date_text(self.date_format, int(d)) for d in day_values], dtype=object)
            out = table[day_codes]
            if self.date_format == "LLL":
                out = out + _hour_minute_table()[sod // 60]
                if wc.zoned:
                    out = out + " " + offset_texts(wc)
        if wc.missing.any():
            out[wc.missing] = None
        return out


def is_utc(series: pd.Series) -> bool:
    """Whether a time column is in UTC (or naive, taken as UTC): its offset says nothing then."""
    tz = getattr(series.dtype, "tz", None)
    return tz is None or str(tz) == "UTC"


def offset_texts(wc: WallClock) -> np.ndarray:
    """Each value's UTC offset as ISO writes it (`+01:00`), an object array."""
    codes, values = factorize(wc.local - wc.utc)
    return np.array([_offset_text(int(o) // wc.per_second) for o in values], dtype=object)[codes]


def format_times(series: pd.Series, date_format: DateFormat) -> pd.Series:
    """The series' timestamps as strings in the series' own zone (None where missing)."""
    import pandas as pd  # only a caller holding a series gets here

    return pd.Series(TimeFormatter(date_format).format(wall_clock(series)), index=series.index, dtype=object)


def _date_text(date_format: DateFormat, day: int) -> str:
    d = _EPOCH + dt.timedelta(days=day)
    if date_format == "L":
        return f"{d.month:02d}/{d.day:02d}/{d.year:04d}"
    text = f"{MONTHS[d.month - 1]} {d.day}, {d.year}"
    return text + " " if date_format == "LLL" else text


def _offset_text(seconds: int) -> str:
    sign = "+" if seconds >= 0 else "-"
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours:02d}:{minutes:02d}" + (f":{secs:02d}" if secs else "")


def _iso(wc: WallClock, frac: np.ndarray, day_codes: np.ndarray, day_values: np.ndarray, sod: np.ndarray, millis: bool) -> np.ndarray:
    off_codes, off_values = factorize(wc.local - wc.utc)
    offsets = [_offset_text(int(o) // wc.per_second) for o in off_values]
    width = max(len(o) for o in offsets)
    fields = [("date", "S11"), ("time", "S8")]
    if millis:
        fields.append(("millis", "S4"))
    # The offset is the last field before the separator, so a shorter one (zones whose
    # offset has seconds are pre-1900 oddities) pads with NULs that are stripped below.
    fields += [("offset", f"S{width}"), ("sep", "S1")]
    rows = np.empty(len(sod), dtype=fields)
    rows["date"] = np.array([(_EPOCH + dt.timedelta(days=int(d))).isoformat() + "T" for d in day_values], dtype="S11")[day_codes]
    rows["time"] = _time_of_day_table()[sod]
    if millis:
        rows["millis"] = _millis_table()[frac * 1000 // wc.per_second]
    rows["offset"] = np.array(offsets, dtype=f"S{width}")[off_codes]
    rows["sep"] = b"\n"
    text = rows.tobytes().decode("ascii")
    if any(len(o) != width for o in offsets):
        text = text.replace("\x00", "")
    parts = text.split("\n")
    parts.pop()  # after the last separator
    return np.array(parts, dtype=object)


@cache
def _time_of_day_table() -> np.ndarray:
    """b"hh:mm:ss" of every second of a day, pieced from 60 two-digit strings (86,400 f-strings took ~40 ms)."""
    two = np.array([f"{i:02d}" for i in range(60)], dtype="S2")
    s = np.arange(86_400)
    table = np.empty(86_400, dtype=[("h", "S2"), ("c1", "S1"), ("m", "S2"), ("c2", "S1"), ("s", "S2")])
    table["h"], table["m"], table["s"] = two[s // 3600], two[s // 60 % 60], two[s % 60]
    table["c1"] = table["c2"] = b":"
    return table.view("S8")


@cache
def _millis_table() -> np.ndarray:
    return np.array([f".{m:03d}" for m in range(1000)], dtype="S4")


@cache
def _hour_minute_table() -> np.ndarray:
    """moment.js `h:mm A`: 12-hour clock without a leading zero, 0:05 is 12:05 AM."""
    return np.array([f"{(m // 60) % 12 or 12}:{m % 60:02d} {'AM' if m < 720 else 'PM'}" for m in range(1440)], dtype=object)
