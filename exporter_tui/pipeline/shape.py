"""Output shapes: `long` (targets one after another) and `wide` (one column per target).

`long` needs no stage: the pipeline concatenates each target's stream, target after target.

`wide` is a streaming k-way outer join on time: `merge_wide` pulls chunks from the stream that
lags behind and emits a row for every time below the smallest "newest time seen" among the
streams still running, so it holds about a chunk per stream whatever the window length. A
reading's cell is its `value`, else its `bool_value` as 1.0/0.0, else NaN; a target without a
reading at a time gets NaN. When one stream has several readings at the same time, the last
one it yields wins (one row per time). Streams that yield nothing give no frames at all.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pandas as pd

from exporter_tui.pipeline.decimate import numeric_values


class _Pending:
    """Times and values of one stream not emitted yet."""

    def __init__(self) -> None:
        self.times: list[np.ndarray] = []
        self.values: list[np.ndarray] = []
        self.newest = -math.inf  # newest time seen: nothing yet

    def add(self, chunk: pd.DataFrame) -> None:
        times = chunk["time"].to_numpy(dtype="float64")
        self.times.append(times)
        self.values.append(numeric_values(chunk))
        self.newest = float(times[-1])

    def split(self, limit: float) -> tuple[np.ndarray, np.ndarray]:
        """Remove and return the readings with time < limit."""
        if not self.times or self.times[0][0] >= limit:
            return np.empty(0), np.empty(0)
        times = np.concatenate(self.times)
        values = np.concatenate(self.values)
        cut = int(np.searchsorted(times, limit, side="left"))
        self.times, self.values = ([times[cut:]], [values[cut:]]) if cut < len(times) else ([], [])
        return times[:cut], values[:cut]


def merge_wide(streams: dict[str, Iterator[pd.DataFrame]]) -> Iterator[pd.DataFrame]:
    """Frames with columns `time` then one per label (in the dict's order), ascending by time.

    Columns are positional: a label equal to "time" still gets its own column.
    """
    labels = list(streams)
    iterators = {label: iter(stream) for label, stream in streams.items()}
    pending = {label: _Pending() for label in labels}
    running = list(labels)
    while running:
        # Pull from the stream whose newest time is the oldest: it holds the others back.
        label = min(running, key=lambda lab: pending[lab].newest)
        chunk = next(iterators[label], None)
        if chunk is None:
            running.remove(label)
        elif len(chunk):
            pending[label].add(chunk)
        else:
            continue
        # A running stream may still send readings at its newest time (or, before its first
        # chunk, at any time): only older rows are complete.
        limit = min((pending[lab].newest for lab in running), default=math.inf)
        frame = _emit(labels, pending, limit)
        if frame is not None:
            yield frame


def _emit(labels: list[str], pending: dict[str, _Pending], limit: float) -> pd.DataFrame | None:
    parts = [pending[label].split(limit) for label in labels]
    if not any(len(times) for times, _ in parts):
        return None
    union = np.unique(np.concatenate([times for times, _ in parts]))
    columns: list[np.ndarray] = [union]
    for times, values in parts:
        column = np.full(len(union), np.nan)
        if len(times):
            last = np.r_[times[1:] != times[:-1], True]
            column[np.searchsorted(union, times[last])] = values[last]
        columns.append(column)
    frame = pd.DataFrame(dict(enumerate(columns)))
    frame.columns = ["time", *labels]
    return frame
