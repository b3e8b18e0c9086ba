"""The one clock every time in the TUI is shown on: `[tui] clock` in the config.

`local` (the default): a time that belongs to a request (a run's window, its next run, the
times of its run) is shown in that request's zone, with its offset, so rows of requests in
different zones still compare; a time of no request (the log pane, the app's own events) in
the machine's zone. `utc`: every time in UTC, and the tables' headers say so. Files are named
in UTC whatever the clock (that is the pipeline's business, not this module's).

Nothing here imports Textual, so the shapes of the times are tested on their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Literal

from exporter_tui.core.times import unix_from_iso

ClockName = Literal["local", "utc"]
NONE = "-"


def _offset(dt: datetime, short: bool) -> str:
    """`Z` for UTC, else `+01:00` (`+01` when `short` and the offset is whole hours)."""
    offset = dt.utcoffset()
    seconds = int(offset.total_seconds()) if offset is not None else 0
    if seconds == 0:
        return "Z"
    sign = "+" if seconds > 0 else "-"
    hours, minutes = divmod(abs(seconds) // 60, 60)
    return f"{sign}{hours:02d}" + ("" if short and minutes == 0 else f":{minutes:02d}")


@dataclass(frozen=True)
class UiClock:
    name: ClockName = "local"

    @property
    def utc(self) -> bool:
        return self.name == "utc"

    def at(self, ts: float, zone: tzinfo | None = None) -> datetime:
        """The instant on this clock: UTC, else `zone` (a request's), else the machine's zone at that instant."""
        moment = datetime.fromtimestamp(ts, UTC)
        if self.utc:
            return moment
        return moment.astimezone(zone)  # None: the machine's zone, with its offset at that instant

    def full(self, ts: float | None, zone: tzinfo | None = None) -> str:
        """`2025-03-09T01:00:00+01:00` (local) or `2025-03-09T00:00:00Z` (utc); fractions only when there are some."""
        if ts is None:
            return NONE
        dt = self.at(ts, zone)
        spec = "seconds" if float(ts).is_integer() else "milliseconds"
        return dt.replace(tzinfo=None).isoformat(timespec=spec) + _offset(dt, short=False)

    def stored(self, text: str | None, zone: tzinfo | None = None) -> str:
        """An ISO 8601 time as the store or an event holds it (UTC), on this clock; other text as it is."""
        if not text:
            return NONE
        try:
            return self.full(unix_from_iso(text), zone)
        except ValueError:
            return text

    def compact(self, ts: float, zone: tzinfo | None, now: datetime) -> str:
        """For a table cell: `03-09 01:00+01` (local; the year too when it is not this year's) or `03-09 00:00` (utc)."""
        dt = self.at(ts, zone)
        text = dt.strftime("%m-%d %H:%M") if dt.year == now.astimezone(dt.tzinfo).year else dt.strftime("%Y-%m-%d %H:%M")
        return text if self.utc else text + _offset(dt, short=True)

    def minute(self, ts: float, zone: tzinfo | None = None) -> str:
        """`2025-03-09 01:00+01` (local) or `2025-03-09 00:00` (utc): a time to the minute, with its year."""
        dt = self.at(ts, zone)
        text = dt.strftime("%Y-%m-%d %H:%M")
        return text if self.utc else text + _offset(dt, short=True)

    def time_of_day(self, text: str) -> str:
        """`14:05:09` of an event's ISO time, on this clock (an event belongs to no request: the machine's zone)."""
        try:
            return self.at(unix_from_iso(text)).strftime("%H:%M:%S")
        except ValueError:
            return text

    def header(self, name: str) -> str:
        """A column of times: `WINDOW (UTC)` on the utc clock; on the local one each cell carries its offset."""
        return f"{name} (UTC)" if self.utc else name

    def legend(self) -> str:
        """Where the times of a pane are, in words."""
        return "UTC" if self.utc else "local time"

    @property
    def extra_width(self) -> int:
        """What a compact time's offset adds to a cell (`+01`; a half-hour zone's `+05:30` is clipped)."""
        return 0 if self.utc else 3
