"""Preview: what a run now would export, computed by the real pipeline without storing anything."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static, TabbedContent, TabPane
from textual.worker import get_current_worker
from textual_plotext import PlotextPlot

from exporter_tui.context import Context
from exporter_tui.core.models import ExportRequest
from exporter_tui.store.store import StoredRequest
from exporter_tui.tui.appref import OwnsWorkers, exporter
from exporter_tui.tui.bindings import DIALOG_CLOSE
from exporter_tui.tui.formatting import iso_pair, span_text, zone_of

PREVIEW_ROWS = 50


@dataclass
class PreviewResult:
    preview: Any | None  # exporter_tui.pipeline.preview.Preview
    error: str | None
    next_runs: list[dict[str, str]]


def compute(
    ctx: Context, request: ExportRequest, stored: StoredRequest | None, now: datetime, should_stop: Callable[[], bool] = lambda: False
) -> PreviewResult:
    """In a worker thread: the preview (or why there is none) and the next five run times.
    `should_stop` (the preview was left) ends the reading between chunks."""
    from exporter_tui.scheduler.schedules import next_runs
    from exporter_tui.store.timeutil import iso

    shown = stored or StoredRequest("(unsaved)", request, ctx.actor, False, iso(now), iso(now), None)
    try:
        times = next_runs(shown, now)
    except Exception as e:  # the schedule of a valid request should always resolve; say so rather than fail
        times = [{"utc": f"unavailable: {e}", "local": ""}]
    try:
        from exporter_tui.pipeline.preview import preview

        source = ctx.open_source()
        try:
            result = preview(request, source, now, PREVIEW_ROWS, request_id=stored.id if stored else "preview", should_stop=should_stop)
        finally:
            source.close()
    except Exception as e:  # any failure of the source or the pipeline is shown on the screen
        return PreviewResult(None, f"{type(e).__name__}: {e}" if not str(e) else str(e), times)
    return PreviewResult(result, None, times)


class PreviewScreen(OwnsWorkers, Screen[None]):
    """Its worker is its own: leaving the screen cancels it and drops what it finds."""

    BINDINGS = [*DIALOG_CLOSE]

    def __init__(self, request: ExportRequest, stored: StoredRequest | None) -> None:
        super().__init__()
        self.request = request
        self.stored = stored
        self.now = datetime.now(UTC)  # replaced by the app's clock on mount

    def compose(self) -> ComposeResult:
        who = self.stored.short_id if self.stored else "unsaved form"
        name = f" {self.request.name}" if self.request.name else ""
        yield Static(f"Preview of {who}{name} (nothing is stored)", id="preview-title")
        with TabbedContent(id="preview-tabs"):
            with TabPane("Window", id="tab-window"):
                yield VerticalScroll(Static("computing...", id="window-text"))
            with TabPane("Rows", id="tab-rows"):
                yield VerticalScroll(id="rows")
            with TabPane("Plot", id="tab-plot"):
                yield VerticalScroll(id="plots")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        app = exporter(self)
        now = self.now = app.now()
        self.query_one("#preview-tabs").loading = True

        def work() -> PreviewResult:
            worker = get_current_worker()
            return compute(app.ctx, self.request, self.stored, now, lambda: worker.is_cancelled)

        app.start_worker(work, "Preview", group="preview", exclusive=True, then=self.show, owner=self)

    def action_close(self) -> None:
        self.dismiss(None)

    async def show(self, result: PreviewResult) -> None:
        if not self.is_attached:  # left while the result was on its way
            return
        self.query_one("#preview-tabs").loading = False
        self.query_one("#window-text", Static).update(self.window_text(result))
        rows = self.query_one("#rows", VerticalScroll)
        plots = self.query_one("#plots", VerticalScroll)
        if result.preview is None:
            message = f"preview unavailable: {result.error}"
            await rows.mount(Static(message, classes="preview-error"))
            await plots.mount(Static(message, classes="preview-error"))
            return
        tables = getattr(result.preview, "tables", None) or []
        if not tables:
            tables = [_Table("", result.preview.headers, result.preview.rows)]
        for table in tables:
            count = f"first {len(table.rows)} row(s)" if len(table.rows) >= PREVIEW_ROWS else f"{len(table.rows)} row(s)"
            await rows.mount(Static(f"{table.title or 'rows'}: {count}, exactly as the file will have them", classes="table-title"))
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

    def window_text(self, result: PreviewResult) -> str:
        zone = zone_of(self.request)
        lines: list[str] = []
        if result.preview is not None:
            lines.append(f"A run now ({iso_pair(self.now.timestamp(), zone)}) would export:")
            for i, (start, end) in enumerate(result.preview.windows):
                lines.append(f"  item {i + 1}: {span_text(end - start)}")
                lines.append(f"    from {iso_pair(start, zone)}")
                lines.append(f"    to   {iso_pair(end, zone)}")
        else:
            lines.append(f"preview unavailable: {result.error}")
        lines.append("")
        if result.next_runs:
            lines.append("Next runs (UTC, and local to the request):")
            lines += [f"  {t['utc']}   {t['local']}" for t in result.next_runs]
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
        first = datetime.fromtimestamp(start, UTC).isoformat().replace("+00:00", "Z")
        plt.title(f"{label} ({len(values)} points)")
        plt.xlabel(f"hours since {first}")
        return widget


@dataclass
class _Table:
    title: str
    headers: list[str]
    rows: list[list[str]]
