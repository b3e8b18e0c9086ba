"""F1: the keys of the screen in front, as the keymap has them now."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Static

from exporter_tui.tui.bindings import DIALOG_CLOSE

SCREEN_NAMES = {
    "MainScreen": "Requests",
    "ComposeScreen": "Compose",
    "PreviewScreen": "Preview",
    "HistoryScreen": "History",
    "RunDetailScreen": "Run detail",
}


def screen_keys(screen: Screen) -> list[tuple[str, str, str]]:
    """(key, what it does, binding id) of every active, described binding of `screen`:
    the screen's own (the ones with ids) first, then the app's, then the rest (focus, the focused widget)."""
    app = screen.app
    ranked: list[tuple[int, int, tuple[str, str, str]]] = []
    seen: set[tuple[str, str]] = set()
    for order, (key, active) in enumerate(screen.active_bindings.items()):
        binding: Binding = active.binding
        if binding.system or not binding.description or (key, binding.description) in seen:
            continue
        seen.add((key, binding.description))
        rank = 0 if binding.id and active.node is screen else 1 if active.node is app else 2
        ranked.append((rank, order, (app.get_key_display(Binding(key, binding.action)), binding.description, binding.id or "")))
    return [row for _, _, row in sorted(ranked)]


class HelpScreen(ModalScreen[None]):
    BINDINGS = [*DIALOG_CLOSE, Binding("q", "close", show=False), Binding("f1", "close", show=False)]

    def __init__(self, front: Screen) -> None:
        super().__init__(classes="dialog")
        self.front = front

    def compose(self) -> ComposeResult:
        name = SCREEN_NAMES.get(type(self.front).__name__, type(self.front).__name__)
        with Vertical(classes="dialog-box tall", id="help-box"):
            yield Static(f"Keys of the {name} screen", classes="dialog-text")
            yield DataTable(id="keys", cursor_type="row", zebra_stripes=True)
            yield Static('Remap any key by its id in config.toml: [tui.bindings] new = "ctrl+n".  Esc closes.', classes="dialog-hint")

    def on_mount(self) -> None:
        table = self.query_one("#keys", DataTable)
        table.add_columns("KEY", "ACTION", "ID")
        for key, description, binding_id in screen_keys(self.front):
            table.add_row(Text(key), Text(description), Text(binding_id))
        table.focus()

    def action_close(self) -> None:
        self.dismiss(None)
