"""Every key binding of the app, each with an id so `[tui.bindings]` can remap it.

`[tui.bindings] new = "ctrl+n"` becomes the keymap `{"new": "ctrl+n"}` that Textual applies
to the binding with that id, wherever it is declared.
"""

from __future__ import annotations

from textual.binding import Binding

APP_BINDINGS: list[Binding] = [
    Binding("f1", "help", "Help", id="help"),
    Binding("ctrl+q", "quit", "Quit", id="quit", priority=True, show=False),
    # Priority, so the focus moves as the key reaches the app, before the next key is handed to
    # the focused field; Textual's own (non-priority) Tab first bubbles up from the field being
    # left, and keys typed meanwhile landed in that field.
    Binding("tab", "focus_next", "Next field", id="focus_next", priority=True, show=False),
    Binding("shift+tab", "focus_previous", "Previous field", id="focus_previous", priority=True, show=False),
]

MAIN_BINDINGS: list[Binding] = [
    Binding("n", "new", "New", id="new"),
    Binding("e", "edit", "Edit", id="edit"),
    Binding("c", "clone", "Clone", id="clone", show=False),
    Binding("d", "delete", "Delete", id="delete"),
    Binding("r", "run", "Run", id="run"),
    Binding("b", "backfill", "Backfill", id="backfill", show=False),
    Binding("p", "preview", "Preview", id="preview"),
    Binding("space", "pause", "Pause", id="pause"),
    Binding("slash", "filter", "Filter", id="filter", key_display="/", show=False),
    Binding("h", "history", "History", id="history"),
    Binding("y", "copy_path", "Copy path", id="copy_path", show=False),
    Binding("x", "cancel_run", "Cancel run", id="cancel_run", show=False),
]

# Not in the footer (it would push F1 off at 80 columns): an empty targets field names its key.
BROWSE_SOURCE = Binding("ctrl+o", "browse_source", "Browse source", id="browse_source", show=False)

COMPOSE_BINDINGS: list[Binding] = [
    Binding("ctrl+s", "save", "Save", id="save"),
    Binding("f5", "preview", "Preview", id="form_preview"),
    Binding("f6", "import_file", "Import", id="import_file"),
    Binding("f7", "import_paste", "Paste", id="import_clipboard"),
    Binding("f8", "export", "Export", id="export"),
    BROWSE_SOURCE,
    Binding("escape", "cancel", "Back", id="cancel"),
]

BROWSER_BINDINGS: list[Binding] = [
    Binding("escape", "close", "Back", id="close"),
    Binding("space", "pick", "Pick", id="browse_pick"),
    Binding("ctrl+s", "use", "Fill the form", id="browse_use"),
]

HISTORY_BINDINGS: list[Binding] = [
    Binding("escape", "close", "Back", id="close"),
    Binding("right_square_bracket", "page(1)", "Next page", id="next_page", key_display="]"),
    Binding("left_square_bracket", "page(-1)", "Prev page", id="prev_page", key_display="["),
    Binding("f", "status_filter", "Status", id="status_filter"),
]

DIALOG_CLOSE = [Binding("escape", "close", "Back", id="close")]

RUN_DETAIL_BINDINGS: list[Binding] = [*DIALOG_CLOSE, Binding("x", "cancel_run", "Cancel run", id="cancel_run")]

CONFIRM_YES = Binding("y", "answer(True)", "Yes", id="confirm_yes")
CONFIRM_NO = Binding("n", "answer(False)", "No", id="confirm_no")
CONFIRM_BINDINGS: list[Binding] = [CONFIRM_YES, CONFIRM_NO, Binding("escape", "answer(False)", "No", show=False)]

PASTE_BINDINGS: list[Binding] = [*DIALOG_CLOSE, Binding("ctrl+s", "accept", "Import", id="paste_accept")]

BACKFILL_BINDINGS: list[Binding] = [*DIALOG_CLOSE, Binding("ctrl+s", "accept", "Queue", id="backfill_accept")]

ALL_BINDINGS: list[Binding] = [
    *APP_BINDINGS,
    *MAIN_BINDINGS,
    *COMPOSE_BINDINGS,
    *HISTORY_BINDINGS,
    *RUN_DETAIL_BINDINGS,
    *CONFIRM_BINDINGS,
    *PASTE_BINDINGS,
    *BACKFILL_BINDINGS,
    *BROWSER_BINDINGS,
]
KNOWN_IDS: frozenset[str] = frozenset(b.id for b in ALL_BINDINGS if b.id)


def keymap_from_settings(bindings: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """The keymap to apply and a warning for each id that names no binding."""
    keymap = {k: v for k, v in bindings.items() if k in KNOWN_IDS}
    unknown = sorted(set(bindings) - KNOWN_IDS)
    warnings = [f"[tui.bindings] {name}: no such binding id; known ids: {', '.join(sorted(KNOWN_IDS))}" for name in unknown]
    return keymap, warnings
