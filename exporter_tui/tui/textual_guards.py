"""Guards against two faults of Textual 8.2.8 (the newest release), installed when the app starts.

**Toasts.** When a screen is shown, Textual's ToastRack.show builds a Toast for each notification that
`has_expired` says is still live; the Toast then reads `time_left` again and starts
`set_timer(time_left)`. If the notification's time runs out between the two reads (a worker
thread holding the GIL makes that gap milliseconds), the delay is negative, and
`Timer._run` then loops forever without awaiting: with `skip` on, a negative interval never
moves `count` forward, so the event loop spins at 100% CPU and no key is answered again.

The guard gives every toast's timer a small positive delay: a toast whose time has just run
out lingers for MIN_TOAST_SECONDS and then goes, as it would have.

**Paging an unlaid list.** OptionList maps options to lines only once it has a content region;
PageUp/PageDown on a list that has options and a highlight but no height yet (the command
palette's list right after it opens over a dialog) looks up a line that does not exist and
raises KeyError, which ends the app. The guard makes that key do nothing until the list is laid
out, as PageDown on an empty list already does.
"""

from __future__ import annotations

from textual._widget_navigation import Direction
from textual.events import Mount
from textual.widgets import OptionList
from textual.widgets._toast import Toast

MIN_TOAST_SECONDS = 0.5  # also long enough that a loaded event loop cannot skip the timer's only tick

_original_on_mount = Toast._on_mount
_original_move_page = OptionList._move_page


def _on_mount(self: Toast, _: Mount) -> None:
    self._timeout = max(self._timeout, MIN_TOAST_SECONDS)
    _original_on_mount(self, _)


def _move_page(self: OptionList, direction: Direction) -> None:
    if (self.highlighted or 0) in self._index_to_line:
        _original_move_page(self, direction)


def install_guards() -> None:
    """Install both guards (idempotent)."""
    Toast._on_mount = _on_mount  # type: ignore[method-assign]
    OptionList._move_page = _move_page  # type: ignore[method-assign]
