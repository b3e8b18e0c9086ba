"""One export: read each item's targets, run the stages, write the file(s), publish them.

Read -> (delta) -> (decimation) -> shape (long or wide) -> columns and labels -> writer.
Every stage streams chunk by chunk, so memory stays flat however long the window is.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Sized
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from exporter_tui import __version__
from exporter_tui.config import ExportsSettings
from exporter_tui.core.durations import get_zone
from exporter_tui.core.models import ExportRequest, Item
from exporter_tui.core.times import iso
from exporter_tui.pipeline import files, pushdown
from exporter_tui.pipeline.columns import bucket_columns, long_layout, select_columns, select_wide_columns, wide_layout
from exporter_tui.pipeline.decimate import Buckets, as_frames
from exporter_tui.pipeline.streams import Stages, needed_fields, target_stream
from exporter_tui.pipeline.writers import Table, WriteOptions, get_writer
from exporter_tui.pipeline.writers.base import Chunk
from exporter_tui.sources.base import Describing, ReadQuery, Source

if TYPE_CHECKING:
    import pandas as pd

Progress = Callable[[int, int | None], None]
_Chunk = TypeVar("_Chunk", bound=Sized)


class Cancelled(Exception):
    """The export was stopped before it finished (shutdown, cancel)."""


@dataclass
class ExportResult:
    path: Path
    file_name: str
    extension: str
    rows: int
    sha256: str
    warnings: list[str] = field(default_factory=list)
    counts: list[dict[str, Any]] = field(default_factory=list)  # target_counts: what the late-data check compares with


@dataclass
class ExportJob:
    request: ExportRequest
    request_id: str
    run_id: str
    windows: list[tuple[float, float]]  # one per item
    attempt: int = 1  # the run's attempt: it marks the temporary files and the manifest as this attempt's
    aggregation: list[str | None] = field(default_factory=list)  # per item: "server", "client", None (see pushdown.py)
    supersedes: dict[str, str | None] | None = None  # a rerun: {runId, sha256} of the file it corrects, for the manifest

    @property
    def zone(self):
        return get_zone(self.request.format.timezone)


class ReadCounter:
    """Counts source readings as they are read, for progress (`total` is their count in the
    windows, taken first), and checks for a stop between chunks."""

    def __init__(self, total: int | None, on_progress: Progress | None, should_stop: Callable[[], bool] | None):
        self.done = 0
        self.total = total
        self.on_progress = on_progress
        self.should_stop = should_stop

    def add(self, rows: int) -> None:
        """`rows` more readings were read; raises Cancelled when the export should stop."""
        if self.should_stop and self.should_stop():
            raise Cancelled("stopped before the export finished")
        self.done += rows
        if self.on_progress:
            self.on_progress(self.done, self.total)

    def wrap(self, chunks: Iterator[_Chunk]) -> Iterator[_Chunk]:
        for chunk in chunks:
            self.add(len(chunk))
            yield chunk


def _stages(job: ExportJob, item: Item, chunk_rows: int, fields: frozenset[str] | None, pushed: bool = False) -> Stages:
    p = item.params
    decimation = p.decimation
    return Stages(
        chunk_rows,
        fields,
        job.request.format.timezone,
        p.transform,
        decimation.ds if decimation else None,
        decimation.dsf if decimation else "avg",
        pushed,
    )


def item_target_stream(
    source: Source,
    job: ExportJob,
    item: Item,
    name: str,
    window: tuple[float, float],
    counter: ReadCounter,
    chunk_rows: int,
    fields: frozenset[str] | None = None,
    note: Callable[[str], None] | None = None,
    pushed: bool = False,
) -> Iterator[pd.DataFrame | Buckets]:
    """One target's chunks through delta and decimation (the server's, when `pushed`), decimated
    ones as Buckets where no frame was built. With `fields`, chunks may hold only those reading
    fields (and the key); without, every field. `note` hears what the run log should say."""
    p = item.params
    query = ReadQuery(p.channel_id, p.subtopic, name, window[0], window[1])
    return target_stream(source, _stages(job, item, chunk_rows, fields, pushed), query, counter.wrap, note, counter.add)


def item_title(item: Item, index: int) -> str:
    if item.filename:
        return item.filename
    labels = item.params.target.labels()
    return ", ".join(labels) if len(labels) <= 3 else f"{labels[0]} and {len(labels) - 1} more"


def build_table(
    source: Source,
    job: ExportJob,
    index: int,
    counter: ReadCounter,
    chunk_rows: int = 100_000,
    notes: list[str] | None = None,
    columnar: bool = False,
) -> Table:
    """The item's table, its chunks computed as the writer pulls them, for a `columnar` writer
    (Writer.columnar) buckets as Columns; what the run log should say is appended to `notes`."""
    note = None if notes is None else notes.append
    item = job.request.items[index]
    p = item.params
    window = job.windows[index]
    names = p.target.names()
    labels = p.target.labels()
    columns = [(c.id, c.label) for c in job.request.format.columns] or None
    zone = job.zone
    fields = needed_fields(p, columns)
    pushed = index < len(job.aggregation) and job.aggregation[index] == "server"
    if p.output_format == "wide":
        from exporter_tui.pipeline.shape import merge_wide  # frames

        layout = wide_layout(columns, labels)
        streams = {
            label: as_frames(item_target_stream(source, job, item, name, window, counter, chunk_rows, fields, note, pushed))
            for name, label in zip(names, labels)
        }
        chunks: Iterator[Chunk] = (select_wide_columns(frame, columns, labels, zone) for frame in merge_wide(streams))
    else:
        layout = long_layout(columns)
        explicit = p.target.label is not None

        def long_chunks() -> Iterator[Chunk]:
            for name, label in zip(names, labels):
                shown = label if explicit else None
                stream = item_target_stream(source, job, item, name, window, counter, chunk_rows, fields, note, pushed)
                for chunk in stream if columnar else as_frames(stream):
                    if isinstance(chunk, Buckets):
                        yield bucket_columns(chunk, columns, shown, zone)
                    else:
                        yield select_columns(chunk, columns, shown, zone)

        chunks = long_chunks()
    return Table(
        title=item_title(item, index),
        columns=list(layout.headers),
        time_columns=frozenset(layout.time_headers),
        chunks=chunks,
        numeric_columns=tuple(layout.numeric_headers),
    )


def target_counts(source: Source, job: ExportJob) -> list[dict[str, Any]]:
    """Each target's raw readings in its item's window, taken before reading (so a reading that
    comes during the export may be counted late, never missed):
    `{item, channel, subtopic, name, from, to, count}`, as the run stores them."""
    counts = []
    for i, (item, window) in enumerate(zip(job.request.items, job.windows)):
        p = item.params
        for name in p.target.names():
            n = source.count(ReadQuery(p.channel_id, p.subtopic, name, window[0], window[1]))
            counts.append(
                {"item": i, "channel": p.channel_id, "subtopic": p.subtopic, "name": name, "from": window[0], "to": window[1], "count": n}
            )
    return counts


def late_readings(source: Source, counted: list[dict[str, Any]]) -> int:
    """Readings the targets' windows hold now beyond `counted` (target_counts): the sum of each
    target's increase; a target that lost readings counts 0, as nothing of it arrived late."""
    late = 0
    for c in counted:
        now = source.count(ReadQuery(c["channel"], c["subtopic"], c["name"], c["from"], c["to"]))
        late += max(0, now - c["count"])
    return late


def describe(source: Source) -> dict:
    """The manifest's `source`: {kind, api, detected} (the generation read with, and whether it was detected)."""
    if isinstance(source, Describing):
        return source.describe()
    return {"kind": type(source).__name__, "api": None, "detected": False}


def base_name(job: ExportJob) -> str:
    """format.filename, else the only item's filename, else the request's short id."""
    if job.request.format.filename:
        return job.request.format.filename
    if len(job.request.items) == 1 and job.request.items[0].filename:
        return job.request.items[0].filename
    return job.request_id[:8]


def _iso(ts: float) -> str:
    return iso(datetime.fromtimestamp(ts, UTC), "auto")


def write_options(job: ExportJob, settings: ExportsSettings, on_rows: Callable[[int], None] | None = None) -> WriteOptions:
    fmt = job.request.format
    start, end = min(w[0] for w in job.windows), max(w[1] for w in job.windows)
    zone_name = "UTC" if fmt.timezone.lower() == "utc" else fmt.timezone
    summary = [
        ("Request", job.request_id),
        ("Name", job.request.name or "-"),
        ("Type", job.request.type + (f" every {job.request.periodicity}" if job.request.periodicity else "")),
        ("Targets", ", ".join(job.request.target_names())),
    ]
    return WriteOptions(
        timezone_name=zone_name,
        date_format=fmt.date_format,
        delimiter=fmt.csv_delimiter,
        bom=settings.csv_bom,
        template=fmt.template,
        title=job.request.name or f"Export {job.request_id[:8]}",
        summary=summary,
        window=(_iso(start), _iso(end)),
        excel_max_rows=settings.excel_max_rows,
        pdf_row_cap=settings.pdf_row_cap,
        on_progress=on_rows,
    )


def run_export(
    job: ExportJob,
    source: Source,
    settings: ExportsSettings,
    exports_dir: Path,
    *,
    on_progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ExportResult:
    """Write the job's file under exports/<request-id>/ and return where it went. On any
    failure nothing is left behind: temporary files are removed and no final name appears."""
    folder = files.request_dir(exports_dir, job.request_id, settings.dir_mode)
    try:
        return _run_export(job, source, settings, folder, on_progress, should_stop)
    except BaseException:
        files.remove_partials(folder, job.run_id, job.attempt)
        raise


def _run_export(
    job: ExportJob,
    source: Source,
    settings: ExportsSettings,
    folder: Path,
    on_progress: Progress | None,
    should_stop: Callable[[], bool] | None,
) -> ExportResult:
    counted = target_counts(source, job)
    notes: list[str] = []
    job.aggregation = pushdown.plan(source, job.request, job.windows, notes.append)
    counter = ReadCounter(sum(c["count"] for c in counted), on_progress, should_stop)
    counter.add(0)  # the total is known (and recorded) before the first reading is read
    writer = get_writer(job.request.format.extension)
    options = write_options(job, settings)
    start = min(w[0] for w in job.windows)
    name = base_name(job)
    manifest = {
        "request": job.request_id,
        "run": job.run_id,
        "attempt": job.attempt,
        "window": {"from": _iso(start), "to": _iso(max(w[1] for w in job.windows))},
        "items": [
            {"title": item_title(item, i), "from": _iso(w[0]), "to": _iso(w[1]), "aggregation": job.aggregation[i]}
            for i, (item, w) in enumerate(zip(job.request.items, job.windows))
        ],
        "timezone": options.timezone_name,
        "format": job.request.format.file_extension,
        "appVersion": __version__,
    }
    if job.supersedes is not None:
        manifest["supersedes"] = job.supersedes
    tables = [build_table(source, job, i, counter, notes=notes, columnar=writer.columnar) for i in range(len(job.request.items))]
    if writer.multi_table or len(tables) == 1:
        free = partial(files.final_path, folder, name, start, writer.extension)
        with files.temporary(free(), job.run_id, job.attempt, settings.file_mode) as temp:
            result = writer.write(tables, temp, options)
            body = {**manifest, "source": describe(source), "rows": result.rows}
            final, digest = files.publish(temp, free, body, settings.file_mode, result.sha256)
        return ExportResult(final, final.name, writer.extension, result.rows, digest, notes + list(result.warnings), counted)
    zipped = _write_zip(job, source, tables, writer, options, folder, name, start, manifest, settings)
    zipped.warnings[:0] = notes
    zipped.counts = counted
    return zipped


def _write_zip(
    job: ExportJob,
    source: Source,
    tables: list[Table],
    writer,
    options: WriteOptions,
    folder: Path,
    name: str,
    start: float,
    manifest: dict,
    settings: ExportsSettings,
) -> ExportResult:
    """Several items in CSV or JSON: one file each, bundled in one zip."""
    free = partial(files.final_path, folder, name, start, "zip")
    chosen = free()  # names the work folder and the temporary file; publish takes the name free then
    work = folder / f".{chosen.name}.parts{files.attempt_tag(job.run_id, job.attempt)}"
    entry_names = files.unique_names([f"{files.safe_component(t.title)}.{writer.extension}" for t in tables])
    rows = 0
    warnings: list[str] = []
    try:
        work.mkdir(mode=settings.dir_mode)
        entries = []
        for table, entry in zip(tables, entry_names):
            part = work / entry
            result = writer.write([table], part, options)
            rows += result.rows
            warnings += result.warnings
            entries.append((entry, part))
        with files.temporary(chosen, job.run_id, job.attempt, settings.file_mode) as temp:
            files.write_zip(entries, temp)
            body = {**manifest, "source": describe(source), "rows": rows, "entries": entry_names}
            final, digest = files.publish(temp, free, body, settings.file_mode)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return ExportResult(final, final.name, "zip", rows, digest, warnings)
