"""Timestamps as the store writes them: ISO 8601 UTC with milliseconds and a Z."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_from_unix(ts: float | None) -> str | None:
    if ts is None:
        return None
    return iso(datetime.fromtimestamp(ts, UTC))


def utcnow() -> datetime:
    return datetime.now(UTC)


def unix_from_iso(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
