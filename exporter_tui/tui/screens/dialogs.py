"""Small modal questions: confirm, a file path, pasted JSON."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static, TextArea

from exporter_tui.tui.bindings import DIALOG_CLOSE
from exporter_tui.tui.widgets.text_inputs import OrderedInput, OrderedTextArea


class ConfirmDialog(ModalScreen[bool]):
    """A yes/no question; `y` and `n` answer it from the keyboard."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm_yes"),
        Binding("n", "answer(False)", "No", id="confirm_no"),
        Binding("escape", "answer(False)", "No", show=False),
    ]

    def __init__(self, question: str, yes: str = "Yes", no: str = "No") -> None:
        super().__init__(classes="dialog")
        self.question = question
        self.yes = yes
        self.no = no

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Static(self.question, classes="dialog-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.yes} [y]", id="yes", variant="error")
                yield Button(f"{self.no} [n]", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class PathPrompt(ModalScreen[str | None]):
    """Ask for a file path; Enter accepts, Escape cancels."""

    BINDINGS = [*DIALOG_CLOSE]

    def __init__(self, title: str, value: str = "") -> None:
        super().__init__(classes="dialog")
        self.title_text = title
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label(self.title_text, classes="dialog-text")
            yield OrderedInput(self.value, placeholder="path to a .json file", id="path")
            yield Static("Enter: OK   Escape: cancel", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip() or None)

    def action_close(self) -> None:
        self.dismiss(None)


class PasteDialog(ModalScreen[str | None]):
    """Take a JSON body from the clipboard: paste it here (the terminal's paste), then ctrl+s."""

    BINDINGS = [*DIALOG_CLOSE, Binding("ctrl+s", "accept", "Import", id="paste_accept")]

    def __init__(self, initial: str = "") -> None:
        super().__init__(classes="dialog")
        self.initial = initial

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box tall"):
            yield Label("Paste a JSON body (your terminal's paste key), then ctrl+s", classes="dialog-text")
            yield OrderedTextArea(self.initial, language=None, id="pasted", soft_wrap=True)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Import [ctrl+s]", id="accept", variant="primary")
                yield Button("Cancel [esc]", id="cancel")

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "accept":
            self.action_accept()
        else:
            self.dismiss(None)

    def action_accept(self) -> None:
        self.dismiss(self.query_one(TextArea).text)

    def action_close(self) -> None:
        self.dismiss(None)
