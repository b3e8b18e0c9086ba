"""The main screen: the requests, the runs of the selected one, and the log of what happens."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import var
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static

from exporter_tui.core.enums import EventKind, RunStatus
from exporter_tui.events import RunEvent
from exporter_tui.store.errors import StoreError
from exporter_tui.store.requests import StoredRequest
from exporter_tui.store.runs import Run
from exporter_tui.store.store import Store
from exporter_tui.tui.appref import OwnsWorkers, exporter
from exporter_tui.tui.bindings import MAIN_BINDINGS
from exporter_tui.tui.formatting import (
    OPEN,
    REQUEST_DROP,
    Pace,
    location_text,
    middle_clip,
    request_cells,
    request_columns,
    run_cells,
    run_columns,
    zone_of,
)
from exporter_tui.tui.messages import DataChanged, RequestRow, RunProgress, RunToCancel
from exporter_tui.tui.screens.dialogs import ConfirmDialog
from exporter_tui.tui.widgets.log_pane import LogPane
from exporter_tui.tui.widgets.tables import KeyedTable
from exporter_tui.tui.widgets.text_inputs import OrderedInput

RUNS_SHOWN = 50


@dataclass
class RunsRead(Message):
    """The newest runs of one request, read by a worker, and how many it has; or why they could not be read."""

    request_id: str
    runs: list[Run]
    total: int
    error: Exception | None = None


class MainScreen(OwnsWorkers, Screen[None]):
    BINDINGS = [*MAIN_BINDINGS, Binding("escape", "clear_filter", "Clear filter", show=False)]
    filter_text: var[str] = var("", init=False)  # what the requests shown must contain; setting it filters them

    def __init__(self) -> None:
        super().__init__()
        self.all_rows: list[RequestRow] = []
        self.runs: list[Run] = []
        self.live: dict[str, Pace] = {}  # the runs this app executes, from their progress messages

    def compose(self) -> ComposeResult:
        yield Header()
        yield OrderedInput(
            placeholder="e.g. temperature: filters by id, name, target, type, status (Enter: done, Esc: clear)", id="filter", compact=True
        )
        clock = exporter(self).ui_clock
        yield KeyedTable(request_columns(clock), drop=REQUEST_DROP, min_flex=12, id="requests")
        with Vertical(id="runs-pane"):
            yield KeyedTable(run_columns(clock), id="runs")
            yield Static("", id="location")
        yield LogPane(clock, id="log")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#requests").border_title = "Requests"
        self.query_one("#runs-pane").border_title = "Runs"
        self.query_one("#log").border_title = f"Log ({exporter(self).ui_clock.legend()})"
        self.query_one("#requests").focus()
        app = exporter(self)
        early, app.early_events = app.early_events, []
        for event in early:
            self.add_log(event)
        app.load_requests()

    # -- the app feeds these -----------------------------------------------------------------
    @property
    def requests_table(self) -> KeyedTable:
        return self.query_one("#requests", KeyedTable)

    @property
    def runs_table(self) -> KeyedTable:
        return self.query_one("#runs", KeyedTable)

    @property
    def log_pane(self) -> LogPane:
        return self.query_one(LogPane)

    def populate(self, rows: list[RequestRow], select: str | None = None) -> None:
        self.all_rows = rows
        self.apply_filter(select)

    def apply_filter(self, select: str | None = None) -> None:
        needle = self.filter_text.lower().strip()
        shown = [r for r in self.all_rows if not needle or needle in self.haystack(r)]
        table = self.requests_table
        table.show_rows([(r.stored.id, request_cells(r.stored, r.last_status, r.next_text)) for r in shown], select)
        count = f"{len(shown)} of {len(self.all_rows)}" if needle else str(len(self.all_rows))
        table.border_title = f"Requests ({count})"
        if not shown:
            table.border_subtitle = "none match the filter" if needle else "none yet: press n to compose one"
        else:
            table.border_subtitle = ""
        self.show_runs()

    @staticmethod
    def haystack(row: RequestRow) -> str:
        r = row.stored.request
        cells = request_cells(row.stored, row.last_status, row.next_text)
        return " ".join([row.stored.id, r.name or "", *cells.values(), *r.target_names()]).lower()

    def selected_row(self) -> RequestRow | None:
        key = self.requests_table.selected_key()
        return next((r for r in self.all_rows if r.stored.id == key), None) if key else None

    def show_runs(self) -> None:
        """The runs of the selected request, read off the UI thread; `on_runs_read` shows them."""
        row = self.selected_row()
        if row is None:
            self.runs = []
            self.runs_table.show_rows([])
            self.query_one("#runs-pane").border_title = "Runs"
            self.show_location()
            return
        request_id = row.stored.id

        def read(store: Store) -> RunsRead:
            try:
                page = store.runs.page(1, RUNS_SHOWN, request_id=request_id)
            except (StoreError, sqlite3.Error) as e:
                return RunsRead(request_id, [], 0, e)
            return RunsRead(request_id, page.results, page.total)

        exporter(self).read_db(read, "Runs", owner=self)

    def on_runs_read(self, message: RunsRead) -> None:
        if message.error is not None:
            exporter(self).report_error("Runs", message.error)
            return
        row = self.selected_row()
        if row is None or row.stored.id != message.request_id:  # the selection moved on: its own read follows
            return
        self.runs = message.runs
        now = exporter(self).now()
        zone = zone_of(row.stored.request)
        self.runs_table.show_rows(
            [
                (
                    run.id,
                    run_cells(
                        run, zone, now, exporter(self).ui_clock, self.live.get(run.id) if run.status == RunStatus.IN_PROGRESS else None
                    ),
                )
                for run in self.runs
            ]
        )
        name = f" {row.stored.request.name}" if row.stored.request.name else ""
        paused = " (paused)" if row.stored.paused else ""
        self.query_one("#runs-pane").border_title = f"Runs of {row.stored.short_id}{name}{paused} ({message.total})"
        self.show_location()

    def show_location(self) -> None:
        key = self.runs_table.selected_key()
        run = next((r for r in self.runs if r.id == key), None)
        text = ""
        if run is not None:
            base = exporter(self).ctx.paths.data_dir
            if run.file_path:
                text = f"file: {location_text(run.file_path, base)}"
            elif run.error:
                text = f"error: {run.error}"
            else:
                text = f"run {run.id[:8]}: {run.status}"
        location = self.query_one("#location", Static)
        location.update(Text(middle_clip(text, max(location.size.width, 20)), no_wrap=True))

    def show_progress(self, message: RunProgress) -> None:
        if message.run_id is None:
            return
        self.live[message.run_id] = Pace(message.done, message.total, message.elapsed)
        row = self.selected_row()
        if row is None or row.stored.id != message.request_id:
            return
        run = next((r for r in self.runs if r.id == message.run_id), None)
        if run is not None:
            cells = run_cells(run, zone_of(row.stored.request), exporter(self).now(), exporter(self).ui_clock, self.live[message.run_id])
            self.runs_table.update_cells(message.run_id, {"status": cells["status"], "file": cells["file"]})
        else:
            self.show_runs()

    def add_log(self, event: RunEvent) -> None:
        self.log_pane.add(event)
        if event.kind in (EventKind.DONE, EventKind.FAILED) and event.run_id:
            self.live.pop(event.run_id, None)

    # -- events --------------------------------------------------------------------------------
    def on_resize(self) -> None:
        self.show_location()

    @on(DataTable.RowHighlighted, "#requests")
    def _request_highlighted(self) -> None:
        self.show_runs()

    @on(DataTable.RowHighlighted, "#runs")
    def _run_highlighted(self) -> None:
        self.show_location()

    @on(DataTable.RowSelected, "#requests")
    def _request_chosen(self) -> None:
        self.action_edit()

    @on(DataTable.RowSelected, "#runs")
    def _run_chosen(self, event: DataTable.RowSelected) -> None:
        from exporter_tui.tui.screens.run_detail import RunDetailScreen

        if event.row_key.value:
            self.app.push_screen(RunDetailScreen(event.row_key.value))

    def watch_filter_text(self) -> None:
        self.apply_filter()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.requests_table.focus()

    # -- actions ---------------------------------------------------------------------------------
    def need_selection(self) -> StoredRequest | None:
        row = self.selected_row()
        if row is None:
            self.notify("No request is selected; press n to compose one", severity="warning")
            return None
        return row.stored

    def action_new(self) -> None:
        from exporter_tui.tui.screens.compose import ComposeScreen

        self.app.push_screen(ComposeScreen("new"), self.after_compose)

    def action_edit(self) -> None:
        from exporter_tui.tui.screens.compose import ComposeScreen

        stored = self.need_selection()
        if stored is not None:
            self.app.push_screen(ComposeScreen("edit", stored.request.to_body(), stored.id), self.after_compose)

    def action_clone(self) -> None:
        from exporter_tui.tui.screens.compose import ComposeScreen

        stored = self.need_selection()
        if stored is not None:
            body = stored.request.to_body()
            body["name"] = f"Copy of {stored.request.name or stored.short_id}"[:200]
            self.app.push_screen(ComposeScreen("clone", body), self.after_compose)

    def after_compose(self, request_id: str | None) -> None:
        if request_id:
            exporter(self).load_requests(select=request_id)

    def action_delete(self) -> None:
        stored = self.need_selection()
        if stored is None:
            return
        name = f" ({stored.request.name})" if stored.request.name else ""
        question = f"Delete request {stored.short_id}{name}?\nIts queued runs are cancelled; files already written stay."

        def delete(store: Store) -> list[Message]:
            sr = store.requests.delete(stored.id, actor)
            said: list[Message] = [DataChanged(note=f"request {sr.short_id} deleted")]
            running = [run for run in store.runs.unfinished(stored.id) if run.status == RunStatus.IN_PROGRESS]
            if running:  # deleting stops no running export; offer to
                said.append(RunToCancel(running[0], before=f"Request {sr.short_id} is deleted, but its run is still in progress.\n"))
            return said

        def answer(yes: bool | None) -> None:
            if yes:
                exporter(self).run_db(delete, "Delete request")

        actor = exporter(self).ctx.actor

        self.app.push_screen(ConfirmDialog(question, "Delete", "Keep"), answer)

    def action_run(self) -> None:
        stored = self.need_selection()
        if stored is not None:
            exporter(self).start_run(stored)

    def action_backfill(self) -> None:
        from exporter_tui.tui.screens.backfill import BackfillAsked, BackfillDialog

        stored = self.need_selection()
        if stored is None:
            return
        if stored.request.type != "recurring":
            self.notify(f"request {stored.short_id} is oneTime: it has no intervals to backfill", severity="warning")
            return
        app = exporter(self)

        def answer(asked: BackfillAsked | None) -> None:
            if asked is None:
                return

            def queue(store: Store) -> list[DataChanged]:
                from exporter_tui.service import backfill

                n = len(backfill.queue(app.ctx, store, stored, asked.start, asked.end, notify=asked.notify, now=app.now())[1])
                return [DataChanged(note=f"{n} backfill run(s) of {stored.short_id} queued; the scheduler runs them")]

            app.run_db(queue, "Backfill")

        self.app.push_screen(BackfillDialog(stored), answer)

    def action_preview(self) -> None:
        from exporter_tui.tui.screens.preview import PreviewScreen

        stored = self.need_selection()
        if stored is not None:
            self.app.push_screen(PreviewScreen(stored.request, stored))

    def action_pause(self) -> None:
        stored = self.need_selection()
        if stored is None:
            return
        actor = exporter(self).ctx.actor
        pause = not stored.paused

        def set_paused(store: Store) -> list[DataChanged]:
            sr = store.requests.set_paused(stored.id, pause, actor)
            return [DataChanged(note=f"request {sr.short_id} {'paused' if sr.paused else 'resumed'}")]

        exporter(self).run_db(set_paused, "Pause request")

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("-shown")
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        if box.has_class("-shown"):
            box.value = ""
            box.remove_class("-shown")
            self.requests_table.focus()

    def action_copy_path(self) -> None:
        """The selected run's file, its whole absolute path, to the clipboard (OSC 52 in a terminal)."""
        key = self.runs_table.selected_key()
        run = next((r for r in self.runs if r.id == key), None)
        if run is None or not run.file_path:
            self.notify("The selected run wrote no file" if run else "No run is selected", severity="warning")
            return
        self.app.copy_to_clipboard(run.file_path)
        self.notify(f"copied {run.file_path}", title="File path")

    def action_cancel_run(self) -> None:
        """Cancel the selected run if it has not ended, else the request's running or queued run,
        wherever it runs; the runs are read from the store, not from this screen's last look."""
        stored = self.need_selection()
        if stored is None:
            return
        key = self.runs_table.selected_key()

        def find(store: Store) -> Run | None:
            if key:
                run = store.runs.get(key)
                if run.status in OPEN and run.request_id == stored.id:
                    return run
            runs = store.runs.unfinished(stored.id)
            return runs[0] if runs else None

        exporter(self).cancel_run_asking(find, f"request {stored.short_id} has no queued or running run")

    def action_history(self) -> None:
        from exporter_tui.tui.screens.history import HistoryScreen

        self.app.push_screen(HistoryScreen())
