"""A look at an export before it is stored: its windows, its first rows, its series for a plot.

The rows come from the real pipeline and a real writer, read back: a CSV or Excel export's
first rows are written by its own writer (the request's delimiter, dateFormat and zone), so
the headers and cells are the file's own (an Excel time column's header names its zone and is
followed by its offset column; its dates read as Excel shows them). JSON and PDF exports are
shown as CSV text of the same cells; `shown_as` says so.
"""

from __future__ import annotations

import csv
import io
import itertools
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from exporter_tui.config import ExportsSettings
from exporter_tui.core.models import ExportRequest
from exporter_tui.core.schedule import Schedule, run_windows
from exporter_tui.pipeline.decimate import as_frames, numeric_values
from exporter_tui.pipeline.export import (
    ExportJob,
    Progress,
    ReadCounter,
    build_table,
    item_target_stream,
    write_options,
)
from exporter_tui.pipeline.writers import Table, get_writer
from exporter_tui.pipeline.writers.base import frames
from exporter_tui.pipeline.writers.excel_writer import shown_cell
from exporter_tui.sources.base import Source

PLOT_POINTS = 2_000


EXCEL = ("xlsx", "xls")


@dataclass
class PreviewTable:
    title: str
    headers: list[str]
    rows: list[list[str]]


def shown_as(extension: str) -> str:
    """How the preview's rows stand to the file's: the same, or what differs."""
    if extension in EXCEL or extension == "csv":
        return "exactly as the file will have them"
    if extension == "json":
        return "as CSV text; the JSON file holds each row as a record keyed by these headers, empty cells as null"
    return "as CSV text; the PDF's table shows the same cells (long ones cut with an ellipsis)"


@dataclass
class Preview:
    windows: list[tuple[float, float]]
    headers: list[str]
    rows: list[list[str]]
    series: dict[str, tuple[list[float], list[float]]]
    tables: list[PreviewTable] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)  # "item 1: label (name)" of each target with no rows in its window


def preview_windows(request: ExportRequest, now: datetime) -> list[tuple[float, float]]:
    """What a manual run now would cover: the last complete interval of a recurring request."""
    if request.type == "recurring":
        schedule = Schedule(request, now)
        k = max(schedule.last_runnable_at(now), 1)  # due by now (its delay passed), on a listed day
        interval = schedule.interval(k)
        return run_windows(request, interval.end, interval.bounds)
    return run_windows(request, now, None)


def _csv_rows(path: Path, delimiter: str) -> list[list[str]]:
    text = path.read_text(encoding="utf-8-sig")
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


def _excel_rows(path: Path) -> list[list[str]]:
    """The first sheet's rows, header included, as Excel shows them."""
    from openpyxl import load_workbook  # type: ignore[import-untyped]  # no stubs; reads the workbook back

    book = load_workbook(path, read_only=True)
    try:
        sheet = book.worksheets[0]
        return [[shown_cell(cell.value, cell.number_format) for cell in row] for row in sheet.iter_rows()]
    finally:
        book.close()


def _head(chunks: Iterator[pd.DataFrame], limit: int) -> Iterator[pd.DataFrame]:
    left = limit
    for chunk in chunks:
        if left <= 0:
            return
        yield chunk.iloc[:left]
        left -= len(chunk)


def preview(
    request: ExportRequest,
    source: Source,
    now: datetime,
    limit: int = 50,
    request_id: str = "preview",
    should_stop: Callable[[], bool] | None = None,
    on_progress: Progress | None = None,
) -> Preview:
    """The preview of a run now; `on_progress(readings read, None)` follows the reading and
    `should_stop` ends it (Cancelled) between chunks."""
    counter = ReadCounter(None, on_progress, should_stop)
    windows = preview_windows(request, now)
    job = ExportJob(request, request_id, "preview", windows)
    options = write_options(job, ExportsSettings())
    tables: list[PreviewTable] = []
    excel = request.format.extension in EXCEL
    writer = get_writer("xlsx" if excel else "csv")
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(len(request.items)):
            table = build_table(source, job, i, counter, chunk_rows=max(limit, 1000))
            head = Table(table.title, table.columns, table.time_columns, _head(frames(table), limit), table.numeric_columns)
            path = Path(tmp) / f"{i}.{writer.extension}"
            writer.write([head], path, options)
            rows = _excel_rows(path) if excel else _csv_rows(path, request.format.csv_delimiter)
            tables.append(PreviewTable(table.title, rows[0] if rows else table.columns, rows[1:]))
    series: dict[str, tuple[list[float], list[float]]] = {}
    empty: list[str] = []
    for i, item in enumerate(request.items):
        for name, label in zip(item.params.target.names(), item.params.target.labels()):
            stream = as_frames(item_target_stream(source, job, item, name, windows[i], counter, 10_000))
            times: list[np.ndarray] = []
            values: list[np.ndarray] = []
            for chunk in itertools.islice(stream, 50):
                times.append(chunk["time"].to_numpy(dtype="float64"))
                values.append(numeric_values(chunk))
            if not times:
                empty.append(f"item {i + 1}: {label}" + (f" ({name})" if label != name else ""))
                continue
            t, v = np.concatenate(times), np.concatenate(values)
            keep = ~np.isnan(v)
            t, v = t[keep], v[keep]
            if len(t) == 0:
                continue
            step = max(1, len(t) // PLOT_POINTS)
            series[label] = (t[::step].tolist(), v[::step].tolist())
    first = tables[0] if tables else PreviewTable("", [], [])
    return Preview(windows=windows, headers=first.headers, rows=first.rows, series=series, tables=tables, empty=empty)
