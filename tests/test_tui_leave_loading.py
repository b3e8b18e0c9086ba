"""Leaving a screen whose work is still running: the work is cancelled, its late result is
dropped, the app keeps answering keys and an unsaved form is kept.

The preview runs the real pipeline over a big demo source (big_source.py); a spy around the
preview's compute step holds it until the test has left the screen.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from big_source import HeldCompute, make_big_home
from snapshot_apps.tui_homes import fill, make_app, make_home, settle, wait_until
from textual.notifications import Notification

from exporter_tui.tui.screens import preview as preview_module
from exporter_tui.tui.screens.compose import ComposeScreen
from exporter_tui.tui.screens.help import HelpScreen
from exporter_tui.tui.screens.main import MainScreen
from exporter_tui.tui.screens.preview import PreviewScreen

pytestmark = pytest.mark.asyncio


async def test_leaving_a_loading_preview_keeps_the_form_and_the_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx, _ = make_big_home(tmp_path / "home")
    held = HeldCompute()
    monkeypatch.setattr(preview_module, "compute", held)
    app = make_app(ctx)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        compose = app.screen
        assert isinstance(compose, ComposeScreen)
        await fill(pilot, compose.form.field("name").control, "unsaved name")
        assert compose.form.is_dirty()

        await pilot.press("f5")
        await wait_until(pilot, held.started.is_set, "the preview to start computing")
        assert isinstance(app.screen, PreviewScreen)
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is compose, "the form to be back")
        held.release.set()
        await wait_until(pilot, held.finished.is_set, "the abandoned preview to finish")
        await settle(pilot)

        assert held.result.error == "stopped before the export finished"  # the thread read no further
        assert app.is_running and app.screen is compose
        assert compose.form.field("name").raw() == "unsaved name"
        assert not [line for line in app.main_screen.log_pane.lines_text if "error" in line.split()[1:2]]
        await pilot.press("f1")  # the app still answers keys
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), "the help screen")
        await pilot.press("f1")
        await wait_until(pilot, lambda: app.screen is compose, "the form again")
        assert compose.form.field("name").raw() == "unsaved name"


class ExpiresWhileShown(Notification):
    """A notification that passes the toast rack's has_expired check and then, when its toast
    is built a moment later, has no time left: what happens when a toast's time runs out while
    a screen is being mounted (a busy worker thread holds the GIL between the two reads)."""

    @property
    def has_expired(self) -> bool:
        return False

    @property
    def time_left(self) -> float:
        return -0.0001


@pytest.mark.timeout(60, method="thread")  # the old failure is a frozen event loop: only a thread can end it
async def test_a_screen_mounted_while_a_toast_expires_still_answers_keys(tmp_path: Path) -> None:
    ctx = make_home(tmp_path / "home", demo=False)
    app = make_app(ctx)
    async with app.run_test(size=(100, 40), notifications=True) as pilot:
        await settle(pilot)
        app._notifications.add(ExpiresWhileShown("imported the body", title="Import"))
        await pilot.press("h")  # a screen change shows the app's notifications on the new screen
        await wait_until(pilot, lambda: not isinstance(app.screen, MainScreen), "the history screen")
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen), "the main screen again")
        await pilot.press("f1")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), "the help screen")
        await wait_until(pilot, lambda: not list(app._notifications), "the expired toast to go")
