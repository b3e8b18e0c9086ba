"""The `delta` transform: each reading's value minus the one before it, streamed over chunks.

Meant for cumulative counters (energy meters and the like): a delta is the consumption since
the previous reading, and `delta` followed by the `sum` decimation is the consumption per bucket.

Decisions:
- Only readings with a numeric `value` take part; the others (bool, string, data only) are
  dropped, since a difference of them means nothing. The previous value is the previous
  *numeric* reading.
- A drop (value < previous) is a counter reset: the delta is the new reading itself (the meter
  counted from zero up to it). An equal value gives 0.
- The first reading of the window is compared with `previous`, the last numeric reading
  before the window (looked for among the DELTA_LOOKBACK readings before it); with none, the
  first reading has no delta and is dropped (and when the look back gave up, the run log
  says so).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


class DeltaStage:
    """Turns the readings of ONE target, fed in ascending chunks, into their deltas."""

    def __init__(self, previous: float | None) -> None:
        # A previous reading without a numeric value (NaN) cannot anchor a delta.
        self._previous: float | None = None if previous is None or math.isnan(previous) else float(previous)

    def apply(self, chunk: pd.DataFrame) -> pd.DataFrame:
        """The chunk's numeric readings with `value` replaced by its delta (other columns kept)."""
        values = chunk["value"].to_numpy(dtype="float64", na_value=np.nan)
        numeric = ~np.isnan(values)
        kept = chunk if numeric.all() else chunk.loc[numeric]
        values = values[numeric]
        if len(values) == 0:
            return kept.reset_index(drop=True)
        before = np.empty_like(values)
        before[1:] = values[:-1]
        before[0] = np.nan if self._previous is None else self._previous
        deltas = np.where(values < before, values, values - before)
        out = kept.assign(value=deltas)
        if self._previous is None:
            out = out.iloc[1:]
        self._previous = float(values[-1])
        return out.reset_index(drop=True)
