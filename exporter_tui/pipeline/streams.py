"""Work the export hands to the source instead of doing it itself, and each target's stream of stages.

Projection. A source that can (the embedded one, through `read_columns`) fills only the
reading fields an item's stages and output columns look at, and decodes no other column.
The rows and chunk boundaries stay those of a full read, so every stage computes exactly
what it computes on full chunks; the file is byte-identical. Any other source is read whole.

Arrays for decimation. Without a delta, decimation looks only at times, numbers and each
bucket's first descriptive fields, so from a source that can (the embedded one, through
`read_arrays`) it reads the same chunks as arrays and no frame is built per chunk; what it emits are its
Buckets, as arrays too (decimate.as_frames makes them frames where a stage needs one). The
file is byte-identical (tests/test_streams.py).

No worker processes. Before the chunked store, a big decimated export ran its targets in
child processes, since reading SQLite rows into Python held the GIL for ~1 us a reading.
Reading arrays made that cost a few percent of what it was, and a child's start (~0.5 s,
pandas imported again) plus shipping its frames back now cost more than they save:
measured at 10M readings on 2 CPUs, 4.5-5.3 s in one process against 5.2-7.8 s with workers.

Why not aggregate in SQL: a GROUP BY's sum adds in another order than numpy's pairwise
`reduceat`, so averages, sums and deviations would differ from the streaming path in the
last bits (and between SQLite versions, whose sum changed algorithm in 3.43); only min and
max would not, and they are not worth a second code path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sized
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from exporter_tui.core.durations import get_zone
from exporter_tui.core.times import iso_from_unix
from exporter_tui.pipeline.columns import ColumnSpec, resolve_columns
from exporter_tui.pipeline.decimate import Buckets, Decimator, FrameArrays, decimated
from exporter_tui.pipeline.pushdown import pushed_stream
from exporter_tui.sources.base import DELTA_LOOKBACK, ArrayReader, ReadingArrays, ReadQuery, Source

if TYPE_CHECKING:
    import pandas as pd

# What every stage may look at: the time, and the numeric reading (`value`, else `bool_value`).
_BASE = frozenset({"time", "value", "bool_value"})
# The reading fields behind each output column id of a long table (key fields are always there).
_LONG_FIELDS: dict[str, frozenset[str]] = {
    "publisher": frozenset({"publisher"}),
    "channel": frozenset(),
    "subtopic": frozenset(),
    "name": frozenset(),
    "unit": frozenset({"unit"}),
    "time": frozenset(),
    "value": frozenset({"string_value", "data_value"}),
    "created": frozenset({"update_time"}),
}


_Chunk = TypeVar("_Chunk", bound=Sized)


class Wrap(Protocol):
    """Sees a target's chunks as they are read (frames or arrays) and passes them on."""

    def __call__(self, chunks: Iterator[_Chunk], /) -> Iterator[_Chunk]: ...


@runtime_checkable
class ColumnReader(Protocol):
    """A source that can read a subset of the reading fields (see EmbeddedSource.read_columns)."""

    def read_columns(self, query: ReadQuery, columns: frozenset[str], chunk_rows: int = 100_000) -> Iterator[pd.DataFrame]: ...


@dataclass(frozen=True)
class Stages:
    """What happens to each target's readings of one item."""

    chunk_rows: int
    fields: frozenset[str] | None  # None: read every field
    zone: str  # the request's time zone name
    transform: str | None = None  # "delta" or None
    ds: str | None = None  # decimation granularity, None for raw readings
    dsf: str = "avg"
    pushed: bool = False  # the decimation is the readers service's (pipeline/pushdown.py)


def needed_fields(params: Any, columns: ColumnSpec | None) -> frozenset[str]:
    """The reading fields that can reach an item's output (ItemParams), through its stages and columns.

    Wide output shows numbers only. `delta` keeps only readings with a numeric value, so text
    values never get through it. Decimated rows carry a bucket's numeric aggregate and the
    descriptive fields of its first reading: no text value, no `update_time`.
    """
    if params.output_format == "wide":
        return _BASE
    dropped: set[str] = set()
    if params.transform == "delta" or params.decimation is not None:
        dropped |= {"string_value", "data_value"}
    if params.decimation is not None:
        dropped.add("update_time")
    fields = set(_BASE)
    for cid, _ in resolve_columns(columns):
        fields |= _LONG_FIELDS[cid] - dropped
    return frozenset(fields)


def read_stream(source: Source, query: ReadQuery, fields: frozenset[str] | None, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """The query's chunks, with only `fields` filled when the source can read a subset."""
    if fields is not None and isinstance(source, ColumnReader):
        return source.read_columns(query, fields, chunk_rows)
    return source.read(query, chunk_rows)


def target_stream(
    source: Source,
    stages: Stages,
    query: ReadQuery,
    wrap: Wrap,
    note: Callable[[str], None] | None = None,
    covered: Callable[[int], None] | None = None,
) -> Iterator[pd.DataFrame | Buckets]:
    """One target's chunks through delta and decimation, decimated ones as Buckets; `wrap` sees
    the raw chunks as they are read, `note` hears what the run log should say (a delta whose
    first value is unknown). A pushed decimation reads no raw chunk: `covered(n)` hears of the n
    readings in each part of its buckets."""
    if stages.pushed and stages.ds is not None:
        return pushed_stream(source, stages.ds, stages.dsf, query, covered or (lambda n: None))
    if stages.ds is not None and stages.transform is None and stages.fields is not None and isinstance(source, ArrayReader):
        # Decimation looks at times and numbers only: a source that can skips building frames.
        return _decimated(wrap(source.read_arrays(query, stages.fields, stages.chunk_rows)), stages.ds, stages, query)
    stream = wrap(read_stream(source, query, stages.fields, stages.chunk_rows))
    if stages.transform == "delta":
        from exporter_tui.pipeline.delta import DeltaStage  # frames only

        before = source.last_numeric_before(query.channel, query.subtopic, query.name, query.start)
        if before.exhausted and note is not None:
            when = iso_from_unix(query.start, "auto")
            note(f"{query.name}: no numeric reading among the {DELTA_LOOKBACK:,} before {when}; the first delta is unknown and was dropped")
        delta = DeltaStage(before.value)
        stream = (delta.apply(c) for c in stream)
    if stages.ds is not None:
        return _decimated((FrameArrays(c) for c in stream), stages.ds, stages, query)
    return stream


def _decimated(chunks: Iterator[ReadingArrays], ds: str, stages: Stages, query: ReadQuery) -> Iterator[Buckets]:
    """The chunks through decimation by `ds` (the stages' own), its buckets labelled from the window start."""
    decimator = Decimator(ds, stages.dsf, get_zone(stages.zone), window_start=query.start)
    return decimated(chunks, decimator, stages.chunk_rows)
