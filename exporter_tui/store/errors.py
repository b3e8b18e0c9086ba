"""What the store refuses, each error with its exit code, HTTP status and words."""

from __future__ import annotations

from exporter_tui.core.errors import EXIT_INVALID, EXIT_LIMIT, ExporterError

QUEUE_FULL = "Maximum number of queued exports reached"
RETRY_AFTER_SECONDS = 30  # how long a client told "queue full" waits before trying again
MISSING_IDENTITY = "Missing user identity id"
MIN_PREFIX = 4  # characters of an id prefix


def too_short(given: str) -> str:
    return f"id '{given}' is too short: give at least {MIN_PREFIX} characters of the id"


class StoreError(ExporterError):
    """The database cannot be used (corrupt, newer, unreadable)."""

    http_status = 503


class TakenOver(ExporterError):
    """A run's end was not recorded: its claim is another's now (its heartbeat stopped long
    enough for a scheduler to take it for dead and queue it again)."""

    exit_code = EXIT_LIMIT
    http_status = 409


class NotFound(ExporterError, LookupError):
    """No such request or run."""

    exit_code = EXIT_INVALID
    http_status = 404


class LimitReached(ExporterError):
    """Refused by a limit: the queue is full (429, retry later) or the request is already running (409)."""

    exit_code = EXIT_LIMIT

    @property
    def http_status(self) -> int:  # type: ignore[override]  # a property where the base has a class attribute
        return 429 if str(self) == QUEUE_FULL else 409

    def headers(self) -> dict[str, str] | None:
        return {"Retry-After": str(RETRY_AFTER_SECONDS)} if str(self) == QUEUE_FULL else None


class IdentityMissing(ExporterError, ValueError):
    """No [identity] user in the config: nothing may be written without an author."""

    exit_code = EXIT_INVALID
    http_status = 401

    def text(self) -> str:
        return f'{self}: set [identity] user = "your name" in the config file'

    def body(self) -> dict:
        return {"detail": str(self), "validationErrors": [{"path": "identity.user", "reason": "is empty"}]}
