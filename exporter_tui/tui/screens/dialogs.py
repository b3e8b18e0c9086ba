"""Small modal questions: confirm, a file path, pasted JSON."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static, TextArea

from exporter_tui.tui.bindings import CONFIRM_BINDINGS, CONFIRM_NO, CONFIRM_YES, DIALOG_CLOSE, PASTE_BINDINGS
from exporter_tui.tui.widgets.text_inputs import OrderedInput, OrderedTextArea


def key_of(screen: ModalScreen, binding: Binding) -> str:
    """The key that fires `binding` in this app, after the config's remapping."""
    key_for = getattr(screen.app, "key_for", None)
    return key_for(binding) if key_for else binding.key


class ConfirmDialog(ModalScreen[bool]):
    """A yes/no question; `y` and `n` (or the keys `[tui.bindings]` gives them) answer it."""

    BINDINGS = [*CONFIRM_BINDINGS]
    # Focused when the screen shows, not in on_mount: a dialog pushed as the app quits can
    # mount without its children, and a query there crashed the app (the monkey test, seed 1201).
    AUTO_FOCUS = "#no"

    def __init__(self, question: str, yes: str = "Yes", no: str = "No") -> None:
        super().__init__(classes="dialog")
        self.question = question
        self.yes = yes
        self.no = no

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Static(self.question, classes="dialog-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button(escape(f"{self.yes} [{key_of(self, CONFIRM_YES)}]"), id="yes", variant="error")
                yield Button(escape(f"{self.no} [{key_of(self, CONFIRM_NO)}]"), id="no")

    @on(Button.Pressed, "#yes")
    def _yes_pressed(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#no")
    def _no_pressed(self) -> None:
        self.dismiss(False)

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class PathPrompt(ModalScreen[str | None]):
    """Ask for a file path; Enter accepts, Escape cancels."""

    BINDINGS = [*DIALOG_CLOSE]
    AUTO_FOCUS = "Input"  # as ConfirmDialog's

    def __init__(self, title: str, value: str = "") -> None:
        super().__init__(classes="dialog")
        self.title_text = title
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label(self.title_text, classes="dialog-text")
            yield OrderedInput(self.value, placeholder="e.g. ~/requests/daily.json", id="path")
            yield Static("Enter: OK   Escape: cancel", classes="dialog-hint")

    @on(Input.Submitted, "#path")
    def _path_given(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip() or None)

    def action_close(self) -> None:
        self.dismiss(None)


class PasteDialog(ModalScreen[str | None]):
    """Take a JSON body from the clipboard: paste it here (the terminal's paste), then ctrl+s."""

    BINDINGS = [*PASTE_BINDINGS]
    AUTO_FOCUS = "TextArea"  # as ConfirmDialog's

    def __init__(self, initial: str = "") -> None:
        super().__init__(classes="dialog")
        self.initial = initial

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box tall"):
            accept = key_of(self, PASTE_BINDINGS[-1])
            yield Label(f"Paste a JSON body (your terminal's paste key), then {accept}", classes="dialog-text")
            yield OrderedTextArea(self.initial, language=None, id="pasted", soft_wrap=True)
            with Horizontal(classes="dialog-buttons"):
                yield Button(escape(f"Import [{accept}]"), id="accept", variant="primary")
                yield Button(escape(f"Cancel [{key_of(self, DIALOG_CLOSE[0])}]"), id="cancel")

    @on(Button.Pressed, "#accept")
    def _accept_pressed(self) -> None:
        self.action_accept()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.dismiss(None)

    def action_accept(self) -> None:
        self.dismiss(self.query_one(TextArea).text)

    def action_close(self) -> None:
        self.dismiss(None)
