"""The closed vocabularies a run is described with; each value is also the word stored and shown."""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """Connectif's export statuses, in the order a run moves through them."""

    NOT_PROCESSED = "notProcessed"
    IN_PROGRESS = "inProgress"
    DONE = "done"
    FAILED = "failed"
    EXPIRED = "expired"


class Origin(StrEnum):
    """Who asked for a run; `schedule`, `backfill` and counted manual runs take part in exactly-once
    (each is its interval's one run, so no scheduler runs that interval again)."""

    TUI = "tui"
    CLI = "cli"
    SCHEDULE = "schedule"
    API = "api"
    RERUN = "rerun"
    BACKFILL = "backfill"


class EventKind(StrEnum):
    """What a run event reports; the log pane colours and the API's event stream name them."""

    STARTED = "started"
    PROGRESS = "progress"
    WARNING = "warning"
    DONE = "done"
    FAILED = "failed"
    NOTIFICATION = "notification"
    SKIP = "skip"
    RECOVERED = "recovered"
    INFO = "info"
    ERROR = "error"


FINISHED = frozenset({RunStatus.DONE, RunStatus.FAILED, RunStatus.EXPIRED})
