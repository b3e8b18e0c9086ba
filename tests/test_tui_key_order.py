"""Keys that reach the app in a burst (a busy app catching up with a typist) take effect in the
order they were typed: the editing keys right after a focus change, and the text after a Tab."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from snapshot_apps.tui_homes import make_app, make_home, open_compose, settle
from textual import events
from textual.keys import _character_to_key

from exporter_tui.tui.screens.dialogs import PathPrompt

pytestmark = pytest.mark.asyncio


def key_event(key: str) -> events.Key:
    """The event a terminal key gives: a printable key carries its character, ctrl+k and Tab theirs."""
    if len(key) == 1:
        return events.Key(key if key.isalnum() else _character_to_key(key), key)
    if key.startswith("ctrl+"):
        return events.Key(key, chr(ord(key[-1]) - ord("a") + 1))
    return events.Key(key, {"tab": "\t", "enter": "\r", "backspace": "\x7f"}.get(key))


async def burst(pilot: Any, *keys: str) -> None:
    """Hand the app every key at once, as its driver does after the app was busy for a while;
    unlike `pilot.press`, no key waits for the one before it to be handled."""
    driver = pilot.app._driver
    for key in keys:
        event = key_event(key)
        event.set_sender(pilot.app)
        driver.send_message(event)


async def wait_until(pilot: Any, check: Callable[[], bool], what: Callable[[], str], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"never saw it: {what()}"
        await pilot.pause()


async def test_a_field_cleared_with_ctrl_a_ctrl_k_right_after_tab_keeps_every_key_typed(tmp_path: Path) -> None:
    """Issue: after Tab into the filled Time zone field, ctrl+a ctrl+k and typing gave `rope/Rome`."""
    async with make_app(make_home(tmp_path / "home", demo=False)).run_test(size=(100, 40)) as pilot:
        screen = await open_compose(pilot)
        screen.form.field("format.extension").focus_control()  # the field before Time zone, which holds UTC
        await pilot.pause()
        zone = screen.form.field("format.timezone").control
        await burst(pilot, "tab", "ctrl+a", "ctrl+k", *"Europe/Rome")
        await wait_until(pilot, lambda: zone.value == "Europe/Rome", lambda: f"the Time zone field holds {zone.value!r}")
        assert zone.has_focus


async def test_text_typed_right_after_tab_goes_to_the_next_field(tmp_path: Path) -> None:
    async with make_app(make_home(tmp_path / "home", demo=False)).run_test(size=(100, 40)) as pilot:
        screen = await open_compose(pilot)
        delimiter, filename = screen.form.field("format.csvDelimiter").control, screen.form.field("format.filename").control
        delimiter.focus()
        await pilot.pause()
        await burst(pilot, "ctrl+a", "ctrl+k", ";", "tab", *"daily", "backspace", "y", "shift+tab", "backspace", "|")
        await wait_until(
            pilot,
            lambda: (delimiter.value, filename.value) == ("|", "daily"),
            lambda: f"CSV delimiter {delimiter.value!r}, File name {filename.value!r}",
        )
        assert delimiter.has_focus


async def test_a_path_edited_in_a_burst_in_the_import_dialog_is_the_one_imported(tmp_path: Path) -> None:
    async with make_app(make_home(tmp_path / "home", demo=False)).run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        answers: list[str | None] = []
        pilot.app.push_screen(PathPrompt("Import a JSON body from the file:", "/tmp/old.json"), answers.append)
        await pilot.pause()
        await burst(pilot, "ctrl+a", "ctrl+k", *"/srv/new.json", "enter")
        await wait_until(pilot, lambda: bool(answers), lambda: "the dialog still open")
        assert answers == ["/srv/new.json"]
