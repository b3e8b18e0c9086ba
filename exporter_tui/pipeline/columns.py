"""Output columns: which reading fields appear, in what order, under which headers.

Column ids: `publisher channel subtopic name unit time value created`. A spec is a list of
`(id, label)`; an empty label means the id itself. No spec means DEFAULT_COLUMNS.

LONG (one row per reading or bucket):
- `name` shows the target's label when the target has one (the label replaces the name).
- `time` and `created` are tz-aware datetimes in the request's zone; `created` is the reading's
  `update_time` when present, else its `time`.
- `value` is the numeric value, else the bool (a Python bool), else the string, else the data
  value. The column stays float64 while every cell is numeric (or empty); once another kind
  appears in a chunk it is an object column and empty cells are None.

WIDE (one row per time, one column per target): the `time` column, headed by the label the
spec gives the `time` id (else "time"), then one numeric column per target, headed by the
target's label, in the order of the targets. Other ids do not apply to wide and are ignored.

The Layout of either shape is computed from the spec alone, so a writer can be set up before
the first chunk: `value` and every wide target column count as numeric (charted by the PDF
writer, which must skip non-numeric cells of a mixed `value`).

Decimated buckets that never were a frame become the writers' Columns (`bucket_columns`),
the cells a frame of them would give, without importing pandas; the functions building frames
import it themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, timezone
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np

from exporter_tui.pipeline.decimate import Buckets
from exporter_tui.pipeline.writers.base import ColumnKind, Columns
from exporter_tui.pipeline.writers.timefmt import WallClock, clock_of

if TYPE_CHECKING:
    import pandas as pd

COLUMN_IDS: tuple[str, ...] = ("publisher", "channel", "subtopic", "name", "unit", "time", "value", "created")
DEFAULT_COLUMNS: list[tuple[str, str]] = [("time", "time"), ("name", "name"), ("value", "value"), ("unit", "unit")]
TIME_IDS = frozenset({"time", "created"})

ColumnSpec = Sequence[tuple[str, str | None]]


@dataclass(frozen=True)
class Layout:
    """Output headers in order, which of them hold datetimes, which hold numbers."""

    headers: list[str]
    time_headers: frozenset[str]
    numeric_headers: tuple[str, ...]


def resolve_columns(columns: ColumnSpec | None) -> list[tuple[str, str]]:
    """The spec with defaults applied and labels filled; an unknown id is a ValueError."""
    resolved = [(cid, label or cid) for cid, label in columns] if columns else list(DEFAULT_COLUMNS)
    for cid, _ in resolved:
        if cid not in COLUMN_IDS:
            raise ValueError(f"column id '{cid}' is not one of {' '.join(COLUMN_IDS)}")
    return resolved


def long_layout(columns: ColumnSpec | None) -> Layout:
    resolved = resolve_columns(columns)
    return Layout(
        headers=[label for _, label in resolved],
        time_headers=frozenset(label for cid, label in resolved if cid in TIME_IDS),
        numeric_headers=tuple(label for cid, label in resolved if cid == "value"),
    )


def wide_layout(columns: ColumnSpec | None, labels: Sequence[str]) -> Layout:
    time_label = _wide_time_label(columns)
    return Layout(
        headers=[time_label, *labels],
        time_headers=frozenset({time_label}),
        numeric_headers=tuple(labels),
    )


def bucket_columns(buckets: Buckets, columns: ColumnSpec | None, target_label: str | None, zone: ZoneInfo | timezone) -> Columns:
    """LONG buckets as output Columns: what `select_columns` of their frame gives a writer (a
    bucket's `created` is its time, as a bucket has no update time)."""
    kinds: list[ColumnKind] = []
    cells: list[np.ndarray | WallClock] = []
    clock: WallClock | None = None
    for cid, _ in resolve_columns(columns):
        if cid in TIME_IDS:
            if clock is None:
                clock = clock_of(buckets.time, zone)
            kinds.append("time")
            cells.append(clock)
        elif cid == "value":
            kinds.append("number")
            cells.append(buckets.value)
        else:
            kinds.append("other")
            cells.append(np.full(len(buckets), target_label, dtype=object) if cid == "name" and target_label else buckets.desc[cid])
    return Columns(tuple(kinds), tuple(cells))


def select_columns(chunk: pd.DataFrame, columns: ColumnSpec | None, target_label: str | None, zone: ZoneInfo | timezone) -> pd.DataFrame:
    """A LONG chunk (READING_COLUMNS) as output columns, headed by their labels."""
    import pandas as pd

    resolved = resolve_columns(columns)
    data: list[pd.Series] = [_long_column(chunk, cid, target_label, zone) for cid, _ in resolved]
    frame = pd.DataFrame(dict(enumerate(data)))
    frame.columns = [label for _, label in resolved]
    return frame


def select_wide_columns(frame: pd.DataFrame, columns: ColumnSpec | None, labels: Sequence[str], zone: ZoneInfo | timezone) -> pd.DataFrame:
    """A frame from `merge_wide` (time, then one column per label) as output columns."""
    import pandas as pd

    position = {label: i + 1 for i, label in enumerate(frame.columns[1:])}
    data: list[pd.Series] = [_datetimes(frame.iloc[:, 0].to_numpy(dtype="float64"), zone)]
    data += [frame.iloc[:, position[label]].reset_index(drop=True) for label in labels]
    out = pd.DataFrame(dict(enumerate(data)))
    out.columns = [_wide_time_label(columns), *labels]
    return out


def _wide_time_label(columns: ColumnSpec | None) -> str:
    return next((label or cid for cid, label in columns or () if cid == "time"), "time")


def _long_column(chunk: pd.DataFrame, cid: str, target_label: str | None, zone: ZoneInfo | timezone) -> pd.Series:
    import pandas as pd

    if cid == "time":
        return _datetimes(chunk["time"].to_numpy(dtype="float64"), zone)
    if cid == "created":
        updated = chunk["update_time"].to_numpy(dtype="float64", na_value=np.nan)
        times = chunk["time"].to_numpy(dtype="float64")
        return _datetimes(np.where(np.isnan(updated), times, updated), zone)
    if cid == "value":
        return _values(chunk)
    if cid == "name" and target_label:
        return pd.Series([target_label] * len(chunk), dtype=object)
    return pd.Series(chunk[cid].to_numpy(dtype=object))


def _datetimes(seconds: np.ndarray, zone: ZoneInfo | timezone) -> pd.Series:
    """Unix seconds as tz-aware datetimes, rounded to the microsecond (float seconds carry no more)."""
    import pandas as pd

    micros = np.round(seconds * 1e6).astype("int64").astype("datetime64[us]")
    return pd.Series(pd.DatetimeIndex(micros).tz_localize(UTC).tz_convert(zone))


def _values(chunk: pd.DataFrame) -> pd.Series:
    import pandas as pd

    numbers = chunk["value"].to_numpy(dtype="float64", na_value=np.nan)
    missing = np.isnan(numbers)
    if not missing.any():
        return pd.Series(numbers)
    # Fill from the lowest priority up, so the highest-priority kind present wins.
    sources = (
        chunk["data_value"].to_numpy(dtype=object),
        chunk["string_value"].to_numpy(dtype=object),
        chunk["bool_value"].astype("boolean").to_numpy(dtype=object, na_value=None),  # type: ignore[call-overload]  # pandas takes any na_value, its stubs only a Scalar (not None)
    )
    present = [missing & pd.notna(s) for s in sources]
    if not any(p.any() for p in present):
        return pd.Series(numbers)
    cells = numbers.astype(object)
    cells[missing] = None
    for source, where in zip(sources, present):
        cells[where] = source[where]
    return pd.Series(cells, dtype=object)
