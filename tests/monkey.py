"""The TUI monkey: seeded random keys into the real app, each one waited for with a deadline.

The keys are every key bound anywhere in the app (the BINDINGS of the app and of every
screen and widget class under exporter_tui.tui, their base classes included, so a new
binding is pressed without anyone listing it), plus plain keys (letters, digits, Tab, Esc,
Enter, arrows, F-keys, editing keys) and terminal resizes. The quit binding is left out;
the command palette can still quit (its "Quit" command), and then a new app is started on
the same home and the keys go on.

A key is *answered* once the app has handled it: the app's queue has reached it (so it was
dispatched), then every node of the screen in front has emptied its queue twice (the key
forwarded to the focused widget, and the messages its handler posted). That is measured
from the moment the key is posted, as a terminal would post it. A key not answered within
HANG_SECONDS is a hang; a frozen event loop (which cannot time itself out) is caught by a
watchdog thread, which prints the seed and the last keys and ends the process.
"""

from __future__ import annotations

import asyncio
import faulthandler
import importlib
import inspect
import os
import pkgutil
import random
import string
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from textual import events
from textual.app import App
from textual.binding import Binding
from textual.dom import DOMNode
from textual.drivers.headless_driver import HeadlessDriver
from textual.geometry import Size
from textual.keys import key_to_character

import exporter_tui.tui

HANG_SECONDS = 30.0
QUIT_ACTIONS = frozenset({"quit", "app.quit"})
QUIT_PRESSES = 8  # keys quit_app presses at most (the quit key, or yes to a question in front)
PLAIN_KEYS: tuple[str, ...] = (
    *string.ascii_lowercase,
    *"AEZ019",
    "minus",
    "full_stop",
    "comma",
    "colon",
    "space",
    "tab",
    "shift+tab",
    "escape",
    "enter",
    "backspace",
    "delete",
    "up",
    "down",
    "left",
    "right",
    "home",
    "end",
    "pageup",
    "pagedown",
    *(f"f{n}" for n in range(1, 13)),
    "ctrl+a",
    "ctrl+e",
    "ctrl+k",
    "ctrl+u",
    "ctrl+w",
)
SIZES: tuple[tuple[int, int], ...] = ((80, 24), (100, 30), (120, 40), (60, 20), (160, 50), (40, 12))


def app_classes() -> list[type[DOMNode]]:
    """The app's own DOM classes: every App, Screen and Widget subclass defined under exporter_tui.tui."""
    found: list[type[DOMNode]] = []
    for info in pkgutil.walk_packages(exporter_tui.tui.__path__, exporter_tui.tui.__name__ + "."):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if inspect.isclass(value) and issubclass(value, DOMNode) and value.__module__ == module.__name__:
                found.append(value)
    return found


def bound_keys(classes: Iterable[type[DOMNode]]) -> list[str]:
    """Every key the classes (and their bases) bind, except the quit binding's."""
    keys: set[str] = set()
    for cls in classes:
        for klass in cls.__mro__:
            for binding in Binding.make_bindings(vars(klass).get("BINDINGS", [])):
                if binding.action not in QUIT_ACTIONS:
                    keys.add(binding.key)
        if issubclass(cls, App) and cls.ENABLE_COMMAND_PALETTE:
            keys.add(cls.COMMAND_PALETTE_BINDING)
    return sorted(keys)


def key_pool() -> tuple[list[str], list[str]]:
    """(bound keys, plain keys not already bound)."""
    bound = bound_keys(app_classes())
    return bound, [k for k in PLAIN_KEYS if k not in bound]


def draw_keys(seed: int, count: int) -> list[str]:
    """The seed's key sequence, drawn up front so the seed alone gives it, whatever the app
    does: one key in fifty a resize (`resize:WxH`), one in ten Escape and one in fifty y
    (so the keys get back out of dialogs, the palette and a changed form, and every screen
    gets its share), then bound keys and plain keys half and half."""
    bound, plain = key_pool()
    rng = random.Random(seed)
    out: list[str] = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.02:
            w, h = rng.choice(SIZES)
            out.append(f"resize:{w}x{h}")
        elif roll < 0.12:
            out.append("escape")
        elif roll < 0.14:
            out.append("y")
        elif roll < 0.57:
            out.append(rng.choice(bound))
        else:
            out.append(rng.choice(plain))
    return out


def post_key(app: App[Any], key: str) -> None:
    """What a terminal's driver does with a key press (or a resize)."""
    if key.startswith("resize:"):
        w, h = (int(n) for n in key.removeprefix("resize:").split("x"))
        size = Size(w, h)
        if isinstance(app._driver, HeadlessDriver):  # as Pilot.resize_terminal does
            app._driver._size = size
        app.post_message(events.Resize(size, size))
    else:
        app.post_message(events.Key(key, key_to_character(key)))


async def drained(app: App[Any], nodes: list[DOMNode], deadline: float) -> bool:
    """Wait until each node has handled what was in its queue when this was called.
    False when the app stopped or crashed first; TimeoutError past the deadline."""
    left = 0
    done = asyncio.Event()

    def one() -> None:
        nonlocal left
        left -= 1
        if left == 0:
            done.set()

    for node in nodes:
        if node.call_later(one):
            left += 1
    while left:
        if app._exception is not None or not app.is_running:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        try:
            await asyncio.wait_for(done.wait(), min(remaining, 0.25))
        except TimeoutError:
            pass
    return True


async def answered(app: App[Any], deadline: float) -> bool:
    """The key posted last has been handled (see the module's docstring); False if the app
    stopped or crashed meanwhile; TimeoutError past the deadline."""
    if not await drained(app, [app], deadline):
        return False
    for _ in range(2):
        try:
            nodes: list[DOMNode] = [app, *app.screen.walk_children(with_self=True)]
        except Exception:  # no screen: the app is closing
            return False
        if not await drained(app, nodes, deadline):
            return False
    return True


@dataclass
class Tally:
    """What the monkey saw over all its seeds."""

    keys: int = 0
    seeds: list[int] = field(default_factory=list)
    restarts: int = 0
    answer_seconds: list[float] = field(default_factory=list)
    quit_seconds: list[float] = field(default_factory=list)  # from the quit key to the app's end
    screens: dict[str, int] = field(default_factory=dict)  # keys answered on each screen
    worker_errors: list[str] = field(default_factory=list)
    slowest: list[tuple[float, str, str, str]] = field(default_factory=list)  # seconds, key, screen before, screen after

    def answer(self, seconds: float, key: str, before: str, after: str) -> None:
        self.answer_seconds.append(seconds)
        self.keys += 1
        self.screens[before] = self.screens.get(before, 0) + 1
        self.slowest = sorted([*self.slowest, (seconds, key, before, after)], reverse=True)[:10]

    def quantile(self, q: float) -> float:
        ordered = sorted(self.answer_seconds)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


class MonkeyFailure(AssertionError):
    pass


def replay_text(seed: int, keys: list[str], at: int, what: str) -> str:
    last = keys[max(0, at - 40) : at + 1]
    return (
        f"{what} at key {at} of seed {seed}; replay with EXPORTER_TUI_MONKEY_SEED={seed} EXPORTER_TUI_MONKEY_KEYS={at + 1}\n"
        f"last keys ({len(last)}, the failing one last): {' '.join(last)}"
    )


class Watchdog:
    """A thread for the one hang a coroutine cannot time out: a frozen event loop. Armed
    while a key is waited for; past `limit` it prints what `describe` says and every
    thread's stack to the real stderr, then ends the process (nothing else can)."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.since: float | None = None
        self.describe: Callable[[], str] = lambda: ""
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.watch, name="monkey-watchdog", daemon=True)

    def __enter__(self) -> Watchdog:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(5)

    def watch(self) -> None:
        while not self.stop.wait(0.5):
            since = self.since
            if since is not None and time.monotonic() - since > self.limit:
                err = sys.__stderr__ or sys.stderr
                err.write(f"\nMONKEY HANG (event loop frozen for {self.limit:.0f} s): {self.describe()}\n")
                faulthandler.dump_traceback(err, all_threads=True)
                err.flush()
                os._exit(3)


async def press_keys(
    app: App[Any], seed: int, keys: list[str], start: int, tally: Tally, watchdog: Watchdog, every: Callable[[int], None]
) -> int:
    """Press keys[start:] into a running app until they run out or the app stops; the index
    of the next key to press. `every(i)` runs before each key (the test's upkeep)."""
    i = start
    while i < len(keys):
        if app._exception is not None or not app.is_running:
            return i
        every(i)
        key = keys[i]
        watchdog.describe = lambda i=i: replay_text(seed, keys, i, "no answer")
        before = type(app.screen).__name__
        began = time.monotonic()
        watchdog.since = began
        try:
            ok = await answered(app, began + HANG_SECONDS) if _post(app, key) else False
        except TimeoutError:
            raise MonkeyFailure(replay_text(seed, keys, i, f"hang: no answer within {HANG_SECONDS:.0f} s")) from None
        finally:
            watchdog.since = None
        if ok:
            tally.answer(time.monotonic() - began, key, before, type(app.screen).__name__)
        if app._exception is not None:
            raise MonkeyFailure(replay_text(seed, keys, i, "crash") + "\n" + "".join(traceback.format_exception(app._exception)))
        i += 1
    return i


async def quit_app(app: App[Any], deadline: float) -> None:
    """Quit as a user does: the quit key, and yes to every question the app asks, until it
    stops; then wait for the app's message loop to end, so Pilot's teardown never races it.

    More than one question can be in front: the answer to a key pressed before the quit
    (a run's cancel asks its own yes/no once the run is found) can land over the quit's.
    A question answered and none left means the quit key again (the quit's own question
    may have been answered by the earlier one's yes)."""
    from exporter_tui.tui.screens.dialogs import ConfirmDialog

    quit_key = next(b.key for b in Binding.make_bindings(type(app).BINDINGS) if b.action in QUIT_ACTIONS)
    for _ in range(QUIT_PRESSES):
        key = "y" if isinstance(app.screen, ConfirmDialog) else quit_key
        if app._exception is not None or not _post(app, key) or not await answered(app, deadline):
            break
    task = app._task
    if task is not None:
        await asyncio.wait_for(asyncio.shield(task), max(deadline - time.monotonic(), 0.1))


def stuck_state(app: App[Any]) -> str:
    """What a hung quit leaves behind: the screens, the workers still running, and every
    thread's stack (where a worker or the loop is waiting)."""
    screens = " > ".join(type(s).__name__ for s in app.screen_stack)
    workers = ", ".join(f"{w.name} ({w.state.name})" for w in app.workers if w.is_running) or "none"
    names = {t.ident: t.name for t in threading.enumerate()}
    stacks = "".join(
        f"\n--- thread {names.get(ident, ident)}\n" + "".join(traceback.format_stack(frame))
        for ident, frame in sys._current_frames().items()
    )
    return f"screens: {screens}; running workers: {workers}{stacks}"


def _post(app: App[Any], key: str) -> bool:
    if not app.is_running:
        return False
    post_key(app, key)
    return True
