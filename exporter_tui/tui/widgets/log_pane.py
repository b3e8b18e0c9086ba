"""The log pane: one timestamped line per event, its kind in words so it reads without colour.

Long lines (file paths) wrap, and no character may be lost where they do. RichLog wraps a
line once, when it is written, at no less than its `min_width` (78) whatever the pane's
width; so each line is written at the pane's own width, the pane always keeps room for its
scrollbar (`scrollbar-gutter: stable`: a scrollbar that appears later covers nothing), and
when the width changes every line is wrapped again.
"""

from __future__ import annotations

from rich.text import Text
from textual.events import Resize
from textual.widgets import RichLog

from exporter_tui.core.enums import EventKind
from exporter_tui.events import RunEvent
from exporter_tui.tui.clock import UiClock

STYLES = {
    EventKind.FAILED: "bold red",
    EventKind.ERROR: "bold red",
    EventKind.WARNING: "yellow",
    EventKind.DONE: "green",
    EventKind.STARTED: "cyan",
    EventKind.NOTIFICATION: "magenta",
    EventKind.PROGRESS: "dim",
}


def event_line(event: RunEvent, clock: UiClock) -> Text:
    at = clock.time_of_day(event.at)
    return Text.assemble((at, "dim"), " ", (f"{event.kind:<8}", STYLES.get(event.kind, "")), " ", event.message)


MAX_LINES = 2000


class LogPane(RichLog):
    DEFAULT_CSS = """
    LogPane {
        scrollbar-gutter: stable;
    }
    """

    def __init__(self, clock: UiClock, *, id: str | None = None) -> None:
        self.clock = clock
        super().__init__(id=id, max_lines=MAX_LINES, wrap=True, markup=False, highlight=False, auto_scroll=True)
        self.entries: list[Text] = []
        self.wrapped_at = 0

    @property
    def lines_text(self) -> list[str]:
        return [line.plain for line in self.entries]

    def add(self, event: RunEvent) -> None:
        line = event_line(event, self.clock)
        self.entries.append(line)
        del self.entries[:-MAX_LINES]
        self.write(line, width=self.wrapped_at or None)

    def on_resize(self, event: Resize) -> None:
        width = self.scrollable_content_region.width
        if width and width != self.wrapped_at:
            self.wrapped_at = width
            at_end = self.scroll_y >= self.max_scroll_y
            self.clear()
            for line in self.entries:
                self.write(line, width=width, scroll_end=at_end)
