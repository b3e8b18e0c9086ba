"""A guard against a freeze in Textual's toasts (seen in 8.2.8, the newest release).

When a screen is shown, Textual's ToastRack.show builds a Toast for each notification that
`has_expired` says is still live; the Toast then reads `time_left` again and starts
`set_timer(time_left)`. If the notification's time runs out between the two reads (a worker
thread holding the GIL makes that gap milliseconds), the delay is negative, and
`Timer._run` then loops forever without awaiting: with `skip` on, a negative interval never
moves `count` forward, so the event loop spins at 100% CPU and no key is answered again.

The guard gives every toast's timer a small positive delay: a toast whose time has just run
out lingers for MIN_TOAST_SECONDS and then goes, as it would have.
"""

from __future__ import annotations

from textual.events import Mount
from textual.widgets._toast import Toast

MIN_TOAST_SECONDS = 0.5  # also long enough that a loaded event loop cannot skip the timer's only tick

_original_on_mount = Toast._on_mount


def _on_mount(self: Toast, _: Mount) -> None:
    self._timeout = max(self._timeout, MIN_TOAST_SECONDS)
    _original_on_mount(self, _)


def guard_toast_timers() -> None:
    """Install the guard (idempotent)."""
    Toast._on_mount = _on_mount  # type: ignore[method-assign]
