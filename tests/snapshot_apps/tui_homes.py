"""Homes, clocks and bodies the TUI tests and the screenshots script share.

A home is a real folder with a real config.toml, exporter.db and source.db (demo data
ending at DEMO_END), and the app runs on a fixed clock, so what the screens show is the
same on every run.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from textual.worker import WorkerCancelled

from exporter_tui.context import Context, load_context
from exporter_tui.sources.demo import (
    DEMO_CHANNEL,
    DEMO_DEVICE,
    DEMO_SUBTOPIC,
    demo_target,
    generate_demo,
)
from exporter_tui.tui.app import AppOptions, ExporterApp
from exporter_tui.tui.screens.compose import ComposeScreen

DEMO_END = datetime(2025, 3, 10, 0, 0, tzinfo=UTC)
FIXED_NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
TEMPERATURE = demo_target(DEMO_DEVICE, "temperature")
HUMIDITY = demo_target(DEMO_DEVICE, "humidity")
CONFIG = """\
[identity]
user = "tester"

[scheduler]
catch_up = "skip"
"""


def days_ago(days: float) -> datetime:
    """A creation time before the fixed clock, so requests made in one test sort the same way every run."""
    return FIXED_NOW - timedelta(days=days)


def make_home(root: Path, days: float = 2.0, config: str = CONFIG, demo: bool = True) -> Context:
    """A home folder with a config and (by default) `days` of demo data ending at DEMO_END."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.toml").write_text(config, encoding="utf-8")
    ctx = load_context(str(root), None)
    ctx.ensure_dirs()
    if demo:
        generate_demo(ctx.paths.source_db, days=days, end=DEMO_END)
    return ctx


def test_options(**changes: Any) -> AppOptions:
    base: dict[str, Any] = {"clock": lambda: FIXED_NOW, "scheduler": False, "first_start_demo": False, "poll_seconds": 3600.0}
    base.update(changes)
    return AppOptions(**base)


def make_app(ctx: Context, **changes: Any) -> ExporterApp:
    return ExporterApp(ctx, options=test_options(**changes))


async def settle(pilot: Any) -> None:
    """Wait until the app's work is done (the scheduler aside) and its messages are handled."""
    app = pilot.app
    for _ in range(50):
        busy = [w for w in app.workers if w.group != "scheduler" and w.is_running]
        if not busy:
            await pilot.pause()
            if not [w for w in app.workers if w.group != "scheduler" and w.is_running]:
                break
            continue
        try:
            await app.workers.wait_for_complete(busy)
        except WorkerCancelled:  # an exclusive worker replaced by a newer one: it is done too
            pass
        await pilot.pause()
    await pilot.pause()


async def open_compose(pilot: Any) -> ComposeScreen:
    """From the main screen, once its work is done: n, and the compose form of a new request, settled."""
    await settle(pilot)
    await pilot.press("n")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, ComposeScreen)
    return screen


async def wait_until(pilot: Any, condition: Callable[[], object], what: str, seconds: float = 60.0) -> None:
    """Poll `condition` between short pauses of the app, failing after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.02)


class SequentialIds:
    """uuid4 replacement: ids whose first 8 characters differ, so short ids are stable and distinct."""

    def __init__(self) -> None:
        self.counter = itertools.count(1)

    def uuid4(self) -> uuid.UUID:
        n = next(self.counter)
        return uuid.UUID(f"{0xA1B2C300 + n:08x}-0000-4000-8000-{n:012x}")


def hourly_body(name: str = "Hourly temperature", **changes: Any) -> dict[str, Any]:
    """A recurring request for the demo device's temperature, one item with a fixed one-hour window."""
    body: dict[str, Any] = {
        "name": name,
        "type": "recurring",
        "periodicity": "P1D",
        "periodStart": int(datetime(2025, 3, 1, tzinfo=UTC).timestamp()),
        "format": {
            "extension": "csv",
            "timezone": "Europe/Rome",
            "columns": [{"id": "time", "label": "time"}, {"id": "value", "label": "celsius"}],
        },
        "items": [
            {
                "params": {
                    "target": {"value": TEMPERATURE, "label": "temperature"},
                    "channelId": DEMO_CHANNEL,
                    "subtopic": DEMO_SUBTOPIC,
                    "period": "P1D",
                    "decimation": {"ds": "1h", "dsf": "avg"},
                },
                "filename": "temperature",
            }
        ],
    }
    body.update(changes)
    return body


async def fill(pilot: Any, control: Any, text: str) -> None:
    """Focus an Input, empty it and enter `text` as a user would: typed key by key when short,
    pasted (a terminal paste event) when long, like a device URN."""
    control.focus()
    await pilot.pause()
    await pilot.press("end", "ctrl+u")
    if len(text) <= 6:
        await pilot.press(*text)
    else:
        await paste(pilot, text)
    await pilot.pause()


async def paste(pilot: Any, text: str) -> None:
    """What a terminal paste does: a Paste event to the app, which hands it to the focused widget."""
    from textual.events import Paste

    pilot.app.post_message(Paste(text))
    await pilot.pause()


async def choose(pilot: Any, select: Any, value: str) -> None:
    """Pick an option of a Select from the keyboard: open it, type the option, Enter."""
    select.focus()
    await pilot.pause()
    await pilot.press("enter", *value, "enter")
    await pilot.pause()


def no_blink(app: Any) -> None:
    """Stop every text cursor blinking, so a screenshot does not depend on when it is taken."""
    from textual.widgets import Input, TextArea

    for screen in app.screen_stack:
        for widget in screen.query(Input):
            widget.cursor_blink = False
        for area in screen.query(TextArea):
            area.cursor_blink = False


def fixed_ids(monkeypatch: Any) -> None:
    """Request and run ids from a counter instead of uuid4, for screens that show them."""
    import exporter_tui.store.family as family

    monkeypatch.setattr(family, "uuid", SequentialIds())


@contextmanager
def utc_local_time() -> Iterator[None]:
    """The log pane shows local times; pin the local zone to UTC, and put it back after."""
    with machine_zone("UTC"):
        yield


@contextmanager
def machine_zone(zone: str) -> Iterator[None]:
    """The machine's local zone set to `zone` (TZ), and put back after."""
    import os

    before = os.environ.get("TZ")
    os.environ["TZ"] = zone
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()
