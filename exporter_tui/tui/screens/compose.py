"""New, edit and clone: the request form (widgets/request_form.py) on a screen of its own.

The screen hosts the form and does what its buttons and keys ask: save (off the UI thread),
preview, import a JSON body from a file or the clipboard, export the form's body, and leave.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Button, Footer, Static

from exporter_tui.core.errors import RequestInvalid
from exporter_tui.pipeline.pushdown import check_request
from exporter_tui.store.store import Store
from exporter_tui.tui.appref import OwnsWorkers, exporter
from exporter_tui.tui.bindings import COMPOSE_BINDINGS
from exporter_tui.tui.form_logic import body_json, decode_body, write_atomic
from exporter_tui.tui.messages import RequestSaved
from exporter_tui.tui.screens.dialogs import ConfirmDialog, PasteDialog, PathPrompt
from exporter_tui.tui.widgets.request_form import RequestForm


class ComposeScreen(OwnsWorkers, Screen[str | None]):
    """Dismisses with the stored request's id when saved, None when left without saving. An
    import that fails is reported by the app's handler; the form stays as it was."""

    BINDINGS = [*COMPOSE_BINDINGS]

    def __init__(self, mode: str, body: dict[str, Any] | None = None, request_id: str | None = None) -> None:
        super().__init__()
        self.mode = mode  # new | edit | clone
        self.request_id = request_id
        buttons = Horizontal(
            Button("Save", id="save", variant="primary", compact=True),
            Button("Preview", id="preview", compact=True),
            Button("Import", id="import-file", compact=True),
            Button("Paste", id="import-paste", compact=True),
            Button("Export", id="export", compact=True),
            Button("Back", id="cancel", compact=True),
            id="form-buttons",
        )
        self.form = RequestForm(body, follow_start=mode == "new", actions=buttons)

    def compose(self) -> ComposeResult:
        title = {"new": "New request", "edit": f"Edit request {(self.request_id or '')[:8]}", "clone": "Clone request"}[self.mode]
        yield Static(title, id="compose-title")
        yield self.form
        yield Footer(compact=True)

    # -- the buttons -----------------------------------------------------------------------
    @on(Button.Pressed, "#save")
    def _save_pressed(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#preview")
    def _preview_pressed(self) -> None:
        self.action_preview()

    @on(Button.Pressed, "#import-file")
    def _import_file_pressed(self) -> None:
        self.action_import_file()

    @on(Button.Pressed, "#import-paste")
    def _import_paste_pressed(self) -> None:
        self.action_import_paste()

    @on(Button.Pressed, "#export")
    def _export_pressed(self) -> None:
        self.action_export()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    # -- actions -----------------------------------------------------------------------------
    def action_save(self) -> None:
        form = self.form
        request = form.validate()
        if request is not None:
            try:
                check_request(request, exporter(self).ctx.settings.source)
            except RequestInvalid as e:  # pushdown = "on" and an item the server cannot compute
                form.show_errors({fe.path: [fe.reason] for fe in e.errors})
                form.valid = request = None
        if request is None:
            form.refuse("save")
            return
        if form.saving:
            return
        app = exporter(self)
        actor = app.ctx.actor
        max_queued = app.ctx.settings.limits.max_queued_runs
        request_id = self.request_id

        def store_it(store: Store) -> list[RequestSaved]:
            if self.mode == "edit" and request_id:
                stored = store.requests.update(request_id, request, actor, max_queued=max_queued)
            else:
                stored = store.requests.create(request, actor, max_queued=max_queued)
            return [RequestSaved(stored, self)]

        form.storing = app.run_db(store_it, "Save request")

    def action_preview(self) -> None:
        request = self.form.validate()
        if request is None:
            self.form.refuse("preview")
            return
        from exporter_tui.tui.screens.preview import PreviewScreen

        self.app.push_screen(PreviewScreen(request, None))

    def action_browse_source(self) -> None:
        from exporter_tui.tui.screens.source_browser import open_browser

        open_browser(self.form)

    def action_import_file(self) -> None:
        def chosen(path: str | None) -> None:
            if path:
                self.run_worker(self.import_file(path), exclusive=True, group="import", description="Import", exit_on_error=False)

        self.app.push_screen(PathPrompt("Import a JSON body from the file:", str(Path.cwd()) + "/"), chosen)

    async def import_file(self, path: str) -> None:
        try:
            with open(Path(path).expanduser(), "rb") as f:
                raw = f.read(10_000_001)
            body = decode_body(raw)
        except OSError as e:
            exporter(self).report_error("Import", f"cannot read {path}: {e.strerror}")
            return
        except ValueError as e:
            exporter(self).report_error("Import", f"{path}: {e}")
            return
        await self.form.load_body(body)
        self.notify(f"imported {path}" + ("" if self.form.valid else f"; {self.form.error_count} problem(s) to fix"), title="Import")

    def action_import_paste(self) -> None:
        def pasted(text: str | None) -> None:
            if text and text.strip():
                self.run_worker(self.import_text(text), exclusive=True, group="import", description="Paste", exit_on_error=False)

        self.app.push_screen(PasteDialog(self.app.clipboard), pasted)

    async def import_text(self, text: str) -> None:
        try:
            body = decode_body(text)
        except ValueError as e:
            exporter(self).report_error("Paste", str(e))
            return
        await self.form.load_body(body)
        self.notify(
            "imported the pasted body" + ("" if self.form.valid else f"; {self.form.error_count} problem(s) to fix"), title="Import"
        )

    def action_export(self) -> None:
        body, _ = self.form.read_form()
        request = self.form.validate()
        text = body_json(request.to_body() if request is not None else body)
        name = (request.name if request is not None and request.name else "request").replace("/", "_")
        default = str(exporter(self).ctx.paths.data_dir / f"{name[:60]}.json")

        def chosen(path: str | None) -> None:
            if not path:
                return
            try:
                write_atomic(path, text)
            except OSError as e:
                exporter(self).report_error("Export", f"cannot write {path}: {e.strerror}")
                return
            self.app.copy_to_clipboard(text)
            note = "" if request is not None else " (not valid yet)"
            self.notify(f"body written to {path} and copied to the clipboard{note}", title="Export")

        self.app.push_screen(PathPrompt("Export the body as JSON to the file:", default), chosen)

    def action_cancel(self) -> None:
        if not self.form.is_dirty():
            self.dismiss(None)
            return

        def answer(leave: bool | None) -> None:
            if leave:
                self.dismiss(None)

        self.app.push_screen(ConfirmDialog("Leave without saving? The changes are lost.", "Leave", "Stay"), answer)
