"""Wide output: a streaming outer join on time of the targets' streams."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from exporter_tui.pipeline.shape import merge_wide
from exporter_tui.sources.base import normalise_frame


def readings(times: list[float], values: list[float | None], **extra: list) -> pd.DataFrame:
    return normalise_frame(pd.DataFrame({"channel": "ch", "subtopic": "st", "name": "n", "time": times, "value": values, **extra}))


def chunked(frame: pd.DataFrame, size: int) -> Iterator[pd.DataFrame]:
    for start in range(0, len(frame), size):
        yield frame.iloc[start : start + size]


def collect(streams: dict[str, Iterator[pd.DataFrame]]) -> pd.DataFrame:
    return pd.concat(list(merge_wide(streams)), ignore_index=True)


def test_alignment_with_gaps() -> None:
    a = readings([1, 2, 4], [10, 20, 40])
    b = readings([2, 3, 4, 5], [0.5, 1.5, None, 2.5], bool_value=pd.array([None, None, True, None], dtype="boolean"))
    out = collect({"A": iter([a]), "B": iter([b])})
    assert out.columns.tolist() == ["time", "A", "B"]
    assert out["time"].tolist() == [1, 2, 3, 4, 5]
    np.testing.assert_array_equal(out["A"].to_numpy(), [10, 20, np.nan, 40, np.nan])
    # a bool reading counts as 1.0
    np.testing.assert_array_equal(out["B"].to_numpy(), [np.nan, 0.5, 1.5, 1.0, 2.5])


def test_different_chunk_sizes_equal_a_pandas_outer_merge() -> None:
    rng = np.random.default_rng(3)
    frames = {}
    for label, count in (("x", 200), ("y", 57), ("z", 120)):
        times = np.unique(rng.integers(0, 400, count)).astype(float)
        frames[label] = readings(times.tolist(), rng.normal(size=len(times)).round(4).tolist())
    expected = None
    for label, frame in frames.items():
        part = frame[["time", "value"]].rename(columns={"value": label})
        expected = part if expected is None else expected.merge(part, on="time", how="outer")
    expected = expected.sort_values("time", ignore_index=True)
    for sizes in ((7, 3, 50), (1, 1000, 13), (200, 2, 1)):
        streams = {label: chunked(frame, size) for (label, frame), size in zip(frames.items(), sizes)}
        frames_out = list(merge_wide(streams))
        out = pd.concat(frames_out, ignore_index=True)
        pd.testing.assert_frame_equal(out, expected)
        assert len(frames_out) > 1


def test_memory_stays_bounded_by_chunks() -> None:
    # Two long streams in chunks of 100: no yielded frame may hold the whole window.
    n = 10_000
    a = readings(np.arange(n, dtype=float).tolist(), [1.0] * n)
    b = readings((np.arange(n, dtype=float) + 0.5).tolist(), [2.0] * n)
    sizes = [len(f) for f in merge_wide({"a": chunked(a, 100), "b": chunked(b, 100)})]
    assert sum(sizes) == 2 * n
    assert max(sizes) <= 400


def test_same_time_split_over_chunks_gives_one_row_with_the_last_reading() -> None:
    a = readings([1, 2, 2, 3], [1, 2, 3, 4])
    b = readings([1, 2, 3], [7, 8, 9])
    out = collect({"A": chunked(a, 2), "B": chunked(b, 1)})
    assert out["time"].tolist() == [1, 2, 3]
    assert out["A"].tolist() == [1, 3, 4]
    assert out["B"].tolist() == [7, 8, 9]


def test_an_empty_stream_gives_an_empty_column() -> None:
    a = readings([1, 2], [1, 2])
    out = collect({"A": chunked(a, 1), "B": iter([readings([], [])]), "C": iter([])})
    assert out.columns.tolist() == ["time", "A", "B", "C"]
    assert out["A"].tolist() == [1, 2]
    assert out["B"].isna().all() and out["C"].isna().all()


def test_no_readings_at_all_yield_no_frame() -> None:
    assert list(merge_wide({"A": iter([]), "B": iter([readings([], [])])})) == []


def test_a_label_named_time_keeps_its_own_column() -> None:
    out = collect({"time": iter([readings([5], [42])])})
    assert out.columns.tolist() == ["time", "time"]
    assert out.iloc[0].tolist() == [5, 42]
