"""The delta transform: consumption between consecutive readings of a counter."""

from __future__ import annotations

from datetime import UTC

import pandas as pd
import pytest

from exporter_tui.pipeline.decimate import Decimator
from exporter_tui.pipeline.delta import DeltaStage
from exporter_tui.sources.base import normalise_frame


def readings(times: list[float], values: list[float | None], **extra: list) -> pd.DataFrame:
    return normalise_frame(
        pd.DataFrame({"channel": "ch", "subtopic": "st", "name": "energy", "unit": "kWh", "time": times, "value": values, **extra})
    )


def run(stage: DeltaStage, chunks: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat([stage.apply(c) for c in chunks], ignore_index=True)


def test_first_reading_uses_previous_and_a_drop_is_a_reset() -> None:
    chunk = readings([1, 2, 3, 4, 5], [10, 12, 15, 3, 5])
    out = DeltaStage(previous=8).apply(chunk)
    assert out["value"].tolist() == [2, 2, 3, 3, 2]
    assert out["time"].tolist() == [1, 2, 3, 4, 5]
    assert out["name"].tolist() == ["energy"] * 5
    assert out["unit"].tolist() == ["kWh"] * 5


def test_without_previous_the_first_reading_is_dropped() -> None:
    out = DeltaStage(previous=None).apply(readings([1, 2, 3], [10, 12, 15]))
    assert out["time"].tolist() == [2, 3]
    assert out["value"].tolist() == [2, 3]


def test_a_previous_without_numeric_value_counts_as_none() -> None:
    out = DeltaStage(previous=float("nan")).apply(readings([1, 2], [10, 12]))
    assert out["time"].tolist() == [2]
    assert out["value"].tolist() == [2]


def test_equal_value_is_zero_not_a_reset() -> None:
    out = DeltaStage(previous=7).apply(readings([1, 2], [7, 7]))
    assert out["value"].tolist() == [0, 0]


@pytest.mark.parametrize("previous", [8.0, None])
def test_split_at_every_index_matches_unsplit(previous: float | None) -> None:
    values = [10.0, 12.0, 15.0, 3.0, 5.0, 5.0, 1.0, 9.5]
    times = [float(i) for i in range(len(values))]
    whole = DeltaStage(previous).apply(readings(times, values))
    for cut in range(len(values) + 1):
        stage = DeltaStage(previous)
        parts = [readings(times[:cut], values[:cut]), readings(times[cut:], values[cut:])]
        pd.testing.assert_frame_equal(run(stage, parts), whole)


def test_readings_without_numeric_value_are_dropped_and_skipped_over() -> None:
    chunk = readings(
        [1, 2, 3, 4],
        [10, None, None, 13],
        bool_value=pd.array([None, True, None, None], dtype="boolean"),
        string_value=[None, None, "on", None],
    )
    out = DeltaStage(previous=9).apply(chunk)
    assert out["time"].tolist() == [1, 4]
    assert out["value"].tolist() == [1, 3]


def test_empty_chunks_keep_the_chain() -> None:
    stage = DeltaStage(previous=None)
    first = stage.apply(readings([1], [5]))
    empty = stage.apply(readings([], []))
    last = stage.apply(readings([2], [7]))
    assert len(first) == 0 and len(empty) == 0
    assert last["value"].tolist() == [2]


def test_delta_then_sum_is_the_consumption_per_bucket() -> None:
    # A meter read every 20 minutes; 1h buckets from 00:00 UTC; previous reading 100 kWh.
    # Hour 0: 103, 110, 111 -> 3 + 7 + 1 = 11. Hour 1: 115, reset to 2, 6 -> 4 + 2 + 4 = 10.
    # Hour 2: nothing. Hour 3: 9 -> 3.
    times = [0, 1200, 2400, 3600, 4800, 6000, 3 * 3600]
    values = [103, 110, 111, 115, 2, 6, 9]
    delta = DeltaStage(previous=100)
    decimator = Decimator("1h", "sum", UTC)
    out = []
    for cut in ((0, 4), (4, 7)):
        out.append(decimator.feed(delta.apply(readings(times[cut[0] : cut[1]], values[cut[0] : cut[1]]))))
    out.append(decimator.finish())
    result = pd.concat(out, ignore_index=True)
    assert result["time"].tolist() == [0, 3600, 3 * 3600]
    assert result["value"].tolist() == [11, 10, 3]
