"""Text controls that apply the keys in the order they were typed.

Textual inserts a typed character as soon as the key reaches the focused Input, but runs the
control's own bound keys (ctrl+a, ctrl+k, backspace, the arrows) only once the key has bubbled
up to the App through the message queue of every ancestor. While an ancestor is busy (the form
validating the field just left), the characters typed after ctrl+a ctrl+k are inserted first
and then deleted by them: the first characters of what was typed are lost. These controls run
their own bindings when the key reaches them, in turn with the typed characters (Textual issue
6605). The focus keys are the other half: see `bindings.APP_BINDINGS`.
"""

from __future__ import annotations

from textual import events
from textual.widget import Widget
from textual.widgets import Input, TextArea


async def run_own_binding(widget: Widget, event: events.Key) -> None:
    """Run `widget`'s own binding of the key now and stop the key there.

    The focused widget is the first place Textual looks for a binding anyway, and priority
    bindings were tried before the key was handed to it, so the same action runs, only sooner.
    Without a binding of its own (or when its action declines) the key bubbles on as before.
    """
    for binding in widget._bindings.key_to_bindings.get(event.key, ()):
        if not binding.priority and await widget.app.run_action(binding.action, widget):
            event.stop()
            event.prevent_default()
            return


class OrderedInput(Input):
    """An Input whose editing keys take effect in turn with the characters typed around them."""

    async def _on_key(self, event: events.Key) -> None:
        await run_own_binding(self, event)


class OrderedTextArea(TextArea):
    """A TextArea whose editing keys take effect in turn with the characters typed around them."""

    async def _on_key(self, event: events.Key) -> None:
        await run_own_binding(self, event)
