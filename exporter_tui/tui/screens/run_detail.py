"""One run: what it covered and produced, its log, its manifest and its notification outcomes."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Static, TabbedContent, TabPane

from exporter_tui.core.enums import RunStatus
from exporter_tui.pipeline.files import manifest_path, manifest_paths
from exporter_tui.store.errors import NotFound, StoreError
from exporter_tui.store.runs import Run
from exporter_tui.store.store import Store
from exporter_tui.tui.appref import OwnsWorkers, exporter
from exporter_tui.tui.bindings import RUN_DETAIL_BINDINGS
from exporter_tui.tui.formatting import NONE, OPEN, Pace, run_pace, span_text, zone_of

PROGRESS_EVERY = 1.0  # seconds between looks at a run that has not ended


def read_manifest(run: Run) -> str:
    """The manifest beside the run's file, pretty-printed, or why there is none."""
    if not run.file_path:
        return "no manifest: the run wrote no file"
    path = next((m for m in manifest_paths(Path(run.file_path)) if m.exists()), manifest_path(Path(run.file_path)))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return f"no manifest at {path} (the file expired or was removed)"
    except (OSError, ValueError) as e:
        return f"cannot read {path}: {e}"
    return f"{path}\n\n" + json.dumps(data, indent=2, ensure_ascii=False)


@dataclass
class RunRead(Message):
    """What a worker read of one run: the run, its request's zone and name, its log, manifest and
    notification outcomes; or why there is no such run (`missing`), or why it could not be read."""

    run: Run | None
    missing: str = ""
    zone: tzinfo | None = None
    about: str = ""
    log: list[dict[str, Any]] = field(default_factory=list)
    manifest: str = ""
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    error: Exception | None = None


def read_run(store: Store, run_id: str) -> RunRead:
    try:
        run = store.runs.get(run_id)
    except NotFound as e:
        return RunRead(None, missing=str(e))
    zone: tzinfo | None
    try:
        stored = store.requests.get(run.request_id, include_deleted=True)
        zone = zone_of(stored.request)
        about = f"{stored.short_id}" + (f" {stored.request.name}" if stored.request.name else "")
        about += " (deleted)" if stored.deleted_at else ""
    except NotFound:
        zone, about = None, run.request_id  # times of no request: the machine's zone
    return RunRead(
        run,
        zone=zone,
        about=about,
        log=store.run_log.of_run(run.id),
        manifest=read_manifest(run),
        outcomes=store.notifications.of_run(run.id),
    )


class RunDetailScreen(OwnsWorkers, Screen[None]):
    BINDINGS = [*RUN_DETAIL_BINDINGS]

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.ticker: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Static(f"Run {self.run_id[:8]}", id="run-title")
        with TabbedContent(id="run-tabs"):
            with TabPane("Summary", id="tab-summary"):
                yield VerticalScroll(Static("", id="summary-text"))
            with TabPane("Log", id="tab-log"):
                yield VerticalScroll(Static("", id="log-text"))
            with TabPane("Manifest", id="tab-manifest"):
                yield VerticalScroll(Static("", id="manifest-text"))
            with TabPane("Notifications", id="tab-notifications"):
                yield DataTable(id="notifications", cursor_type="row")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.reload()

    def reload(self) -> None:
        """Read the run off the UI thread; `on_run_read` shows it."""
        run_id = self.run_id

        def read(store: Store) -> RunRead:
            try:
                return read_run(store, run_id)
            except (StoreError, sqlite3.Error) as e:
                return RunRead(None, error=e)

        exporter(self).read_db(read, "Run", owner=self)

    def on_run_read(self, message: RunRead) -> None:
        status = self.show(message)
        if status in OPEN and self.ticker is None:
            self.ticker = self.set_interval(PROGRESS_EVERY, self.reload)  # its progress, until it ends
        elif status not in OPEN and self.ticker is not None:
            self.ticker.stop()
            self.ticker = None

    def show(self, found: RunRead) -> str | None:
        """Fill every tab with what was read; the run's status, or None when it could not be read."""
        summary = self.query_one("#summary-text", Static)
        if found.error is not None:
            summary.update(f"cannot read the run: {found.error}")
            exporter(self).report_error("Run", found.error)
            return None
        run = found.run
        if run is None:
            summary.update(found.missing)
            return None
        zone, clock = found.zone, exporter(self).ui_clock
        self.query_one("#run-title", Static).update(f"Run {run.id[:8]} of request {found.about}: {run.status}")
        span = span_text(run.window_to - run.window_from) if run.window_from is not None and run.window_to is not None else NONE
        lines = [
            f"run        {run.id}",
            f"request    {run.request_id}",
            f"status     {run.status}" + (f", {self.pace(run).words()}" if run.status == RunStatus.IN_PROGRESS else ""),
            f"origin     {run.origin}, attempt {run.attempt}",
            f"window     {span}",
            f"  from     {clock.full(run.window_from, zone)}",
            f"  to       {clock.full(run.window_to, zone)}",
            f"rows       {run.rows if run.rows is not None else NONE}",
            f"file       {run.file_path or NONE}",
            f"created    {clock.stored(run.created_at, zone)}",
            f"started    {clock.stored(run.started_at, zone)}",
            f"finished   {clock.stored(run.finished_at, zone)}",
        ]
        if run.late_readings:
            lines.append(
                f"late       {run.late_readings} reading(s) arrived after the export; runs rerun {run.id[:8]} writes a corrected file"
            )
        if run.supersedes:
            lines.append(f"corrects   run {run.supersedes} (its file stays)")
        if run.error:
            lines.append(f"error      {run.error}")
        summary.update(Text("\n".join(lines)))
        text = "\n".join(f"{clock.stored(e['at'], zone)} {e['level']:<7} {e['message']}" for e in found.log) or "no log lines"
        self.query_one("#log-text", Static).update(Text(text))
        self.query_one("#manifest-text", Static).update(Text(found.manifest))
        table = self.query_one("#notifications", DataTable)
        table.clear(columns=True)
        table.add_columns("MEDIUM", "TO", "POLICY", "OUTCOME", "TRIES", "ERROR")
        for n in found.outcomes:
            table.add_row(
                *(
                    Text(str(v) if v is not None else NONE)
                    for v in (n["medium"], n["target"], n["policy"], n["status"], n["attempts"], n["error"])
                )
            )
        if not found.outcomes:
            table.add_row(Text("none"), Text("the request has no messages for this outcome"), *(Text("") for _ in range(4)))
        return run.status

    def pace(self, run: Run) -> Pace:
        """This app's own progress messages for a run it executes; otherwise what the store says."""
        return run_pace(run, exporter(self).main_screen.live.get(run.id))

    def action_cancel_run(self) -> None:
        def find(store: Store) -> Run | None:
            run = store.runs.get(self.run_id)
            return run if run.status in OPEN else None

        exporter(self).cancel_run_asking(find, f"run {self.run_id[:8]} has ended: nothing to cancel")

    def action_close(self) -> None:
        self.dismiss(None)
