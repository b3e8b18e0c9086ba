"""Events a run reports as it goes: the TUI's log pane and headless's log lines read them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from exporter_tui.core.enums import EventKind
from exporter_tui.core.times import iso, utc_now


@dataclass(frozen=True)
class RunEvent:
    kind: EventKind
    message: str
    run_id: str | None = None
    request_id: str | None = None
    progress: int | None = None
    total: int | None = None
    at: str = field(default_factory=lambda: iso(utc_now(), "seconds"))

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


EventSink = Callable[[RunEvent], None]


def ignore(_: RunEvent) -> None:
    """The sink for callers that do not watch."""
