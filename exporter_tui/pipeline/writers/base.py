"""The contract between the pipeline and the file writers, and the cell helpers they share.

A writer gets Tables whose chunks it consumes once, in order, and writes exactly the path it
is given (the pipeline writes to a temporary name and renames the file when it is whole).
Output is deterministic: the same input gives a byte-identical file.

A chunk is a frame, or for a `columnar` writer (the text ones) possibly `Columns`: plain arrays
from a stage that never built a frame (decimation's buckets), so such an export never imports
pandas. A columnar writer turns frames into Columns too (`columns_of`) and formats only those.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, Union

import numpy as np

from exporter_tui.core.models import DateFormat
from exporter_tui.pipeline.writers.distinct import factorize
from exporter_tui.pipeline.writers.timefmt import TimeFormatter, WallClock, wall_clock

if TYPE_CHECKING:
    import pandas as pd

ColumnKind = Literal["time", "number", "other"]


@dataclass(frozen=True)
class Columns:
    """A chunk's output columns as arrays, in the table's order: each a WallClock (time), a
    float64 array (number, NaN empty; integers come as an object array, None empty) or an
    object array (other: str, bool or None)."""

    kinds: tuple[ColumnKind, ...]
    cells: tuple[np.ndarray | WallClock, ...]

    def __len__(self) -> int:
        return len(self.cells[0]) if self.cells else 0

    def rows(self, lo: int, hi: int) -> Columns:
        return Columns(self.kinds, tuple(c.take(slice(lo, hi)) if isinstance(c, WallClock) else c[lo:hi] for c in self.cells))


Chunk = Union["pd.DataFrame", Columns]


@dataclass
class Table:
    title: str  # sheet name (Excel) / section title (PDF): the item's label or filename
    columns: list[str]  # output headers, in order
    time_columns: frozenset[str]  # headers whose values are timestamps
    # Frames with exactly `columns`, in order: time columns tz-aware datetime64 in the request's
    # zone; numeric columns float64 (NaN = empty); text columns object (str or None, maybe bool).
    # Columns instead only for a columnar writer.
    chunks: Iterable[Chunk]
    numeric_columns: tuple[str, ...] = ()  # headers the PDF charts


@dataclass
class WriteOptions:
    timezone_name: str = "UTC"
    date_format: DateFormat = "ISO"
    delimiter: str = ","
    bom: bool = False
    template: Literal["tabular", "expanded"] = "tabular"
    title: str = "Export"
    summary: list[tuple[str, str]] = field(default_factory=list)  # request summary lines for the PDF
    window: tuple[str, str] | None = None  # window (from, to) text for the PDF
    excel_max_rows: int = 1_048_576  # rows per sheet including the header
    pdf_row_cap: int = 5_000
    on_progress: Callable[[int], None] | None = None  # rows written so far, after every chunk


@dataclass
class WriteResult:
    rows: int
    warnings: list[str]
    sha256: str | None = None  # the file's, when the writer hashed it as it wrote (else it is read back)


class Writer(Protocol):
    extension: str  # "csv", "xlsx", "json", "pdf"
    multi_table: bool  # True: several Tables in one file (Excel, PDF)
    columnar: bool  # True: takes Columns chunks as well as frames (CSV, JSON)

    def write(self, tables: Sequence[Table], path: Path, options: WriteOptions) -> WriteResult: ...


def column_kind(table: Table, label: str, values: pd.Series) -> ColumnKind:
    """How a column's cells are written: timestamps, numbers, or anything else (text, bool)."""
    from pandas.api import types as ptypes  # a frame's column: pandas is loaded already

    if label in table.time_columns:
        return "time"
    if ptypes.is_numeric_dtype(values.dtype) and not ptypes.is_bool_dtype(values.dtype):
        return "number"
    return "other"


def number_cells(values: pd.Series) -> np.ndarray:
    """A numeric frame column as a number column of Columns: float64 with NaN, integers as objects with None."""
    if values.dtype.kind == "f":
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    return values.to_numpy(dtype=object, na_value=None)  # type: ignore[call-overload]  # pandas takes any na_value, its stubs only a Scalar (not None)


def columns_of(table: Table, chunk: Chunk, formatters: dict[int, TimeFormatter], date_format: DateFormat) -> Columns:
    """The chunk as Columns. The time columns' formatters (made at their first chunk, kept in
    `formatters` by column) see the whole chunk first, so a writer that formats it slice by
    slice writes what formatting it at once would."""
    if not isinstance(chunk, Columns):
        kinds = [column_kind(table, label, chunk.iloc[:, i]) for i, label in enumerate(table.columns)]
        cells = [
            wall_clock(values) if kind == "time" else number_cells(values) if kind == "number" else values.to_numpy(dtype=object)
            for kind, values in ((kind, chunk.iloc[:, i]) for i, kind in enumerate(kinds))
        ]
        chunk = Columns(tuple(kinds), tuple(cells))
    for i, column in enumerate(chunk.cells):
        if isinstance(column, WallClock):
            formatters.setdefault(i, TimeFormatter(date_format)).observe(column)
    return chunk


def frames(table: Table) -> Iterator[pd.DataFrame]:
    """The table's chunks for a writer that is not columnar (the pipeline gives it frames only)."""
    for chunk in table.chunks:
        if isinstance(chunk, Columns):
            raise TypeError(f"{table.title}: Columns given to a writer that takes frames only")
        yield chunk


def number_texts(array: np.ndarray, missing: str) -> np.ndarray:
    """A number column's cells as Python's shortest round-trip repr (21.5, 1e-05, inf), `missing`
    for NaN/None."""
    if array.dtype.kind != "f":  # integers, maybe with None
        return np.array([missing if v is None else repr(int(v)) for v in array.tolist()], dtype=object)
    # A sensor of fixed resolution repeats its values: then each distinct one is formatted once.
    # Distinct means distinct bits, so -0.0 and 0.0 keep their own texts.
    codes, uniques = factorize(array.view(np.int64))
    if len(uniques) * 4 <= len(array):
        out = np.array(list(map(repr, uniques.view(np.float64).tolist())), dtype=object)[codes]
    else:
        out = np.array(list(map(repr, array.tolist())), dtype=object)
    nan = np.isnan(array)
    if nan.any():
        out[nan] = missing
    return out


def factorize_objects(values: pd.Series | np.ndarray) -> tuple[np.ndarray, list[object]]:
    """Codes and distinct values of a text/bool column; code -1 marks a missing cell.

    Text columns repeat a few values (names, units), so each distinct value is formatted
    once and the column is built with a take. Distinct means of the same kind too: hashing
    takes `True == 1 == 1.0`, so when bools share the column with numbers they are
    factorized apart (the first of equal values would otherwise stand for all of them), and
    every cell keeps its reading's own kind. A column of one text or of none at all (a target's
    name, its unit, an empty one) is recognised without pandas; others are factorized by it.
    """
    array = values if isinstance(values, np.ndarray) else values.to_numpy(dtype=object)
    if len(array) and array[0].__class__ is str and array[-1] == array[0] and bool((array == array[0]).all()):
        # One text throughout (a target's name, mostly): a comparison is a fifth of a factorize.
        return np.zeros(len(array), dtype=np.intp), [array[0]]
    if len(array) and array[0] is None and bool(np.equal(array, None).all()):  # type: ignore[call-overload]  # numpy's stubs refuse a None operand; the elementwise `== None` is meant
        return np.full(len(array), -1, dtype=np.intp), []
    import pandas as pd

    codes, uniques = pd.factorize(array, use_na_sentinel=True)
    if all(u.__class__ is str for u in uniques):  # the common case: names, units, text values
        return codes, list(uniques)
    is_bool = np.fromiter((v.__class__ in _BOOLS for v in array.tolist()), dtype=bool, count=len(array))
    other_codes, other_uniques = pd.factorize(array[~is_bool], use_na_sentinel=True)
    bool_codes, bool_uniques = pd.factorize(array[is_bool])
    codes = np.empty(len(array), dtype=np.intp)
    codes[~is_bool] = other_codes
    codes[is_bool] = bool_codes + len(other_uniques)
    return codes, [*other_uniques, *bool_uniques]


_BOOLS = frozenset({bool, np.bool_})


def take(table: np.ndarray | Sequence[object], codes: np.ndarray, missing: object) -> np.ndarray:
    """`table[codes]` with `missing` where the code is -1."""
    out = np.append(np.asarray(table, dtype=object), np.array([missing], dtype=object))[codes]
    return out


# Text writers format, join and encode a chunk this many lines at a time: every step makes a
# new string per field or line, so a whole chunk's worth held a few times over was most of an
# export's peak memory.
LINES_AT_ONCE = 10_000


def slices(chunk: Columns) -> Iterator[Columns]:
    """The chunk's rows, LINES_AT_ONCE at a time."""
    for lo in range(0, len(chunk), LINES_AT_ONCE):
        yield chunk.rows(lo, lo + LINES_AT_ONCE)


def report_progress(options: WriteOptions, rows: int) -> None:
    if options.on_progress is not None:
        options.on_progress(rows)


def one_table(tables: Sequence[Table], extension: str) -> Table:
    if len(tables) != 1:
        raise ValueError(f"a {extension} file holds exactly one table, got {len(tables)}")
    return tables[0]
