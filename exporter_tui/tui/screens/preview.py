"""Preview: what a run now would export, computed by the real pipeline without storing anything."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static, TabbedContent, TabPane
from textual.worker import get_current_worker
from textual_plotext import PlotextPlot

from exporter_tui.context import Context
from exporter_tui.core.models import ExportRequest
from exporter_tui.core.times import utc_now
from exporter_tui.store.requests import StoredRequest
from exporter_tui.tui.appref import OwnsWorkers, exporter
from exporter_tui.tui.bindings import DIALOG_CLOSE
from exporter_tui.tui.formatting import clock_text, count_text, span_text, zone_of

PREVIEW_ROWS = 50
PROGRESS_EVERY = 0.2  # seconds between progress lines of the rows


@dataclass
class Outline:
    """What the preview knows at once, before any reading: the windows and the next runs."""

    windows: list[tuple[float, float]] | None
    error: str | None
    next_runs: list[dict[str, str]]


@dataclass
class PreviewResult:
    preview: Any | None  # exporter_tui.pipeline.preview.Preview
    error: str | None


def outline(ctx: Context, request: ExportRequest, stored: StoredRequest | None, now: datetime) -> Outline:
    """The windows a run now would cover and the next five run times: arithmetic, no reading."""
    from exporter_tui.core.times import iso
    from exporter_tui.pipeline.preview import preview_windows
    from exporter_tui.scheduler.schedules import next_runs

    shown = stored or StoredRequest("(unsaved)", request, ctx.actor, False, iso(now), iso(now), None)
    try:
        times = next_runs(shown, now, default_delay=ctx.settings.scheduler.delay)
    except Exception as e:  # the schedule of a valid request should always resolve; say so rather than fail
        times = [{"utc": f"unavailable: {e}", "local": ""}]
    try:
        return Outline(preview_windows(request, now), None, times)
    except Exception as e:
        return Outline(None, describe(e), times)


def describe(e: Exception) -> str:
    return str(e) or type(e).__name__


def compute(
    ctx: Context,
    request: ExportRequest,
    stored: StoredRequest | None,
    now: datetime,
    should_stop: Callable[[], bool] = lambda: False,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> PreviewResult:
    """In a worker thread: the first rows and the plot series (or why there are none).
    `on_progress(readings read, None)` is called as the source is read; `should_stop` (the
    preview was left) ends the reading between chunks."""
    try:
        from exporter_tui.pipeline.preview import preview

        source = ctx.open_source()
        try:
            result = preview(
                request,
                source,
                now,
                PREVIEW_ROWS,
                request_id=stored.id if stored else "preview",
                should_stop=should_stop,
                on_progress=on_progress,
            )
        finally:
            source.close()
    except Exception as e:  # any failure of the source or the pipeline is shown on the screen
        return PreviewResult(None, describe(e))
    return PreviewResult(result, None)


@dataclass
class RowsRead(Message):
    """How far the preview's reading got (posted from its worker thread); a newer count waiting
    right behind it replaces it."""

    done: int

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RowsRead)


@dataclass
class PreviewComputed(Message):
    """The first rows and the plot series, or why there are none (posted from its worker thread)."""

    result: PreviewResult


class PreviewScreen(OwnsWorkers, Screen[None]):
    """The window and the next runs show at once; the rows and plots come from a worker that
    says how far it got. The worker is the screen's own: leaving cancels it and drops what it finds."""

    BINDINGS = [*DIALOG_CLOSE]

    def __init__(self, request: ExportRequest, stored: StoredRequest | None) -> None:
        super().__init__()
        self.request = request
        self.stored = stored
        self.now = utc_now()  # replaced by the app's clock on mount
        self.started = time.monotonic()

    def compose(self) -> ComposeResult:
        who = self.stored.short_id if self.stored else "unsaved form"
        name = f" {self.request.name}" if self.request.name else ""
        yield Static(f"Preview of {who}{name} (nothing is stored)", id="preview-title")
        with TabbedContent(id="preview-tabs"):
            with TabPane("Window", id="tab-window"):
                yield VerticalScroll(Static("", id="window-text"))
            with TabPane("Rows", id="tab-rows"):
                yield VerticalScroll(Static("", id="rows-progress", classes="preview-progress"), id="rows")
            with TabPane("Plot", id="tab-plot"):
                yield VerticalScroll(Static("", id="plots-progress", classes="preview-progress"), id="plots")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        app = exporter(self)
        now = self.now = app.now()
        self.query_one("#window-text", Static).update(self.window_text(outline(app.ctx, self.request, self.stored, now)))
        self.started = time.monotonic()
        self.show_progress(0)
        last = [0.0]

        def progress(done: int, total: int | None) -> None:
            moment = time.monotonic()
            if moment - last[0] >= PROGRESS_EVERY:
                last[0] = moment
                self.post_message(RowsRead(done))

        def work() -> None:
            worker = get_current_worker()
            app.post_result(PreviewComputed(compute(app.ctx, self.request, self.stored, now, lambda: worker.is_cancelled, progress)), self)

        app.start_worker(work, "Preview", group="preview", exclusive=True, owner=self)

    def on_rows_read(self, message: RowsRead) -> None:
        self.show_progress(message.done)

    def show_progress(self, done: int) -> None:
        elapsed = time.monotonic() - self.started
        text = f"reading the source: {done:,} readings in {clock_text(elapsed)}"
        if done and elapsed > 0:
            text += f" ({count_text(done / elapsed)}/s)"
        for selector in ("#rows-progress", "#plots-progress"):
            self.query_one(selector, Static).update(text)

    def action_close(self) -> None:
        self.dismiss(None)

    async def on_preview_computed(self, message: PreviewComputed) -> None:
        await self.show(message.result)

    async def show(self, result: PreviewResult) -> None:
        if not self.is_attached:  # left while the result was on its way
            return
        for selector in ("#rows-progress", "#plots-progress"):
            await self.query_one(selector, Static).remove()
        rows = self.query_one("#rows", VerticalScroll)
        plots = self.query_one("#plots", VerticalScroll)
        if result.preview is None:
            message = f"preview unavailable: {result.error}"
            await rows.mount(Static(message, classes="preview-error"))
            await plots.mount(Static(message, classes="preview-error"))
            return
        from exporter_tui.pipeline.preview import shown_as

        if result.preview.empty:  # said, rather than left to an empty column or a missing plot
            said = "no rows in the window for " + "; ".join(result.preview.empty)
            await rows.mount(Static(said, classes="preview-error", markup=False))
            await plots.mount(Static(said + " (nothing to plot)", classes="preview-error", markup=False))
        tables = getattr(result.preview, "tables", None) or []
        if not tables:
            tables = [_Table("", result.preview.headers, result.preview.rows)]
        for table in tables:
            count = f"first {len(table.rows)} row(s)" if len(table.rows) >= PREVIEW_ROWS else f"{len(table.rows)} row(s)"
            title = f"{table.title or 'rows'}: {count}, {shown_as(self.request.format.extension)}"
            await rows.mount(Static(title, classes="table-title"))
            grid: DataTable[Text] = DataTable(cursor_type="row", classes="preview-table")
            await rows.mount(grid)
            grid.add_columns(*table.headers)
            for row in table.rows:
                grid.add_row(*(Text(cell, no_wrap=True) for cell in row))
        series = result.preview.series
        if not series:
            await plots.mount(Static("no numeric values in the window to plot", classes="preview-error"))
        for label, (times, values) in series.items():
            await plots.mount(self.plot(label, times, values))

    def window_text(self, known: Outline) -> str:
        zone, clock = zone_of(self.request), exporter(self).ui_clock
        lines: list[str] = []
        if known.windows is not None:
            lines.append(f"A run now ({clock.full(self.now.timestamp(), zone)}) would export:")
            for i, (start, end) in enumerate(known.windows):
                lines.append(f"  item {i + 1}: {span_text(end - start)}")
                lines.append(f"    from {clock.full(start, zone)}")
                lines.append(f"    to   {clock.full(end, zone)}")
        else:
            lines.append(f"preview unavailable: {known.error}")
        lines.append("")
        if known.next_runs:
            lines.append("Next runs:")
            lines += [f"  {clock.stored(t['utc'], zone)}" for t in known.next_runs]
        elif self.request.type == "oneTime":
            lines.append("A oneTime request runs once: when saved, or at periodStart if that is later.")
        else:
            lines.append("No next runs: the request is paused.")
        return "\n".join(lines)

    def plot(self, label: str, times: list[float], values: list[float]) -> PlotextPlot:
        widget = PlotextPlot(classes="preview-plot")
        start = times[0] if times else 0.0
        hours = [(t - start) / 3600 for t in times]
        plt = widget.plt
        plt.plot(hours, values, marker="braille")
        first = exporter(self).ui_clock.full(start, zone_of(self.request))
        plt.title(f"{label} ({len(values)} points)")
        plt.xlabel(f"hours since {first}")
        return widget


@dataclass
class _Table:
    title: str
    headers: list[str]
    rows: list[list[str]]
