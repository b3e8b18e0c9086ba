"""Messages that workers post to the app: the only way background threads talk to the UI.

`post_message` is thread-safe and never blocks, so a worker cannot hang on a closing app
(as `call_from_thread` can).
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from exporter_tui.events import RunEvent
from exporter_tui.store.requests import StoredRequest


class EventPosted(Message):
    """Something to show in the log pane: a run's event, a notification outcome, the demo fill..."""

    def __init__(self, event: RunEvent) -> None:
        super().__init__()
        self.event = event


class RunProgress(Message):
    """Readings exported so far by a run this app is executing, and in how many seconds."""

    def __init__(self, run_id: str | None, request_id: str, done: int, total: int | None, elapsed: float | None = None) -> None:
        super().__init__()
        self.run_id = run_id
        self.request_id = request_id
        self.done = done
        self.total = total
        self.elapsed = elapsed


@dataclass(frozen=True)
class RequestRow:
    stored: StoredRequest
    last_status: str | None
    next_text: str


class RequestsLoaded(Message):
    """Every active request with what the table shows, loaded off the UI thread."""

    def __init__(self, rows: list[RequestRow]) -> None:
        super().__init__()
        self.rows = rows


class SchedulerChanged(Message):
    """Who schedules this database now, in words for the header."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class DataChanged(Message):
    """Requests or runs changed (saved, deleted, a run started or ended): reload the tables."""

    def __init__(self, select: str | None = None) -> None:
        super().__init__()
        self.select = select
