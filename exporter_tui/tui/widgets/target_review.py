"""The whole list of an item's targets under its one-line field, each with its label, and the
source check's warning for each name with no readings (a warning: the data may come later)."""

from __future__ import annotations

from textual.widgets import Static

from exporter_tui.tui.bindings import BROWSE_SOURCE
from exporter_tui.tui.widgets.form_fields import ErrorLine


def split_names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",")] if text.strip() else []


class TargetReview(Static):
    """One line per name; for a single name that has readings, nothing (the field shows it); for
    none, the key of the source browser."""

    DEFAULT_CSS = """
    TargetReview { display: none; height: auto; padding-left: 1; }  /* the whole width: most lines fit on one */
    TargetReview.-shown { display: block; }
    """

    def __init__(self) -> None:
        super().__init__(markup=False, classes="target-review")
        self.names: list[str] = []
        self.labels: list[str] = []
        self.missing: frozenset[str] = frozenset()
        self.shown_text = ""

    def show_list(self, value: str, label: str) -> None:
        self.names, self.labels = split_names(value), split_names(label)
        self.render_list()

    def show_missing(self, missing: frozenset[str]) -> None:
        if missing != self.missing:
            self.missing = missing
            self.render_list()

    def text(self) -> str:
        missing = [n for n in self.names if n in self.missing]
        if not self.names:
            key_for = getattr(self.app, "key_for", None)
            return f"{key_for(BROWSE_SOURCE) if key_for else BROWSE_SOURCE.key}: pick targets from the source"
        if len(self.names) < 2 and not missing:
            return ""
        lines = [f"{len(self.names)} targets:" if len(self.names) != 1 else "1 target:"]
        for i, name in enumerate(self.names):
            label = self.labels[i] if i < len(self.labels) else (name if not self.labels else "?")
            line = f"{i + 1:>3}. {name}" + (f" -> {label}" if label != name else "")
            if name in self.missing:
                line += "  ! no readings on this channel/subtopic yet"
            lines.append(line)
        if missing:
            lines.append(f"! {len(missing)} target(s) with no readings in the source (a warning: they may be filled later)")
        return "\n".join(lines)

    def render_list(self) -> None:
        text = self.text()
        if text != self.shown_text:
            self.shown_text = text
            self.set_class(bool(text), "-shown")
            self.update(text)


class SourceWarning(ErrorLine):
    """The one warning of a form whose targets could not be checked (the source cannot be read)."""
