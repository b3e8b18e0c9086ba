"""History: every run, newest first, filtered by status, a page at a time."""

from __future__ import annotations

import sqlite3
from datetime import tzinfo

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.reactive import var
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, Select, Static

from exporter_tui.core.enums import RunStatus
from exporter_tui.store.errors import NotFound, StoreError
from exporter_tui.tui.appref import exporter
from exporter_tui.tui.bindings import HISTORY_BINDINGS
from exporter_tui.tui.formatting import HISTORY_DROP, history_cells, history_columns, zone_of
from exporter_tui.tui.widgets.tables import KeyedTable

PAGE_SIZE = 50


class HistoryScreen(Screen[None]):
    """The page and the status filter are reactive: setting either shows the runs they select."""

    BINDINGS = [*HISTORY_BINDINGS]
    page: var[int] = var(1, init=False)
    status: var[str | None] = var(None, init=False)  # None: runs of any status

    def __init__(self) -> None:
        super().__init__()
        self.pages = 1

    def compose(self) -> ComposeResult:
        yield Static("Run history", id="history-title")
        with Horizontal(id="history-bar"):
            yield Label("Status ", classes="caption")
            yield Select([(s, s) for s in RunStatus], allow_blank=True, prompt="any", id="status", compact=True)
            yield Static("", id="page-info")
        yield KeyedTable(history_columns(exporter(self).ui_clock), drop=HISTORY_DROP, id="history")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.reload()
        self.query_one("#history").focus()

    def reload(self) -> None:
        store = exporter(self).store
        try:
            page = store.runs.page(self.page, PAGE_SIZE, status=self.status)
            self.pages = max(1, -(-page.total // PAGE_SIZE))
            if self.page > self.pages:  # fewer runs than when the page was chosen: the last page
                self.set_reactive(HistoryScreen.page, self.pages)
                page = store.runs.page(self.page, PAGE_SIZE, status=self.status)
            zones: dict[str, tzinfo | None] = {}
            for run in page.results:  # each run's times in its request's zone (on the local clock)
                if run.request_id not in zones:
                    try:
                        zones[run.request_id] = zone_of(store.requests.get(run.request_id, include_deleted=True).request)
                    except NotFound:  # times of no request: the machine's zone
                        zones[run.request_id] = None
        except (StoreError, sqlite3.Error) as e:
            exporter(self).report_error("History", e)
            return
        now, clock = exporter(self).now(), exporter(self).ui_clock
        table = self.query_one("#history", KeyedTable)
        table.show_rows([(run.id, history_cells(run, zones[run.request_id], now, clock)) for run in page.results])
        which = f"{self.status} runs" if self.status else "runs"
        self.query_one("#page-info", Static).update(f"  page {self.page}/{self.pages} of {page.total} {which}  ([ ] pages, Enter opens)")

    def watch_page(self) -> None:
        self.reload()

    def watch_status(self) -> None:
        self.set_reactive(HistoryScreen.page, 1)  # a new filter starts at its first page, in the same reload
        self.reload()

    def action_page(self, step: int) -> None:
        self.page = min(max(self.page + step, 1), self.pages)

    def action_status_filter(self) -> None:
        self.query_one("#status", Select).focus()

    def action_close(self) -> None:
        self.dismiss(None)

    @on(Select.Changed, "#status")
    def _status_changed(self, event: Select.Changed) -> None:
        self.status = None if event.value is Select.NULL else str(event.value)

    @on(DataTable.RowSelected, "#history")
    def _open(self, event: DataTable.RowSelected) -> None:
        from exporter_tui.tui.screens.run_detail import RunDetailScreen

        if event.row_key.value:
            self.app.push_screen(RunDetailScreen(event.row_key.value))
