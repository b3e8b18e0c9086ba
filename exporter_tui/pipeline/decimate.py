"""Decimation: readings of one target aggregated into time buckets, streamed over chunks.

`ds` is a positive integer and a unit among `s m h d w M y`; `dsf` one of `avg max min sum
stddev variance`. A bucket is labelled by its start and holds `start <= time < next start`;
a bucket cut by the window start is labelled with the window start.

Bucket anchors:
- `s`, `m`, `h`: the request's local clock, by the rule in core/buckets.py: boundaries at the
  local wall times that are multiples of the width after 1970-01-01 00:00 local (for widths
  dividing 24 h, multiples after each local midnight; a repeated wall time gives two
  boundaries, a skipped one none).
- `d`, `w`, `M`, `y`: calendar in the request's zone, starting at local midnight, so a day over
  a daylight-saving change lasts 23 or 25 hours. For n > 1: `nd` counts local days since
  1970-01-01, `nw` weeks since Monday 1970-01-05 (weeks start on Monday), `nM` months since
  January 1970 (so `3M` are calendar quarters), `ny` starts in years that are multiples of n
  (`10y` are decades 2020, 2030...). When local midnight does not exist the bucket starts at
  the first instant of that day; when it occurs twice, at the earliest.

Values: the numeric `value`; a reading without one but with a `bool_value` counts as 1.0/0.0
(so `avg` of an on/off signal is its duty fraction); readings with neither are skipped.
`stddev`/`variance` are the sample ones (n - 1), as pandas and InfluxDB compute them: a bucket
with one reading keeps its row with an empty (NaN) value. Empty buckets give no row.

Chunks are combined exactly: the open (last) bucket of a chunk is carried as partial aggregates
(count, sum, mean and M2 merged with Chan's parallel formula, min, max) and emitted once a
reading of a later bucket arrives, or by `finish`.

Variance stays exact at large means (values near 1e12 with unit noise): mean and M2 are kept
relative to a shift, the bucket's first value, so they are sums of numbers the size of the
spread, not of the mean, whose rounding (1e-4 at 1e12) would swamp a unit variance. Within a
chunk M2 is a corrected two-pass sum; across chunks the shifted means merge by Chan's formula.
Every split of the readings into chunks gives the variance within 1e-10 relative of the exact
rational value, and the same readings always give the same bits. Only `stddev` and
`variance` compute mean and M2; the other functions need count, sum, min and max.

The decimator reads ReadingArrays (a frame is seen as such through FrameArrays) and gives
Buckets, plain arrays; `Buckets.frame()` builds the frame a later stage may need. So an export
of buckets to a text file imports no pandas.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np

from exporter_tui.core.buckets import MAX_JUMP, boundaries, bucket_starts, first_instants
from exporter_tui.core.durations import DS_UNITS, parse_ds
from exporter_tui.sources.base import READING_COLUMNS, READING_DTYPES, ReadingArrays

if TYPE_CHECKING:
    import pandas as pd

DSF_FUNCTIONS: tuple[str, ...] = ("avg", "max", "min", "sum", "stddev", "variance")
# Columns a bucket row copies from its first reading; the other value columns stay empty.
DESCRIPTIVE_COLUMNS: tuple[str, ...] = ("channel", "subtopic", "publisher", "protocol", "name", "unit")

_CLOCK_UNITS = frozenset("smh")
_EPOCH_DATE = date(1970, 1, 1)
_FIRST_MONDAY = 4  # 1970-01-05, the first Monday after the epoch, in days since 1970-01-01


def numeric_values(chunk: pd.DataFrame) -> np.ndarray:
    """Each reading as a number: `value`, else `bool_value` as 1.0/0.0, else NaN."""
    values = chunk["value"].to_numpy(dtype="float64", na_value=np.nan)
    missing = np.isnan(values)
    if missing.any():
        bools = chunk["bool_value"].astype("boolean").to_numpy(dtype="float64", na_value=np.nan)
        values = np.where(missing, bools, values)
    return values


class FrameArrays:
    """A frame of READING_COLUMNS seen as ReadingArrays, for the decimator."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame

    @property
    def time(self) -> np.ndarray:
        return self.frame["time"].to_numpy(dtype="float64")

    def __len__(self) -> int:
        return len(self.frame)

    def numbers(self) -> np.ndarray:
        return numeric_values(self.frame)

    def at(self, column: str, rows: np.ndarray) -> np.ndarray:
        return self.frame[column].to_numpy(dtype=object)[rows]


@dataclass(frozen=True)
class Buckets:
    """Decimated rows as arrays: each bucket's label (`time`, Unix seconds), its aggregate
    (`value`, NaN for a spread of one reading) and its first reading's DESCRIPTIVE_COLUMNS."""

    time: np.ndarray
    value: np.ndarray
    desc: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.time)

    def frame(self) -> pd.DataFrame:
        """The buckets as READING_COLUMNS rows; the other value columns empty."""
        import pandas as pd

        n = len(self)
        columns: dict[str, Any] = {}
        for col in READING_COLUMNS:
            dtype = READING_DTYPES[col]
            if col in self.desc:
                columns[col] = pd.Series(self.desc[col], dtype=object)
            elif col == "time":
                columns[col] = self.time
            elif col == "value":
                columns[col] = self.value
            elif dtype == "float64":
                columns[col] = np.full(n, np.nan)
            elif dtype == "boolean":
                columns[col] = pd.arrays.BooleanArray(np.zeros(n, dtype=bool), np.ones(n, dtype=bool))
            else:  # object dtype given: pandas would otherwise infer its string dtype
                columns[col] = pd.Series(np.empty(n, dtype=object), dtype=object)
        return pd.DataFrame(columns)


def as_frames(chunks: Iterable[pd.DataFrame | Buckets]) -> Iterator[pd.DataFrame]:
    """The chunks as frames, Buckets made into theirs."""
    for chunk in chunks:
        yield chunk.frame() if isinstance(chunk, Buckets) else chunk


@dataclass
class _Parts:
    """Partial aggregates of consecutive buckets, one array element per bucket."""

    key: np.ndarray
    start: np.ndarray
    count: np.ndarray
    total: np.ndarray
    shift: np.ndarray  # the bucket's first value; `mean` is the mean of value - shift
    mean: np.ndarray
    m2: np.ndarray
    low: np.ndarray
    high: np.ndarray
    desc: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.key)

    def take(self, sl: slice) -> _Parts:
        return _Parts(
            self.key[sl],
            self.start[sl],
            self.count[sl],
            self.total[sl],
            self.shift[sl],
            self.mean[sl],
            self.m2[sl],
            self.low[sl],
            self.high[sl],
            {c: a[sl] for c, a in self.desc.items()},
        )

    def absorb_first(self, carried: _Parts) -> None:
        """Merge the one-bucket `carried` (earlier readings) into this first bucket, in place."""
        na, nb = carried.count[0], self.count[0]
        n = na + nb
        # This chunk's mean measured from the carried shift: shifts are near each other (the
        # difference of two close floats is exact), so nothing the size of the values is rounded.
        delta = (self.mean[0] + (self.shift[0] - carried.shift[0])) - carried.mean[0]
        self.shift[0] = carried.shift[0]
        self.m2[0] = carried.m2[0] + self.m2[0] + delta * delta * na * nb / n
        self.mean[0] = carried.mean[0] + delta * nb / n
        self.total[0] = carried.total[0] + self.total[0]
        self.count[0] = n
        self.low[0] = min(carried.low[0], self.low[0])
        self.high[0] = max(carried.high[0], self.high[0])
        for c, a in self.desc.items():
            a[0] = carried.desc[c][0]

    @staticmethod
    def concat(parts: Sequence[_Parts]) -> _Parts:
        """The parts one after another (each copied once, however many)."""
        if len(parts) == 1:
            return parts[0]
        arrays = {f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(_Parts) if f.name != "desc"}
        return _Parts(**arrays, desc={c: np.concatenate([p.desc[c] for p in parts]) for c in parts[0].desc})


class Decimator:
    """Aggregates the readings of ONE target, fed in ascending chunks, into buckets."""

    def __init__(self, ds: str, dsf: str, zone: ZoneInfo | timezone, window_start: float | None = None) -> None:
        self.n, self.unit = parse_ds(ds)
        if dsf not in DSF_FUNCTIONS:
            raise ValueError(f"dsf '{dsf}' is not one of {' '.join(DSF_FUNCTIONS)}")
        self.dsf = dsf
        self.zone = zone
        self.window_start = window_start
        self._open: _Parts | None = None

    def feed(self, chunk: pd.DataFrame) -> pd.DataFrame:
        """The buckets this chunk completes (possibly none), as READING_COLUMNS rows."""
        return _buckets(self.complete(FrameArrays(chunk)), self.dsf).frame()

    def complete(self, chunk: ReadingArrays) -> _Parts | None:
        """`feed`'s buckets as partial aggregates, no frame built: what `decimated` batches."""
        values, times, at = chunk.numbers(), chunk.time, chunk.at
        kept: np.ndarray | None = None  # the rows with a number, when some have none
        usable = ~np.isnan(values)
        if not usable.all():
            kept = np.flatnonzero(usable)
            values, times = values[kept], times[kept]
        if len(values) == 0:
            return None
        if np.any(times[1:] < times[:-1]):
            raise ValueError("readings must come in ascending time order")
        heads, keys, labels = self._runs(times)
        if self._open is not None and keys[0] < self._open.key[0]:
            raise ValueError("readings must come in ascending time order")
        first = heads if kept is None else kept[heads]
        parts = _aggregate(values, heads, keys, labels, self.dsf, {c: at(c, first) for c in DESCRIPTIVE_COLUMNS})
        if self._open is not None:
            if parts.key[0] == self._open.key[0]:
                parts.absorb_first(self._open)
            else:
                parts = _Parts.concat([self._open, parts])
        self._open = parts.take(slice(len(parts) - 1, None))
        return parts.take(slice(0, len(parts) - 1))

    def finish(self) -> pd.DataFrame:
        """The last, still open bucket (if any); the decimator is then empty."""
        return _buckets(self.release(), self.dsf).frame()

    def release(self) -> _Parts | None:
        """`finish`'s bucket as partial aggregates."""
        parts, self._open = self._open, None
        return parts

    def _runs(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Where each bucket's readings begin in `times` (ascending), the bucket's number and its label.

        The bucket boundaries of the chunk's span are placed among the times by a binary
        search when they are fewer than the readings; otherwise each reading's bucket start
        is computed and the runs of equal starts found. Either costs the smaller count."""
        if self.unit in _CLOCK_UNITS:
            width = self.n * DS_UNITS[self.unit]
            if (times[-1] - times[0] + 2 * MAX_JUMP) / width >= len(times):  # `boundaries` looks MAX_JUMP beyond
                starts = bucket_starts(times, width, self.zone)
                heads = np.flatnonzero(np.r_[True, starts[1:] != starts[:-1]])
                return heads, starts[heads].astype("int64"), self._label(starts[heads])
            bounds = boundaries(float(times[0]), float(times[-1]), width, self.zone)
            numbers = bounds.astype("int64")
        else:
            # Calendar units: the chunk spans buckets first..last (by local date).
            first = self._calendar_bucket(float(times[0]))
            last = self._calendar_bucket(float(times[-1]))
            numbers = np.arange(first, last + 1, dtype="int64")
            bounds = self._calendar_starts(numbers)
        # Bucket j holds the readings from begins[j] up to the next bucket's; the first holds
        # every reading before the second's start.
        begins = np.searchsorted(times, bounds, side="left")
        begins[0] = 0
        used = begins < np.r_[begins[1:], len(times)]
        return begins[used], numbers[used], self._label(bounds[used])

    def _label(self, starts: np.ndarray) -> np.ndarray:
        """Bucket starts as labels: the bucket the window start cuts is labelled with it."""
        return starts if self.window_start is None else np.maximum(starts, self.window_start)

    def _calendar_bucket(self, t: float) -> int:
        local = datetime.fromtimestamp(t, self.zone).date()
        if self.unit == "d":
            return (local - _EPOCH_DATE).days // self.n
        if self.unit == "w":
            return ((local - _EPOCH_DATE).days - _FIRST_MONDAY) // (7 * self.n)
        if self.unit == "M":
            return ((local.year - 1970) * 12 + local.month - 1) // self.n
        return local.year // self.n

    def _calendar_starts(self, numbers: np.ndarray) -> np.ndarray:
        """Unix seconds of the local midnight that starts each calendar bucket number: where
        midnight is skipped, the first instant after the gap; where repeated, the earlier."""
        first = numbers * self.n
        if self.unit == "d":
            naive = first.astype("datetime64[D]")
        elif self.unit == "w":
            naive = (first * 7 + _FIRST_MONDAY).astype("datetime64[D]")
        elif self.unit == "M":
            naive = first.astype("datetime64[M]")
        else:
            naive = (first - 1970).astype("datetime64[Y]")
        return first_instants(naive.astype("datetime64[s]").astype("int64"), self.zone).astype("float64")


def _aggregate(
    values: np.ndarray, heads: np.ndarray, keys: np.ndarray, starts: np.ndarray, dsf: str, desc: dict[str, np.ndarray]
) -> _Parts:
    """Partial aggregates of the buckets beginning at `heads`: what `dsf` needs of count, sum,
    min, max, mean and M2 (the rest left zero); `desc`, the first reading's descriptive columns."""
    count = np.diff(np.r_[heads, len(values)]).astype("float64")
    total = np.add.reduceat(values, heads)
    zeros = np.zeros(len(heads))
    if dsf in ("stddev", "variance"):
        repeats = count.astype("int64")
        shift = values[heads]
        shifted = values - np.repeat(shift, repeats)
        mean = np.add.reduceat(shifted, heads) / count
        deviation = shifted - np.repeat(mean, repeats)
        # The corrected two-pass sum: the second term takes out what the rounded mean left in.
        m2 = np.maximum(np.add.reduceat(deviation * deviation, heads) - np.add.reduceat(deviation, heads) ** 2 / count, 0.0)
    else:
        shift, mean, m2 = zeros, zeros, zeros
    low = np.minimum.reduceat(values, heads) if dsf == "min" else zeros
    high = np.maximum.reduceat(values, heads) if dsf == "max" else zeros
    return _Parts(keys, starts, count, total, shift, mean, m2, low, high, desc)


def decimated(chunks: Iterable[ReadingArrays], decimator: Decimator, batch_rows: int) -> Iterator[Buckets]:
    """The decimator's buckets over `chunks`, in batches of at least `batch_rows` buckets (the
    last may hold fewer): a batch costs about as much to build a frame of and select from
    whatever its length, and a day of 15-minute buckets is 96 rows."""
    held: list[_Parts] = []
    rows = 0
    for chunk in chunks:
        done = decimator.complete(chunk)
        if done is not None and len(done):
            held.append(done)
            rows += len(done)
            if rows >= batch_rows:
                yield _buckets(_Parts.concat(held), decimator.dsf)
                held, rows = [], 0
    last = decimator.release()
    if last is not None:
        held.append(last)
    if held:
        yield _buckets(_Parts.concat(held), decimator.dsf)


def _result(parts: _Parts, dsf: str) -> np.ndarray:
    if dsf == "avg":
        return parts.total / parts.count
    if dsf == "sum":
        return parts.total
    if dsf == "min":
        return parts.low
    if dsf == "max":
        return parts.high
    with np.errstate(divide="ignore", invalid="ignore"):
        variance = np.where(parts.count > 1, parts.m2 / (parts.count - 1), np.nan)
    return variance if dsf == "variance" else np.sqrt(variance)


def _buckets(parts: _Parts | None, dsf: str) -> Buckets:
    if parts is None:
        return Buckets(np.empty(0), np.empty(0), {c: np.empty(0, dtype=object) for c in DESCRIPTIVE_COLUMNS})
    return Buckets(parts.start.astype("float64"), _result(parts, dsf).astype("float64"), parts.desc)
