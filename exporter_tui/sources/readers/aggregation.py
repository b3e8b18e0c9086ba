"""Buckets aggregated by the readers service itself (the Timescale reader, Magistrala v0.15+).

`aggregation=AVG|MIN|MAX|SUM|COUNT&interval=<w>s` answers one message per non-empty
`time_bucket(w, time)` bucket (UTC, origin 2000-01-03, whole seconds), newest first, `total`
being the number of buckets. Whether a decimation may be asked this way is decided in
pipeline/pushdown.py; this module only asks, and checks every answer, since a server that
ignores the parameters (the postgres reader echoes `aggregation` back with raw readings)
must never have its readings taken for buckets.

Probe, before anything is read: one COUNT whose interval (100 years) holds the whole window in
one or two buckets. Its counts must add up to the window's raw total, else some readings have
no numeric `value` (booleans, text: the server aggregates `value` only, the decimation here
counts a boolean as 1/0) or the server does not aggregate at all; the probe then says why.

Read: the window is cut at bucket boundaries into slices of at most `limit` buckets, so one
answer holds a whole slice and no offset is ever sent. Per slice a COUNT, then the function
itself, over the same [from, to): both must name the same buckets, on the grid, inside the
slice. At the end the window's raw total is asked again and must equal the sum of the COUNTs:
a reading that arrived in a slice after its COUNT makes them differ, and the read fails.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

from exporter_tui.sources.base import SourceError
from exporter_tui.sources.readers.client import Page, snip
from exporter_tui.sources.readers.generations import ORIGIN, Generation

PROBE_WIDTH = 876_000 * 3600  # 100 years: the probe's window falls in at most two buckets
FUNCTIONS = ("AVG", "MIN", "MAX", "SUM")

# fetch(from, to, aggregation, width in seconds, limit): one aggregated answer for [from, to)
AggregateFetch = Callable[[float, float, str, int, int], Page]


class NotAggregated(SourceError):
    """The server's answer to an aggregated request is not buckets of it."""


class Aggregates:
    """Aggregated buckets of one query's window [start, end) (Unix seconds)."""

    def __init__(self, fetch: AggregateFetch, generation: Generation, limit: int, where: str, start: float, end: float):
        self._fetch = fetch
        self._gen = generation
        self._limit = limit
        self._where = where
        self.start, self.end = start, end

    def probe(self, raw_total: int) -> str | None:
        """Why the server cannot aggregate this window exactly, or None when it can."""
        try:
            counts = self._buckets(self.start, self.end, "COUNT", PROBE_WIDTH)
        except NotAggregated as e:
            return str(e)
        counted = sum(int(v) for v in counts.values())
        if counted < raw_total:
            return (
                f"{raw_total - counted} of the {raw_total} readings in the window have no numeric value (booleans, text or data), "
                "and the server aggregates the numeric value only"
            )
        if counted != raw_total:
            return f"the server's COUNT over the window is {counted}, but it counts {raw_total} readings there"
        return None

    def buckets(self, function: str, width: int, covered: Callable[[int], None]) -> Iterator[list[tuple[int, float]]]:
        """(bucket start in Unix seconds, value) of every non-empty bucket, ascending, one list per slice;
        `covered(n)` hears how many readings each slice's buckets hold."""
        if function not in FUNCTIONS:
            raise ValueError(f"the readers service cannot aggregate {function!r}")
        first = (math.floor(self.start) - ORIGIN) // width
        while True:
            lo = max(self.start, float(ORIGIN + first * width))
            hi = min(self.end, float(ORIGIN + (first + self._limit) * width))
            if lo >= hi:
                return
            try:
                counts = self._buckets(lo, hi, "COUNT", width)
                values = self._buckets(lo, hi, function, width) if counts else {}
            except NotAggregated as e:
                raise SourceError(f"source.readers.pushdown: {e}") from None
            nonempty = {b for b, n in counts.items() if n}
            if set(values) != nonempty:
                raise SourceError(
                    f"source.readers.pushdown: the readers service answered {len(values)} {function} buckets but {len(nonempty)} "
                    f"COUNT buckets for the same part of the window in {self._where}"
                )
            covered(int(sum(counts.values())))
            if values:
                yield sorted(values.items())
            first += self._limit

    def _buckets(self, lo: float, hi: float, function: str, width: int) -> dict[int, float]:
        """{bucket start: value} of one aggregated answer for [lo, hi), checked to be buckets of `width`."""
        page = self._fetch(self._gen.to_server(lo), self._gen.to_server(hi), function, width, self._limit)
        first = ORIGIN + (math.floor(lo) - ORIGIN) // width * width
        asked = f"aggregation={function}&interval={width}s for {self._where}"
        if page.total != len(page.messages):
            raise NotAggregated(
                f"the readers service answered {asked} with {len(page.messages)} messages of {page.total}: not one answer per "
                "slice of buckets: it ignores aggregation (the postgres reader does; only the Timescale reader aggregates)"
            )
        out: dict[int, float] = {}
        for m in page.messages:
            t = _number(m.get("time")) if isinstance(m, dict) else None
            v = _number(m.get("value")) if isinstance(m, dict) else None
            if t is None or v is None:
                raise NotAggregated(f"the readers service answered {asked} with a message that is not a bucket: {snip(repr(m))}")
            seconds = self._gen.to_seconds(t)
            if not float(seconds).is_integer() or (int(seconds) - ORIGIN) % width or not first <= seconds < hi or int(seconds) in out:
                raise NotAggregated(
                    f"the readers service answered {asked} with a reading at {t!r}, not a bucket of time_bucket({width}s) in the "
                    "window: it ignores aggregation (the postgres reader does; only the Timescale reader aggregates)"
                )
            if function == "COUNT" and (not float(v).is_integer() or v < 0):
                raise NotAggregated(f"the readers service answered {asked} with a count that is not one: {snip(repr(m))}")
            out[int(seconds)] = float(v)
        return out


def _number(x: object) -> int | float | None:
    return x if isinstance(x, int | float) and not isinstance(x, bool) else None
