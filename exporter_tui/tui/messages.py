"""Messages that workers post to the app: the only way background threads talk to the UI
(a screen's own workers post theirs, declared beside it, to that screen).

`post_message` is thread-safe and never blocks, so a worker cannot hang on a closing app
(as `call_from_thread` can). Each message is a dataclass: its fields are what it carries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message
from textual.screen import Screen

from exporter_tui.events import RunEvent
from exporter_tui.store.requests import StoredRequest
from exporter_tui.store.runs import Run


@dataclass
class EventPosted(Message):
    """Something to show in the log pane: a run's event, a notification outcome, the demo fill..."""

    event: RunEvent


@dataclass
class RunProgress(Message):
    """Readings exported so far by a run this app is executing, and in how many seconds.

    Only the newest counts: when a newer one of the same run waits right behind it in the
    queue, Textual drops this one (`can_replace`), so a busy app skips stale counts."""

    run_id: str | None
    request_id: str
    done: int
    total: int | None
    elapsed: float | None = None

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunProgress) and (message.run_id, message.request_id) == (self.run_id, self.request_id)


@dataclass(frozen=True)
class RequestRow:
    stored: StoredRequest
    last_status: str | None
    next_text: str


@dataclass
class Polled(Message):
    """What the poll found: the change marker, or why the database could not be read."""

    marker: tuple[Any, ...] | None
    error: str | None = None


@dataclass
class RequestsLoaded(Message):
    """Every active request with what the table shows, loaded off the UI thread, and the change
    marker read just before them (a change made while they loaded shows at the next poll)."""

    rows: list[RequestRow]
    marker: tuple[Any, ...]


@dataclass
class SchedulerChanged(Message):
    """Who schedules this database now, in words for the header."""

    text: str


@dataclass
class LeaseChecked(Message):
    """Whether another process serves the scheduler: its lease holder, or why the lease could not be read."""

    other: dict[str, Any] | None
    error: str | None = None


@dataclass
class DataChanged(Message):
    """Requests or runs changed (saved, deleted, a run started or ended): reload the tables,
    selecting `select`; `note` says what changed (a notification and a log line)."""

    select: str | None = None
    note: str | None = None


@dataclass
class RequestSaved(Message):
    """The request of `form` (the compose screen) is stored."""

    stored: StoredRequest
    form: Screen[Any]


@dataclass
class RunToCancel(Message):
    """The run the user asked to cancel, found in the store: ask before cancelling it (after
    `before`); None when there is none (say `nothing`)."""

    run: Run | None
    nothing: str = ""
    before: str = ""
