"""Plain text for the tables: short, fixed-width-friendly, and readable without colour.

Nothing here imports Textual, so the shapes of the cells are tested on their own.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from pathlib import Path

from exporter_tui.core.durations import DurationError, get_zone
from exporter_tui.core.models import ExportRequest
from exporter_tui.store.store import Run, StoredRequest

NONE = "-"
BAR_WIDTH = 8


def zone_of(request: ExportRequest) -> tzinfo:
    try:
        return get_zone(request.format.timezone)
    except DurationError:  # a stored request always has a valid zone; this only guards old rows
        return UTC


def target_summary(request: ExportRequest) -> str:
    """The labels of every item's targets (the short ends of the names when there are no labels)."""
    out: list[str] = []
    for item in request.items:
        target = item.params.target
        if target.label is not None:
            out += target.labels()
        else:
            out += [name.rsplit(":", 1)[-1] for name in target.names()]
    return ",".join(out)


def middle_clip(text: str, width: int) -> str:
    """Shorten to `width` characters by eliding the middle, so both ends of a path stay readable."""
    if len(text) <= width:
        return text
    if width <= 1:
        return text[:width]
    head = (width - 1) // 2
    tail = width - 1 - head
    return text[:head] + "…" + text[len(text) - tail :]


def clip(text: str, width: int) -> str:
    """Shorten to `width` characters, marking the cut with an ellipsis."""
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def compact_time(ts: float, zone: tzinfo, now: datetime) -> str:
    """`MM-DD HH:MM` in `zone` within the current year, `YYYY-MM-DD HH:MM` otherwise."""
    local = datetime.fromtimestamp(ts, zone)
    if local.year == now.astimezone(zone).year:
        return local.strftime("%m-%d %H:%M")
    return local.strftime("%Y-%m-%d %H:%M")


def span_text(seconds: float) -> str:
    """A window's length: `1d`, `6h`, `1d6h`, `15m`, `45s`."""
    seconds = int(round(seconds))
    if seconds <= 0:
        return "0s"
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{secs}s" if secs else ""]
    return "".join(p for p in parts if p)


def window_text(start: float | None, end: float | None, zone: tzinfo, now: datetime) -> str:
    """Where a window starts and how long it is: `03-09 00:00 +1d`."""
    if start is None or end is None:
        return NONE
    return f"{compact_time(start, zone, now)} +{span_text(end - start)}"


def progress_text(done: int, total: int | None, width: int = BAR_WIDTH) -> str:
    """A text progress bar that reads the same without colour: `####.... 50%`."""
    if not total:
        return f"{'?' * width} {done}"
    frac = min(max(done / total, 0.0), 1.0)
    filled = int(frac * width)
    return f"{'#' * filled}{'.' * (width - filled)} {int(frac * 100):3d}%"


def status_text(run: Run, live: tuple[int, int | None] | None = None) -> str:
    """A run's status; while it is in progress, a bar of how far it got."""
    if run.status != "inProgress":
        return run.status
    done, total = live if live is not None else (run.progress, run.total)
    return progress_text(done, total)


def next_run_text(stored: StoredRequest, now: datetime, next_times: list[datetime]) -> str:
    if stored.paused:
        return "paused"
    if stored.request.type != "recurring" or not next_times:
        return NONE
    return compact_time(next_times[0].timestamp(), zone_of(stored.request), now)


REQUEST_COLUMNS: tuple[tuple[str, str, int], ...] = (
    # (key, header, width); a width of 0 takes what is left
    ("id", "ID", 8),
    ("type", "TYPE", 9),
    ("targets", "TARGETS", 0),
    ("ext", "EXT", 4),
    ("every", "EVERY", 6),
    ("next", "NEXT RUN", 11),
    ("last", "LAST", 12),
)


def request_cells(stored: StoredRequest, last_status: str | None, next_text: str) -> dict[str, str]:
    r = stored.request
    return {
        "id": stored.short_id,
        "type": r.type,
        "targets": target_summary(r),
        "ext": r.format.extension,
        "every": r.periodicity or NONE,
        "next": next_text,
        "last": last_status or NONE,
    }


RUN_COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("status", "STATUS", 13),
    ("window", "WINDOW", 15),
    ("rows", "ROWS", 6),
    ("file", "FILE", 0),
)


def run_cells(run: Run, zone: tzinfo, now: datetime, live: tuple[int, int | None] | None = None) -> dict[str, str]:
    return {
        "status": status_text(run, live),
        "window": window_text(run.window_from, run.window_to, zone, now),
        "rows": NONE if run.rows is None else str(run.rows),
        "file": run.file_name or (clip(run.error, 60) if run.error else NONE),
    }


HISTORY_COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("run", "RUN", 8),
    ("request", "REQUEST", 8),
    ("status", "STATUS", 13),
    ("window", "WINDOW (UTC)", 15),
    ("rows", "ROWS", 6),
    ("origin", "VIA", 0),
)


def history_cells(run: Run, now: datetime) -> dict[str, str]:
    return {
        "run": run.id[:8],
        "request": run.request_id[:8],
        "status": status_text(run),
        "window": window_text(run.window_from, run.window_to, UTC, now),
        "rows": NONE if run.rows is None else str(run.rows),
        "origin": run.origin,
    }


def fit_widths(columns: tuple[tuple[str, str, int], ...], available: int, padding: int = 2, minimum: int = 8) -> dict[str, int]:
    """Column widths that fill `available` cells: fixed ones as given, the flexible one takes the rest."""
    fixed = sum(w for _, _, w in columns if w) + padding * len(columns)
    flex = max(available - fixed, minimum)
    return {key: (w or flex) for key, _, w in columns}


def location_text(path: str | None, base: Path) -> str:
    """A file's location, relative to the app's home when it lies inside it."""
    if not path:
        return NONE
    p = Path(path)
    try:
        return str(p.relative_to(base))
    except ValueError:
        return str(p)


def iso_pair(ts: float | None, zone: tzinfo) -> str:
    """`2025-03-09T00:00:00Z (2025-03-09T01:00:00+01:00)`: an instant in UTC and in the request's zone."""
    if ts is None:
        return NONE
    utc = datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")
    local = datetime.fromtimestamp(ts, zone).isoformat()
    return utc if local.endswith("+00:00") else f"{utc} ({local})"
