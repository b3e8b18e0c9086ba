"""Plain text for the tables: short, fixed-width-friendly, and readable without colour.

Nothing here imports Textual, so the shapes of the cells are tested on their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path

from exporter_tui.core.durations import DurationError, get_zone
from exporter_tui.core.enums import RunStatus
from exporter_tui.core.models import ExportRequest
from exporter_tui.core.times import unix_from_iso
from exporter_tui.store.requests import StoredRequest
from exporter_tui.store.runs import Run
from exporter_tui.tui.clock import UiClock

NONE = "-"
OPEN = (RunStatus.IN_PROGRESS, RunStatus.NOT_PROCESSED)  # a run that has not ended: it is followed and can be cancelled
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


def window_text(start: float | None, end: float | None, zone: tzinfo | None, now: datetime, clock: UiClock) -> str:
    """Where a window starts and how long it is: `03-09 01:00+01 +1d` (`03-09 00:00 +1d` on the utc clock)."""
    if start is None or end is None:
        return NONE
    return f"{clock.compact(start, zone, now)} +{span_text(end - start)}"


def count_text(n: float) -> str:
    """A count in at most five characters: `950`, `12.3k`, `1.2M`."""
    for size, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= size:
            return f"{n / size:.1f}{unit}" if n < size * 100 else f"{n / size:.0f}{unit}"
    return f"{n:.0f}"


def clock_text(seconds: float) -> str:
    """A duration as a clock: `0:42`, `12:05`, `3:04:05`."""
    seconds = max(int(seconds), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def progress_text(done: int, total: int | None, width: int = BAR_WIDTH) -> str:
    """A text progress bar that reads the same without colour: `####.... 50%`. Before the
    readings are counted it says so, rather than drawing a bar of question marks."""
    if total is None:
        return f"{count_text(done)} read" if done else "counting…"
    frac = min(max(done / total, 0.0), 1.0) if total else 1.0
    filled = int(frac * width)
    return f"{'#' * filled}{'.' * (width - filled)} {int(frac * 100):3d}%"


@dataclass(frozen=True)
class Pace:
    """How far a run in progress got: readings read, of how many (None: not counted yet), in how long."""

    done: int
    total: int | None
    elapsed: float | None  # seconds since the run started; None when unknown

    def rate(self) -> float | None:
        return self.done / self.elapsed if self.elapsed and self.done else None

    def eta(self) -> float | None:
        rate = self.rate()
        return (self.total - self.done) / rate if rate and self.total is not None and self.total >= self.done else None

    def text(self) -> str:
        """`1.2M/2.0M, 12.3k/s, 0:42, ETA 0:28`: short enough for a table cell."""
        parts = [f"{count_text(self.done)}/{count_text(self.total)}" if self.total is not None else f"{count_text(self.done)} read"]
        rate, eta = self.rate(), self.eta()
        if rate is not None:
            parts.append(f"{count_text(rate)}/s")
        if self.elapsed is not None:
            parts.append(clock_text(self.elapsed))
        if eta is not None:
            parts.append(f"ETA {clock_text(eta)}")
        return ", ".join(parts)

    def words(self) -> str:
        """The same in words, for the run detail."""
        if self.total is None:
            text = f"{self.done:,} readings read (not counted yet)"
        else:
            text = f"{progress_text(self.done, self.total).split()[-1]}: {self.done:,} of {self.total:,} readings"
        rate, eta = self.rate(), self.eta()
        if rate is not None:
            text += f", {count_text(rate)} readings/s"
        if self.elapsed is not None:
            text += f", elapsed {clock_text(self.elapsed)}"
        if eta is not None:
            text += f", ETA {clock_text(eta)}"
        return text


def run_pace(run: Run, live: Pace | None = None) -> Pace:
    """A run's pace: from this app's own progress messages when it has them, otherwise from
    what the running process last stored (its progress, and its heartbeat since the start)."""
    if live is not None:
        return live
    elapsed = None
    if run.started_at and run.heartbeat_at:
        try:
            started = unix_from_iso(run.started_at)
            elapsed = max(run.heartbeat_at - started, 0.0)
        except ValueError:
            elapsed = None
    return Pace(run.progress, run.total, elapsed)


def status_text(run: Run, live: Pace | None = None) -> str:
    """A run's status; while it is in progress, a bar of how far it got; a done run that
    readings reached after its export says how many (`done +12 late`)."""
    if run.status == RunStatus.DONE and run.late_readings:
        return f"done +{count_text(run.late_readings)} late"
    if run.status != RunStatus.IN_PROGRESS:
        return run.status
    pace = run_pace(run, live)
    return progress_text(pace.done, pace.total)


def next_run_text(stored: StoredRequest, now: datetime, next_times: list[datetime], clock: UiClock, finished: bool = False) -> str:
    """NEXT RUN: `finished` once the last interval before periodEnd has been decided."""
    if finished:
        return "finished"
    if stored.paused:
        return "paused"
    if stored.request.type != "recurring" or not next_times:
        return NONE
    return clock.compact(next_times[0].timestamp(), zone_of(stored.request), now)


Columns = tuple[tuple[str, str, int], ...]


def request_columns(clock: UiClock) -> Columns:
    # (key, header, width); the columns of width 0 share what is left
    return (
        ("id", "ID", 8),
        ("name", "NAME", 0),
        ("type", "TYPE", 9),
        ("targets", "TARGETS", 0),
        ("ext", "EXT", 4),
        ("every", "EVERY", 6),
        ("next", clock.header("NEXT RUN"), 11 + clock.extra_width),
        ("last", "LAST", 12),
    )


# What a narrow terminal gives up first: ID, NAME and LAST stay at any width.
REQUEST_DROP = ("type", "ext", "targets", "every", "next")


def request_cells(stored: StoredRequest, last_status: str | None, next_text: str) -> dict[str, str]:
    r = stored.request
    return {
        "id": stored.short_id,
        "name": r.name or NONE,
        "type": r.type,
        "targets": target_summary(r),
        "ext": r.format.extension,
        "every": r.periodicity or NONE,
        "next": next_text,
        "last": last_status or NONE,
    }


def run_columns(clock: UiClock) -> Columns:
    return (
        ("status", "STATUS", 13),
        ("window", clock.header("WINDOW"), 15 + clock.extra_width),
        ("rows", "ROWS", 6),
        ("file", "FILE", 0),
    )


def run_cells(run: Run, zone: tzinfo | None, now: datetime, clock: UiClock, live: Pace | None = None) -> dict[str, str]:
    """A run's row; while it is in progress the FILE cell (no file yet) tells its pace."""
    if run.status == RunStatus.IN_PROGRESS:
        file = run_pace(run, live).text()
    else:
        file = run.file_name or (clip(run.error, 60) if run.error else NONE)
    return {
        "status": status_text(run, live),
        "window": window_text(run.window_from, run.window_to, zone, now, clock),
        "rows": NONE if run.rows is None else str(run.rows),
        "file": file,
    }


def history_columns(clock: UiClock) -> Columns:
    return (
        ("run", "RUN", 8),
        ("request", "REQUEST", 8),
        ("status", "STATUS", 13),
        ("window", clock.header("WINDOW"), 15 + clock.extra_width),
        ("rows", "ROWS", 6),
        ("origin", "VIA", 0),
    )


HISTORY_DROP = ("origin", "rows")


def history_cells(run: Run, zone: tzinfo | None, now: datetime, clock: UiClock) -> dict[str, str]:
    """A run of any request; `zone` is its request's (None when that request is gone: the machine's)."""
    return {
        "run": run.id[:8],
        "request": run.request_id[:8],
        "status": status_text(run),
        "window": window_text(run.window_from, run.window_to, zone, now, clock),
        "rows": NONE if run.rows is None else str(run.rows),
        "origin": run.origin,
    }


def fit_widths(columns: Columns, available: int, padding: int = 2, minimum: int = 8, drop: tuple[str, ...] = ()) -> dict[str, int]:
    """Widths of the columns that fit in `available` cells: fixed ones as given, the flexible ones
    (width 0) share the rest. While they would get less than `minimum` each (or the fixed ones
    alone overflow), the next column of `drop` is left out; the columns not in `drop` always stay."""
    kept = list(columns)
    left = list(drop)
    while True:
        fixed = sum(w for _, _, w in kept if w) + padding * len(kept)
        flexible = [key for key, _, w in kept if not w]
        room = available - fixed
        fits = room >= minimum * len(flexible) if flexible else room >= 0
        if fits or not left:
            break
        gone = left.pop(0)
        kept = [c for c in kept if c[0] != gone]
    share = max(room // len(flexible), minimum) if flexible else 0
    extra = max(room - share * len(flexible), 0) if flexible else 0
    widths = {}
    for key, _, w in kept:
        widths[key] = w or share + (extra if key == flexible[0] else 0)
    return widths


def location_text(path: str | None, base: Path) -> str:
    """A file's location, relative to the app's home when it lies inside it."""
    if not path:
        return NONE
    p = Path(path)
    try:
        return str(p.relative_to(base))
    except ValueError:
        return str(p)
