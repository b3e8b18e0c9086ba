"""The log pane: one timestamped line per event, its kind in words so it reads without colour."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual.widgets import RichLog

from exporter_tui.events import RunEvent

STYLES = {
    "failed": "bold red",
    "error": "bold red",
    "warning": "yellow",
    "done": "green",
    "started": "cyan",
    "notification": "magenta",
    "progress": "dim",
}


def event_line(event: RunEvent) -> Text:
    try:
        at = datetime.fromisoformat(event.at.replace("Z", "+00:00")).astimezone().strftime("%H:%M:%S")
    except ValueError:
        at = event.at
    return Text.assemble((at, "dim"), " ", (f"{event.kind:<8}", STYLES.get(event.kind, "")), " ", event.message)


class LogPane(RichLog):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, max_lines=2000, wrap=True, markup=False, highlight=False, auto_scroll=True)
        self.lines_text: list[str] = []

    def add(self, event: RunEvent) -> None:
        line = event_line(event)
        self.lines_text.append(line.plain)
        del self.lines_text[:-2000]
        self.write(line)
