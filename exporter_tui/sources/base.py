"""The contract every readings source fulfils.

A source answers for one target (channel, subtopic, name) at a time, oldest reading
first, in chunks, so the pipeline's memory stays flat however long the window is.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from exporter_tui.core.errors import ExporterError

if TYPE_CHECKING:  # every command opens a context, and most never read a reading
    import numpy as np
    import pandas as pd

# The SenML columns of a reading, in the order a chunk carries them.
READING_COLUMNS: tuple[str, ...] = (
    "channel",
    "subtopic",
    "publisher",
    "protocol",
    "name",
    "unit",
    "time",
    "value",
    "string_value",
    "bool_value",
    "data_value",
    "sum",
    "update_time",
)

# dtypes of a chunk: times are float Unix seconds, bool_value a nullable boolean.
READING_DTYPES: dict[str, str] = {
    "channel": "object",
    "subtopic": "object",
    "publisher": "object",
    "protocol": "object",
    "name": "object",
    "unit": "object",
    "time": "float64",
    "value": "float64",
    "string_value": "object",
    "bool_value": "boolean",
    "data_value": "object",
    "sum": "float64",
    "update_time": "float64",
}


# How many readings before a window `delta` looks through for the previous numeric one.
DELTA_LOOKBACK = 10_000


@dataclass(frozen=True)
class Lookback:
    """The newest numeric `value` before an instant, as far as a bounded look back found it."""

    value: float | None  # None: no numeric reading among those looked at
    exhausted: bool  # True: `within` readings were looked at without one, and older ones exist


class SourceError(ExporterError, RuntimeError):
    """A source could not answer: unreachable, refused, or sent something unreadable."""

    http_status = 502

    def text(self) -> str:
        return f"source failed: {self}"


@dataclass(frozen=True)
class ReadQuery:
    """Readings of one target with `start <= time < end` (Unix seconds)."""

    channel: str
    subtopic: str
    name: str
    start: float
    end: float


@dataclass(frozen=True)
class TargetInfo:
    channel: str
    subtopic: str
    name: str
    unit: str | None
    first_time: float
    last_time: float
    count: int


@dataclass(frozen=True)
class TargetSample:
    """The targets found among a channel's newest readings (a source that cannot list its targets):
    `targets` with the unit, first and last time and count within the sample of `readings` out of
    the `total` the channel holds."""

    channel: str
    targets: list[TargetInfo]
    readings: int
    total: int


class Source(Protocol):
    def read(self, query: ReadQuery, chunk_rows: int = 100_000) -> Iterator[pd.DataFrame]:
        """Chunks of at most `chunk_rows` readings, ascending by time, with READING_COLUMNS."""
        ...

    def count(self, query: ReadQuery) -> int:
        """How many readings `read` would yield (used as the run's progress total)."""
        ...

    def last_before(self, channel: str, subtopic: str, name: str, before: float) -> dict[str, Any] | None:
        """The newest reading with time < before, as a dict of READING_COLUMNS, or None."""
        ...

    def last_numeric_before(self, channel: str, subtopic: str, name: str, before: float, within: int = DELTA_LOOKBACK) -> Lookback:
        """The `value` of the newest reading with time < before that has one, among the `within` newest."""
        ...

    def targets(self) -> list[TargetInfo]:
        """Every target the source holds, sorted by channel, subtopic, name."""
        ...

    def has_readings(self, channel: str, subtopic: str, name: str) -> bool:
        """Whether the target holds any reading at all (one cheap query)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class Noting(Protocol):
    """A source with something for the run log to say (e.g. the readers generation it decided on)."""

    def take_notes(self) -> list[str]:
        """The notes gathered since the last call."""
        ...


@runtime_checkable
class Sampling(Protocol):
    """A source that cannot list its targets (`targets()` is []) but can sample a channel's newest readings."""

    def sample_targets(self, channel: str) -> TargetSample: ...


class ReadingArrays(Protocol):
    """A chunk of one target's readings as arrays, no frame built: what a stage that looks only
    at times and numbers (decimation) reads, from a source that can give it (ArrayReader)."""

    @property
    def time(self) -> np.ndarray: ...

    def __len__(self) -> int: ...

    def numbers(self) -> np.ndarray:
        """Each reading as a number: `value`, else `bool_value` as 1.0/0.0, else NaN."""
        ...

    def at(self, column: str, rows: np.ndarray) -> np.ndarray:
        """An object array of one text column's values at `rows` (None where missing)."""
        ...


@runtime_checkable
class ArrayReader(Protocol):
    """A source that reads chunks as ReadingArrays: exactly the rows and chunk boundaries of its
    `read`, so a stage computes the same from either."""

    def read_arrays(self, query: ReadQuery, columns: frozenset[str], chunk_rows: int = 100_000) -> Iterator[ReadingArrays]: ...


@runtime_checkable
class Describing(Protocol):
    """A source that says what it is, for the manifest: `{kind, api, detected}`."""

    def describe(self) -> dict[str, Any]: ...


def normalise_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Give a chunk exactly READING_COLUMNS with READING_DTYPES (missing columns become empty)."""
    import pandas as pd

    out = {}
    n = len(df)
    for col, dtype in READING_DTYPES.items():
        if col in df.columns:
            out[col] = df[col].astype(pd.api.types.pandas_dtype(dtype)) if dtype != "object" else df[col].astype(object)
        else:
            out[col] = pd.Series([None] * n, dtype=dtype, index=df.index)
    return pd.DataFrame(out, index=df.index).reset_index(drop=True)
