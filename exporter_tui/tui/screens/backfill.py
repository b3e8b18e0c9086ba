"""The backfill dialog (key b): a range, the preview of the intervals it takes, then queue them.

It shows what `exporter-tui backfill --dry-run` prints (service/backfill.py): how many runs,
the first and last window, the intervals that already have a run and are left alone (its
times on the app's clock, [tui] clock). The queued runs are the scheduler's to run (in this app, or the process that serves the database).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.markup import escape
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Static

from exporter_tui.scheduler.backfill import BackfillPlan
from exporter_tui.store.errors import LimitReached
from exporter_tui.store.requests import StoredRequest
from exporter_tui.tui.appref import OwnsWorkers, exporter
from exporter_tui.tui.bindings import BACKFILL_BINDINGS, DIALOG_CLOSE
from exporter_tui.tui.form_logic import parse_time
from exporter_tui.tui.formatting import zone_of
from exporter_tui.tui.screens.dialogs import key_of
from exporter_tui.tui.widgets.text_inputs import OrderedInput

LEFT_ALONE_SHOWN = 5  # intervals that already have a run, listed in the preview


@dataclass
class PlanReady(Message):
    """The intervals a range takes, or what is wrong with it (posted from the preview's worker thread)."""

    plan: BackfillPlan | str


@dataclass(frozen=True)
class BackfillAsked:
    """What the dialog hands back: the range and whether the runs notify."""

    start: datetime
    end: datetime
    notify: bool


class BackfillDialog(OwnsWorkers, ModalScreen[BackfillAsked | None]):
    BINDINGS = [*BACKFILL_BINDINGS]
    DEFAULT_CSS = """
    #backfill-box .backfill-row { height: 1; margin-bottom: 1; }
    #backfill-box .backfill-row Input { width: 1fr; }
    #backfill-preview { margin: 1 0; }
    """

    def __init__(self, stored: StoredRequest) -> None:
        super().__init__(classes="dialog")
        self.stored = stored
        self.zone = zone_of(stored.request)
        self.plan: BackfillPlan | None = None

    def compose(self) -> ComposeResult:
        name = f" ({self.stored.request.name})" if self.stored.request.name else ""
        with VerticalScroll(classes="dialog-box", id="backfill-box"):  # scrolls on a small terminal
            yield Static(
                f"Backfill {self.stored.short_id}{name}: a run for each interval that starts at or after From and ends "
                f"by To (ISO 8601 or Unix seconds; without an offset, {self.stored.request.format.timezone} time).",
                classes="dialog-text",
            )
            with Horizontal(classes="backfill-row"):
                yield Label("From ")
                yield OrderedInput(placeholder="e.g. 2025-03-01T00:00 or 1740787200", id="backfill-from", compact=True)
            with Horizontal(classes="backfill-row"):
                yield Label("To   ")
                yield OrderedInput(placeholder="e.g. 2025-03-08T00:00", id="backfill-to", compact=True)
            yield Checkbox("Send the request's notifications", id="backfill-notify", compact=True)
            yield Static("Give From and To to see the intervals.", id="backfill-preview")
            with Horizontal(classes="dialog-buttons"):
                yield Button(escape(f"Queue [{key_of(self, BACKFILL_BINDINGS[-1])}]"), id="accept", variant="primary", compact=True)
                yield Button(escape(f"Cancel [{key_of(self, DIALOG_CLOSE[0])}]"), id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#backfill-from", Input).focus()

    def range(self) -> tuple[datetime, datetime] | str:
        """The range typed, or what is wrong with it (naming the field)."""
        values = []
        for field in ("from", "to"):
            text = self.query_one(f"#backfill-{field}", Input).value.strip()
            if not text:
                return f"{field}: is required"
            try:
                values.append(datetime.fromtimestamp(parse_time(text, self.zone), UTC))
            except (ValueError, OverflowError, OSError) as e:
                return f"{field}: {e}"
        if values[1] <= values[0]:
            return "to: must be after from"
        return values[0], values[1]

    @on(Input.Changed)
    def _range_changed(self) -> None:
        self.plan = None
        asked = self.range()
        preview = self.query_one("#backfill-preview", Static)
        if isinstance(asked, str):
            preview.update(asked)
            return
        app = exporter(self)
        ctx, stored, now = app.ctx, self.stored, app.now()

        def plan() -> BackfillPlan | str:
            from exporter_tui.service import backfill

            store = ctx.open_store()
            try:
                return backfill.preview(ctx, store, stored, asked[0], asked[1], now)
            except (ValueError, LimitReached) as e:
                return str(e)
            finally:
                store.close()

        def work() -> None:
            app.post_result(PlanReady(plan()), self)

        preview.update("Looking at the intervals...")
        app.start_worker(work, "Backfill preview", group="backfill-preview", exclusive=True, owner=self)

    def on_plan_ready(self, message: PlanReady) -> None:
        plan = message.plan
        preview = self.query_one("#backfill-preview", Static)
        if isinstance(plan, str):
            preview.update(plan)
            return
        self.plan = plan
        clock = exporter(self).ui_clock
        preview.update("\n".join(plan.describe(LEFT_ALONE_SHOWN, lambda dt: clock.full(dt.timestamp(), self.zone))))

    @on(Button.Pressed, "#accept")
    def _accept_pressed(self) -> None:
        self.action_accept()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.dismiss(None)

    def action_accept(self) -> None:
        if self.plan is None or not self.plan.to_queue:
            self.notify("Nothing to queue: give a range with intervals that have no run yet", severity="warning")
            return
        notify = self.query_one("#backfill-notify", Checkbox).value
        self.dismiss(BackfillAsked(self.plan.start, self.plan.end, notify))

    def action_close(self) -> None:
        self.dismiss(None)
