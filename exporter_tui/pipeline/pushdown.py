"""Pushdown: which decimated items the readers service aggregates itself, by `source.readers.pushdown`.

The Timescale reader (Magistrala v0.15+, SuperMQ) aggregates `value` into `time_bucket(width)`
buckets: fixed widths in UTC from the origin 2000-01-03, whole seconds. An item goes there only
when that is exactly the decimation computed here (decimate.py), to within the rounding of
another order of addition (|server - here| <= 1e-9 x the sum of |value| in the bucket):

- `dsf` avg, min, max or sum: the server has no stddev or variance;
- a clock width (`s m h`, whole seconds) whose boundaries under the local-clock rule
  (core/buckets.py) are all time_bucket boundaries across the window. A boundary of that rule
  is an instant t whose wall clock t + offset(t) is a multiple of the width, and a time_bucket
  boundary one with t - ORIGIN a multiple of it; so the two sets are the same exactly when
  ORIGIN + offset is a multiple of the width for every UTC offset the zone has in the window
  (15m in Europe/Rome, +1h/+2h: yes; 1h in Asia/Kolkata, +5:30: no). Calendar units
  (`d w M y`) follow the zone's midnights and months: never;
- no `delta` (it comes before decimation, on the raw readings);
- every reading of the window has a numeric `value` (booleans count as 1/0 here, the server
  skips them): checked by the source's probe, which also catches a server that ignores
  `aggregation` (the postgres reader).

`auto` pushes what can be pushed and computes the rest here, saying in the run log why an
item the server was asked about is computed here; `on` refuses a request with an item that
cannot be pushed (`refusals`, when it is stored or validated) and fails a run the server
cannot aggregate, naming `source.readers.pushdown`; `off` computes everything here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

import numpy as np

from exporter_tui.config import SourceSettings
from exporter_tui.core.buckets import wall_seconds
from exporter_tui.core.durations import DS_UNITS, get_zone, parse_ds
from exporter_tui.core.errors import FieldError, RequestInvalid
from exporter_tui.core.models import ExportRequest, Item
from exporter_tui.core.times import utc_now
from exporter_tui.sources.base import ReadQuery, Source, SourceError
from exporter_tui.sources.readers.generations import ORIGIN

if TYPE_CHECKING:
    import pandas as pd

SERVER_FUNCTIONS: dict[str, str] = {"avg": "AVG", "min": "MIN", "max": "MAX", "sum": "SUM"}
# Offsets are looked up this often across a window: tzdata's changes are weeks apart (as core/buckets.py relies on).
_OFFSET_STEP = 3600
# A request is checked when stored against the zone's offsets this long either side of today.
_CHECK_SPAN = timedelta(days=366)


@runtime_checkable
class Aggregating(Protocol):
    """A source whose server may aggregate (the readers source)."""

    @property
    def pushdown(self) -> str: ...

    def can_aggregate(self, channel: str) -> bool: ...

    def aggregation_refusal(self, query: ReadQuery) -> str | None: ...

    def read_aggregated(self, query: ReadQuery, width: int, function: str, covered: Callable[[int], None]) -> Iterator[pd.DataFrame]: ...


def ineligible(item: Item, zone: ZoneInfo | timezone, start: float, end: float) -> str | None:
    """Why the server cannot compute this item's decimation over [start, end), or None when it can."""
    p = item.params
    if p.decimation is None:
        return "it is not decimated"
    ds, dsf = p.decimation.ds, p.decimation.dsf
    if p.transform == "delta":
        return "delta comes before decimation, and the server aggregates raw readings only"
    if dsf not in SERVER_FUNCTIONS:
        return f"the readers service has no {dsf} (only {', '.join(SERVER_FUNCTIONS)})"
    n, unit = parse_ds(ds)
    if unit not in "smh":
        return f"{ds} buckets follow the calendar in the request's zone, the server's are fixed widths in UTC"
    width = n * DS_UNITS[unit]
    misaligned = sorted(o for o in zone_offsets(zone, start - width, end) if (ORIGIN + o) % width)
    if misaligned:
        return (
            f"{ds} buckets on the local clock of {zone} (UTC{_offset(misaligned[0])}) do not start where the server's "
            f"UTC buckets of {ds} do"
        )
    return None


def zone_offsets(zone: ZoneInfo | timezone, start: float, end: float) -> set[int]:
    """Every UTC offset (seconds) the zone has between start and end."""
    times = np.unique(np.r_[np.arange(np.floor(start), end, _OFFSET_STEP), np.floor(end)])
    return set((wall_seconds(times, zone) - times.astype("int64")).tolist())


def refusals(request: ExportRequest, pushdown: str, now: datetime | None = None) -> list[FieldError]:
    """With pushdown = "on": each decimated item the server could not compute, at `items[i].params.decimation`.
    The zone is checked over the year either side of `now` (each run then checks its own window)."""
    if pushdown != "on":
        return []
    now = now or utc_now()
    zone = get_zone(request.format.timezone)
    start, end = (now - _CHECK_SPAN).timestamp(), (now + _CHECK_SPAN).timestamp()
    errors = []
    for i, item in enumerate(request.items):
        reason = ineligible(item, zone, start, end) if item.params.decimation is not None else None
        if reason:
            errors.append(FieldError(f"items[{i}].params.decimation", f"source.readers.pushdown is 'on', but {reason}"))
    return errors


def check_request(request: ExportRequest, source: SourceSettings) -> None:
    """Raise RequestInvalid when the settings refuse the request (pushdown = "on" on the readers source)."""
    errors = refusals(request, source.readers.pushdown) if source.kind == "readers" else []
    if errors:
        raise RequestInvalid(errors)


def plan(source: Source, request: ExportRequest, windows: Sequence[tuple[float, float]], note: Callable[[str], None]) -> list[str | None]:
    """Where each item is aggregated: "server", "client", or None when it is not decimated.
    Raises SourceError, naming source.readers.pushdown, when it is "on" and an item cannot go to the server."""
    return [
        None if item.params.decimation is None else ("server" if _pushed(source, request, i, window, note) else "client")
        for i, (item, window) in enumerate(zip(request.items, windows))
    ]


def _pushed(source: Source, request: ExportRequest, index: int, window: tuple[float, float], note: Callable[[str], None]) -> bool:
    if not isinstance(source, Aggregating) or source.pushdown == "off":
        return False
    item = request.items[index]
    p = item.params
    reason = ineligible(item, get_zone(request.format.timezone), window[0], window[1])
    asked = False
    if reason is None and not source.can_aggregate(p.channel_id):
        reason = "the readers service's generation cannot aggregate (only Magistrala v0.15+ and SuperMQ with the Timescale reader can)"
    if reason is None:
        asked = True
        for name in p.target.names():
            refused = source.aggregation_refusal(ReadQuery(p.channel_id, p.subtopic, name, window[0], window[1]))
            if refused:
                reason = f"{name}: {refused}"
                break
    if reason is None:
        return True
    if source.pushdown == "on":
        raise SourceError(f"source.readers.pushdown is 'on', but items[{index}] cannot be aggregated by the readers service: {reason}")
    if asked:
        note(f"items[{index}] is decimated here, not by the readers service: {reason}")
    return False


def pushed_stream(source: Source, ds: str, dsf: str, query: ReadQuery, covered: Callable[[int], None]) -> Iterator[pd.DataFrame]:
    """The server's buckets as decimated rows; the bucket the window start cuts is labelled with it, as here."""
    if not isinstance(source, Aggregating):
        raise TypeError(f"{source!r} cannot aggregate")
    n, unit = parse_ds(ds)
    for frame in source.read_aggregated(query, n * DS_UNITS[unit], SERVER_FUNCTIONS[dsf], covered):
        frame["time"] = np.maximum(frame["time"].to_numpy(dtype="float64"), query.start)
        yield frame


def _offset(seconds: int) -> str:
    sign = "-" if seconds < 0 else "+"
    h, m = divmod(abs(seconds) // 60, 60)
    return f"{sign}{h:02d}:{m:02d}"
