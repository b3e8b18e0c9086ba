"""The Textual app: screens over the core, the scheduler in a thread worker, errors as notifications.

Threads never touch widgets: a worker reports what it did, and what it found, only by posting
typed messages (`messages.py`, and a screen's own) to the app or to the screen that owns it.
Every worker runs with `exit_on_error=False`, so one handler (`on_worker_state_changed`) turns
any failure into a notification and a log line. A worker whose result only its screen shows (a
preview) belongs to that screen: it is cancelled when the screen goes away, and what it finds
after that is dropped (`post_result`).
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.dom import DOMNode
from textual.message import Message
from textual.message_pump import MessagePump
from textual.screen import Screen
from textual.worker import Worker, WorkerState, get_current_worker

from exporter_tui.context import Context, load_context
from exporter_tui.core.enums import EventKind, RunStatus
from exporter_tui.core.errors import ExporterError
from exporter_tui.core.times import iso, utc_now
from exporter_tui.events import RunEvent
from exporter_tui.store.requests import StoredRequest
from exporter_tui.store.runs import Run
from exporter_tui.store.store import Store
from exporter_tui.tui.bindings import (
    APP_BINDINGS,
    keymap_from_settings,
)
from exporter_tui.tui.clock import UiClock
from exporter_tui.tui.messages import (
    DataChanged,
    EventPosted,
    LeaseChecked,
    Polled,
    RequestSaved,
    RequestsLoaded,
    RunProgress,
    RunToCancel,
    SchedulerChanged,
)
from exporter_tui.tui.screens.main import MainScreen
from exporter_tui.tui.textual_guards import install_guards
from exporter_tui.tui.workers import fill_demo, load_request_rows, run_request

T = TypeVar("T")
SCHEDULER_STOP_SECONDS = 6.0  # how long quitting waits for the scheduler's runs to stop
Clock = Callable[[], datetime]

COMMAND_TITLES = {
    "new": ("New request", "compose a new export request"),
    "edit": ("Edit request", "edit the selected request"),
    "clone": ("Clone request", "compose a copy of the selected request"),
    "delete": ("Delete request", "delete the selected request (asks first)"),
    "run": ("Run now", "run the selected request now"),
    "backfill": ("Backfill", "queue one run per past interval of the selected request in a range (shows them first)"),
    "preview": ("Preview request", "windows, next runs, first rows and plots of the selected request"),
    "pause": ("Pause or resume", "stop or restart scheduling the selected request"),
    "filter": ("Filter requests", "show only the requests matching some text"),
    "history": ("Run history", "every run, filterable by status"),
    "copy_path": ("Copy file path", "copy the selected run's file path to the clipboard"),
    "cancel_run": ("Cancel run", "stop a queued or running export, in any process (asks first)"),
    "save": ("Save request", "store the request in the form"),
    "form_preview": ("Preview form", "preview the request in the form without storing it"),
    "import_file": ("Import JSON file", "fill the form from a JSON body in a file"),
    "import_clipboard": ("Import pasted JSON", "fill the form from a JSON body pasted from the clipboard"),
    "export": ("Export JSON", "write the form as a JSON body to a file and copy it to the clipboard"),
    "browse_source": ("Browse the source", "pick targets, channel and subtopic of items from the source"),
    "browse_pick": ("Pick target", "pick or unpick the target (or group) under the cursor"),
    "browse_use": ("Fill the form", "fill the form's items with the picked targets"),
    "cancel": ("Leave the form", "back to the requests (asks first when the form has changes)"),
}


@dataclass(frozen=True)
class AppOptions:
    """What tests and benchmarks change: the clock, and the background work started at launch."""

    clock: Clock = utc_now
    scheduler: bool = True  # run the scheduler in a thread unless another process serves the database
    first_start_demo: bool = True  # fill the demo source when the embedded source does not exist yet
    demo_days: float = 30.0
    demo_end: datetime | None = None  # default: the clock, rounded down to the hour
    poll_seconds: float = 2.0  # how often the database is checked for changes made by other processes
    scheduler_recheck_seconds: float = 15.0


def describe_error(error: BaseException | str) -> str:
    """A failure in words, without a traceback."""
    if isinstance(error, str):
        return error
    if isinstance(error, ExporterError):
        return error.text()
    if isinstance(error, OSError) and error.strerror:
        return f"{error.strerror}" + (f" ({error.filename})" if error.filename else "")
    if isinstance(error, (LookupError, ValueError)):
        return str(error)
    return f"{type(error).__name__}: {error}"


class ExporterApp(App[int]):
    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute, so subclasses elsewhere find it
    TITLE = "exporter-tui"
    BINDINGS = [*APP_BINDINGS, Binding("ctrl+c", "help_quit", show=False, system=True)]

    def __init__(self, ctx: Context, store: Store | None = None, options: AppOptions | None = None) -> None:
        super().__init__()
        install_guards()
        self.ctx = ctx
        self.options = options or AppOptions()
        self.store = store or ctx.open_store()
        self.stop_event = threading.Event()
        self.scheduler_done = threading.Event()
        self.keymap_wanted, self.keymap_warnings = keymap_from_settings(ctx.settings.tui.bindings)
        self.ui_clock = UiClock(ctx.settings.tui.clock)
        self.main_screen = MainScreen()
        self.scheduler_worker: Worker[None] | None = None
        self.marker: tuple[Any, ...] | None = None
        self.pending_select: str | None = None
        self.poll_error: str | None = None
        self.early_events: list[RunEvent] = []
        self.sub_title = "scheduler: starting"

    def now(self) -> datetime:
        return self.options.clock()

    def event(self, kind: EventKind, message: str, request_id: str | None = None) -> RunEvent:
        """An event of the app itself, stamped by the app's clock."""
        return RunEvent(kind, message, request_id=request_id, at=iso(self.now()))

    # -- start and stop --------------------------------------------------------------------
    def on_mount(self) -> None:
        if self.ctx.settings.tui.theme in self.available_themes:
            self.theme = self.ctx.settings.tui.theme
        else:
            self.keymap_warnings.append(f"[tui] theme: no theme '{self.ctx.settings.tui.theme}'; using {self.theme}")
        self.set_keymap(self.keymap_wanted)
        self.push_screen(self.main_screen)
        for warning in self.keymap_warnings:
            self.log_event(self.event(EventKind.WARNING, warning))
        self.call_after_refresh(self.after_first_draw)

    def after_first_draw(self) -> None:
        """Background work starts once the first screen is on the terminal."""
        if self.first_start():
            end = self.options.demo_end or self.now().replace(minute=0, second=0, microsecond=0)
            self.start_worker(
                partial(fill_demo, self.ctx, self.options.demo_days, end, self.post, self.stop_event), "Demo data", group="demo"
            )
        self.check_scheduler()
        self.set_interval(self.options.poll_seconds, self.poll)
        if self.options.scheduler:
            self.set_interval(self.options.scheduler_recheck_seconds, self.check_scheduler)

    def first_start(self) -> bool:
        return self.options.first_start_demo and self.ctx.settings.source.kind == "embedded" and not self.ctx.paths.source_db.exists()

    async def action_quit(self) -> None:
        running = [w for w in self.workers if w.group == "run" and w.is_running]
        if not running:
            await self.shut_down()
            return

        async def answer(yes: bool | None) -> None:
            if yes:
                await self.shut_down()

        from exporter_tui.tui.screens.dialogs import ConfirmDialog

        self.push_screen(ConfirmDialog(f"{len(running)} run(s) in progress. Quit and interrupt them?", "Quit", "Stay"), answer)

    async def shut_down(self) -> None:
        """Stop the background work, let the scheduler hand back its lease, then leave."""
        self.stop_event.set()
        if self.scheduler_worker is not None and not self.scheduler_done.is_set():
            self.sub_title = "scheduler: stopping..."
            await asyncio.to_thread(self.scheduler_done.wait, SCHEDULER_STOP_SECONDS)
        self.exit(0)

    def on_unmount(self) -> None:
        """However the app ends: stop the workers; wait (bounded) for the scheduler to release its lease."""
        self.stop_event.set()
        if self.scheduler_worker is not None:
            self.scheduler_done.wait(SCHEDULER_STOP_SECONDS)

    # -- workers ---------------------------------------------------------------------------
    def post(self, message: Message, to: MessagePump | None = None) -> None:
        """Thread-safe, never blocks; a message to a closing app (or node) is dropped."""
        try:
            (to or self).post_message(message)
        except RuntimeError:  # the event loop closed under a late worker
            pass

    def post_result(self, message: Message, to: MessagePump | None = None) -> None:
        """From a worker thread: what the worker found, to `to` (the app by default), unless the worker
        was cancelled: its owner went away, or a newer worker of its exclusive group replaced it (whose
        result, posted later, is the one that counts)."""
        if not get_current_worker().is_cancelled:
            self.post(message, to)

    def start_worker(
        self, work: Callable[[], T], title: str, *, group: str = "default", exclusive: bool = False, owner: DOMNode | None = None
    ) -> Worker[T]:
        """A thread worker; it reports by posting messages. With an `owner` (a screen or widget that
        forwards its workers' state changes here, see OwnsWorkers), Textual cancels the worker when the
        owner is removed (the thread itself is told through `worker.is_cancelled`)."""
        node = owner or self
        return node.run_worker(work, name=title, group=group, description=title, thread=True, exclusive=exclusive, exit_on_error=False)

    def run_db(self, job: Callable[[Store], Iterable[Message]], title: str) -> Worker[None]:
        """A database change off the UI thread, on its own connection (a locked database cannot freeze
        the screen); `job` returns the messages that say how it went, posted to the app in order."""

        def work() -> None:
            store = self.ctx.open_store()
            try:
                said = list(job(store))
            finally:
                store.close()
            for message in said:
                self.post(message)

        return self.start_worker(work, title, group="db")

    def read_db(self, job: Callable[[Store], Message], title: str, *, owner: MessagePump | None = None) -> Worker[None]:
        """A read off the UI thread, on the app's connection (its lock lets threads share it), so a
        busy or locked database slows a worker, never the screen. What the read found goes to
        `owner` (the app by default) as one message, unless a newer read of the same title replaced
        it or the owner went away; a failure is reported like any worker's."""

        def work() -> None:
            self.post_result(job(self.store), owner)

        return self.start_worker(work, title, group=f"read {title}", exclusive=True, owner=owner if isinstance(owner, DOMNode) else None)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.node is not self and not worker.node.is_attached:  # its screen has gone: nothing to show it on
            return
        if event.state == WorkerState.ERROR:
            self.report_error(worker.description or worker.name, worker.error or "failed")
            if worker is self.scheduler_worker:
                self.set_scheduler_text("scheduler: stopped after an error (see the log)")
        if worker.group == "run" and event.state in (WorkerState.SUCCESS, WorkerState.ERROR):
            self.changed(None)

    def report_error(self, title: str, error: BaseException | str) -> None:
        text = describe_error(error)
        self.notify(text, title=title, severity="error", timeout=10)
        self.log_event(self.event(EventKind.ERROR, f"{title}: {text}"))

    # -- data --------------------------------------------------------------------------------
    def load_requests(self, select: str | None = None) -> None:
        now = self.now()

        def work() -> None:
            worker = get_current_worker()
            marker = self.change_marker(self.store)
            self.post_result(RequestsLoaded(load_request_rows(self.ctx, now, lambda: worker.is_cancelled), marker))

        if select is not None:
            self.pending_select = select
        self.start_worker(work, "Load requests", group="requests", exclusive=True)

    def on_requests_loaded(self, message: RequestsLoaded) -> None:
        select, self.pending_select = self.pending_select, None
        self.main_screen.populate(message.rows, select)
        self.marker = message.marker

    def changed(self, note: str | None, select: str | None = None) -> None:
        self.post_message(DataChanged(select, note))

    def on_data_changed(self, message: DataChanged) -> None:
        if message.note:
            self.notify(message.note)
            self.log_event(self.event(EventKind.INFO, message.note))
        self.load_requests(message.select)

    def on_request_saved(self, message: RequestSaved) -> None:
        """The form that saved closes with the stored id (the main screen then selects it); one left
        meanwhile (Esc, y while it was being stored) is gone already: select it here."""
        stored, form = message.stored, message.form
        self.notify(f"request {stored.short_id} saved", title="Saved")
        if form not in self.screen_stack:
            self.load_requests(select=stored.id)
            return
        form.pop_until_active()  # a dialog opened meanwhile (Esc, F1, F5...) goes with the form; dismiss pops the top screen
        form.dismiss(stored.id)

    def change_marker(self, store: Store) -> tuple[Any, ...]:
        """Cheap facts that change whenever requests or runs do, whoever changed them, and the minute
        (next-run texts age); read by a worker."""
        return (*store.change_marker(), int(self.now().timestamp() // 60))

    def poll(self) -> None:
        def look(store: Store) -> Polled:
            try:
                return Polled(self.change_marker(store))
            except Exception as e:  # a locked or vanished database: the handler says so
                return Polled(None, f"cannot read the database: {e}")

        self.read_db(look, "Database")

    def on_polled(self, message: Polled) -> None:
        if message.error is not None:  # said once per change of reason
            if self.poll_error != message.error:
                self.poll_error = message.error
                self.report_error("Database", message.error)
            return
        self.poll_error = None
        if message.marker != self.marker:
            self.marker = message.marker
            self.load_requests()

    def start_run(self, stored: StoredRequest) -> None:
        now = self.now()
        self.log_event(self.event(EventKind.INFO, f"run of {stored.short_id} requested", request_id=stored.id))
        self.start_worker(partial(run_request, self.ctx, stored.id, now, self.post, self.stop_event), f"Run {stored.short_id}", group="run")

    # -- cancelling a run -------------------------------------------------------------------------
    def cancel_run_asking(self, find: Callable[[Store], Run | None], nothing: str) -> None:
        """Find the run to cancel (off the UI thread), ask, then cancel it."""
        self.run_db(lambda store: [RunToCancel(find(store), nothing=nothing)], "Cancel run")

    def on_run_to_cancel(self, message: RunToCancel) -> None:
        if message.run is None:
            self.notify(message.nothing, severity="warning")
        else:
            self.offer_cancel(message.run, message.before)

    def offer_cancel(self, run: Run, before: str = "") -> None:
        """Ask, then set the store's cancel flag: a queued run ends at once; a running one, in this
        process or any other on this database, stops at its next progress step and ends failed
        "cancelled by <user>" with its partial files removed."""
        from exporter_tui.tui.screens.dialogs import ConfirmDialog

        actor = self.ctx.actor
        state = "running" if run.status == RunStatus.IN_PROGRESS else "queued"
        question = f'{before}Cancel run {run.id[:8]} ({state})?\nIt ends failed "cancelled by {actor}"; its partial files are removed.'

        def cancel(store: Store) -> list[Message]:
            from exporter_tui.service.runs import cancel_run

            after = cancel_run(store, run.id, actor)
            if after.status == RunStatus.FAILED:
                return [DataChanged(note=f"run {after.id[:8]} cancelled")]
            return [DataChanged(note=f"run {after.id[:8]}: cancel requested; it stops at its next progress step")]

        def answer(yes: bool | None) -> None:
            if yes:
                self.run_db(cancel, "Cancel run")

        self.push_screen(ConfirmDialog(question, "Cancel run", "Keep it"), answer)

    # -- messages from workers -------------------------------------------------------------------
    def on_event_posted(self, message: EventPosted) -> None:
        self.log_event(message.event)
        if message.event.kind == EventKind.FAILED:
            self.notify(message.event.message, title="Export failed", severity="error", timeout=10)
        if message.event.kind in (EventKind.STARTED, EventKind.DONE, EventKind.FAILED, EventKind.RECOVERED, EventKind.SKIP):
            self.load_requests()

    def on_run_progress(self, message: RunProgress) -> None:
        if self.main_screen.is_mounted:
            self.main_screen.show_progress(message)

    def log_event(self, event: RunEvent) -> None:
        """Into the log pane; events from before the pane exists wait for it."""
        if self.main_screen.is_mounted:
            self.main_screen.add_log(event)
        else:
            self.early_events.append(event)

    # -- the scheduler -------------------------------------------------------------------------
    def set_scheduler_text(self, text: str) -> None:
        self.post_message(SchedulerChanged(text))

    def on_scheduler_changed(self, message: SchedulerChanged) -> None:
        if message.text != self.sub_title:
            self.sub_title = message.text
            self.log_event(self.event(EventKind.INFO, message.text))

    def check_scheduler(self) -> None:
        """Serve the database here unless another process already does; look again now and then."""
        if not self.options.scheduler:
            self.set_scheduler_text("scheduler: off in this app")
            return
        if self.scheduler_worker is not None and self.scheduler_worker.is_running:
            return
        try:
            from exporter_tui.scheduler.service import Scheduler
        except ImportError as e:
            self.set_scheduler_text(f"scheduler: unavailable ({e})")
            return

        def look(store: Store) -> LeaseChecked:
            try:
                return LeaseChecked(Scheduler.served_by_other(store))
            except Exception as e:  # a locked or unreadable database: the next check tries again
                return LeaseChecked(None, describe_error(e))

        self.read_db(look, "Scheduler lease")

    def on_lease_checked(self, message: LeaseChecked) -> None:
        if message.error is not None:
            self.set_scheduler_text(f"scheduler: cannot check the lease ({message.error})")
        elif message.other is not None:
            self.set_scheduler_text(f"scheduler: served by pid {message.other.get('pid')} on {message.other.get('host')}")
        elif self.scheduler_worker is None or not self.scheduler_worker.is_running:
            self.scheduler_worker = self.start_worker(self.serve_scheduler, "Scheduler", group="scheduler")
            self.set_scheduler_text("scheduler: running in this app")

    def serve_scheduler(self) -> None:
        from exporter_tui.service.scheduling import make_scheduler

        try:
            store = self.ctx.open_store()
            try:
                make_scheduler(self.ctx, store, sink=lambda event: self.post(EventPosted(event)), clock=self.options.clock).serve(
                    self.stop_event, grace=SCHEDULER_STOP_SECONDS - 1
                )
            finally:
                store.close()
        finally:
            self.scheduler_done.set()

    # -- help and the command palette -------------------------------------------------------
    def action_help(self) -> None:
        from exporter_tui.tui.screens.help import HelpScreen

        self.push_screen(HelpScreen(self.screen))

    def key_for(self, binding: Binding) -> str:
        keys = self.keymap_wanted.get(binding.id, binding.key) if binding.id else binding.key
        return self.get_key_display(Binding(keys.split(",")[0], binding.action))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Textual's commands, F1, and every key of the screen in front, so a key the footer has
        no room for is still one search away."""
        yield from super().get_system_commands(screen)
        yield SystemCommand("Help: keys", f"the keys of this screen ({self.key_for(APP_BINDINGS[0])})", self.action_help)
        for binding in getattr(screen, "BINDINGS", []):
            if not isinstance(binding, Binding) or not binding.id:
                continue
            title, help_text = COMMAND_TITLES.get(binding.id, (binding.description, binding.tooltip or binding.description.lower()))
            yield SystemCommand(title, f"{help_text} ({self.key_for(binding)})", partial(self.run_action, binding.action, screen))


def run_app(home: str | None, config: str | None, options: AppOptions | None = None) -> int:
    """Open the app on a home folder; a bad config or an unusable database is a message and an exit code, never a traceback."""
    try:
        ctx = load_context(home, config)
        store = ctx.open_store()
    except ExporterError as e:
        print(f"error: {e.text()}", file=sys.stderr)
        return e.exit_code
    except OSError as e:
        print(f"error: cannot open the database {ctx.paths.database}: {e.strerror}", file=sys.stderr)
        return 1
    try:
        result = ExporterApp(ctx, store, options).run()
    finally:
        store.close()
    return int(result or 0)
