"""The data a notification is built from and the record of how its delivery went."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal, Protocol

from exporter_tui.core.times import iso, utc_now

Status = Literal["sent", "failed", "skipped"]


class MessageSpec(Protocol):
    """One notification message of a request (the lead's pydantic model fits it)."""

    @property
    def target(self) -> str | None: ...
    @property
    def policy(self) -> str: ...
    @property
    def medium(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def text(self) -> str: ...


@dataclass
class NotificationContext:
    """What a run produced: the values of the placeholders and where the file is."""

    request_id: str
    run_id: str
    status: str
    rows: int | None = None
    file_name: str | None = None
    file_path: str | None = None
    window_from: str | None = None
    window_to: str | None = None
    error: str | None = None

    def values(self) -> dict[str, object]:
        return dataclasses.asdict(self)


@dataclass
class Outcome:
    """How one message went. `target` is displayable: an address, a chat id or a
    webhook NAME ("default" for default_url); never a URL or a token."""

    medium: str
    target: str
    policy: str
    status: Status
    attempts: int
    error: str | None
    at: str


class DeliveryError(Exception):
    """One failed attempt; `reason` is short and already free of secrets."""

    def __init__(self, reason: str, *, retryable: bool):
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


def stamp_now() -> str:
    """Now, as the store stamps an outcome."""
    return iso(utc_now())
