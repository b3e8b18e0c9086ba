"""History: every run, newest first, filtered by status, a page at a time."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import tzinfo

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.reactive import var
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, Select, Static

from exporter_tui.core.enums import RunStatus
from exporter_tui.store.errors import NotFound, StoreError
from exporter_tui.store.family import Page
from exporter_tui.store.store import Store
from exporter_tui.tui.appref import OwnsWorkers, exporter
from exporter_tui.tui.bindings import HISTORY_BINDINGS
from exporter_tui.tui.formatting import HISTORY_DROP, history_cells, history_columns, zone_of
from exporter_tui.tui.widgets.tables import KeyedTable

PAGE_SIZE = 50


@dataclass
class HistoryLoaded(Message):
    """One page of runs read by a worker (the page number it ended on, past the last is the last),
    each run's request zone; or why it could not be read."""

    page: Page | None
    number: int
    pages: int
    zones: dict[str, tzinfo | None]
    error: Exception | None = None


class HistoryScreen(OwnsWorkers, Screen[None]):
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
        """Read the page off the UI thread; `_loaded` shows it."""
        wanted, status = self.page, self.status

        def read(store: Store) -> HistoryLoaded:
            try:
                page = store.runs.page(wanted, PAGE_SIZE, status=status)
                pages = max(1, -(-page.total // PAGE_SIZE))
                shown = min(wanted, pages)  # fewer runs than when the page was chosen: the last page
                if shown != wanted:
                    page = store.runs.page(shown, PAGE_SIZE, status=status)
                zones: dict[str, tzinfo | None] = {}
                for run in page.results:  # each run's times in its request's zone (on the local clock)
                    if run.request_id not in zones:
                        try:
                            zones[run.request_id] = zone_of(store.requests.get(run.request_id, include_deleted=True).request)
                        except NotFound:  # times of no request: the machine's zone
                            zones[run.request_id] = None
            except (StoreError, sqlite3.Error) as e:
                return HistoryLoaded(None, 0, 0, {}, e)
            return HistoryLoaded(page, shown, pages, zones)

        exporter(self).read_db(read, "History", owner=self)

    def on_history_loaded(self, message: HistoryLoaded) -> None:
        if message.error is not None or message.page is None:
            exporter(self).report_error("History", message.error or "no page")
            return
        self.pages = message.pages
        self.set_reactive(HistoryScreen.page, message.number)
        now, clock = exporter(self).now(), exporter(self).ui_clock
        table = self.query_one("#history", KeyedTable)
        runs = message.page.results
        table.show_rows([(run.id, history_cells(run, message.zones[run.request_id], now, clock)) for run in runs])
        which = f"{self.status} runs" if self.status else "runs"
        self.query_one("#page-info", Static).update(
            f"  page {self.page}/{self.pages} of {message.page.total} {which}  ([ ] pages, Enter opens)"
        )

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
