"""Instants as this program writes and reads them: ISO 8601 UTC with a Z, Unix seconds, and the clock.

Stored stamps carry milliseconds; event and log stamps, seconds; `auto` keeps what the instant has.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Literal

Timespec = Literal["auto", "seconds", "milliseconds"]


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime, timespec: Timespec = "milliseconds") -> str:
    """`dt` in UTC as ISO 8601 with a Z."""
    return dt.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def iso_from_unix(ts: float | None, timespec: Timespec = "milliseconds") -> str | None:
    return None if ts is None else iso(datetime.fromtimestamp(ts, UTC), timespec)


def parse_iso(text: str, zone: tzinfo | None = None) -> datetime:
    """An ISO 8601 date or date-time, `Z` or `z` meaning UTC; a naive one is wall time in `zone`
    (left naive without one). ValueError when it is not ISO 8601."""
    dt = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text)
    return dt.replace(tzinfo=zone) if dt.tzinfo is None and zone is not None else dt


def unix_from_iso(stamp: str) -> float:
    return parse_iso(stamp, UTC).timestamp()
