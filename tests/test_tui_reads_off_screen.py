"""A slow database read never freezes the screen: the runs pane, the history and a run's detail
read in workers, so keys are answered while a read waits, and what it finds shows when it ends."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from snapshot_apps.tui_homes import hourly_body, make_app, make_home, settle, wait_until
from test_tui_history import add_finished_runs

from exporter_tui.core.validation import parse_request
from exporter_tui.tui.screens.history import HistoryScreen
from exporter_tui.tui.screens.main import MainScreen
from exporter_tui.tui.screens.run_detail import RunDetailScreen

pytestmark = pytest.mark.asyncio
HOLD_SECONDS = 60.0  # a read the test never lets go ends on its own, so a frozen screen fails, not hangs


class HeldReads:
    """Reads of the app's connection that wait until the test lets them go, like a slow disk or a
    big table would make them wait."""

    def __init__(self) -> None:
        self.go = threading.Event()
        self.waiting = threading.Event()

    def hold(self, read: Callable[..., Any]) -> Callable[..., Any]:
        def held(*args: Any, **kwargs: Any) -> Any:
            self.waiting.set()
            self.go.wait(HOLD_SECONDS)
            return read(*args, **kwargs)

        return held


def text_of(screen: Any, selector: str) -> str:
    return str(screen.query_one(selector).render())


async def test_keys_are_answered_while_reads_wait_and_their_results_show_after(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = make_home(tmp_path / "home", demo=False)
    store = ctx.open_store()
    first = store.requests.create(parse_request(hourly_body("First")), "tester")
    second = store.requests.create(parse_request(hourly_body("Second")), "tester")
    add_finished_runs(store, first.id, ["done", "failed", "done"])
    store.close()
    app = make_app(ctx, scheduler=False)
    async with app.run_test(size=(110, 32)) as pilot:
        await settle(pilot)
        main = app.screen
        assert isinstance(main, MainScreen)
        assert main.requests_table.selected_key() == second.id  # newest first
        held = HeldReads()
        monkeypatch.setattr(app.store.runs, "page", held.hold(app.store.runs.page))
        monkeypatch.setattr(app.store.runs, "get", held.hold(app.store.runs.get))

        await pilot.press("down")  # the runs of First are read, and wait
        await wait_until(pilot, held.waiting.is_set, "the runs pane's read to be waiting")
        assert main.requests_table.selected_key() == first.id, "the cursor moved while the read waited"
        assert first.short_id not in str(main.query_one("#runs-pane").border_title), "no runs of First before the read ends"
        await pilot.press("h")  # the history opens while the runs pane's read still waits
        await wait_until(pilot, lambda: isinstance(app.screen, HistoryScreen), "the history to open")
        history = app.screen
        assert "page" not in text_of(history, "#page-info"), "no page before its read ends"
        held.go.set()
        await wait_until(pilot, lambda: "page 1/1 of 3 runs" in text_of(history, "#page-info"), "the history's page")
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is main, "the main screen")
        await wait_until(pilot, lambda: f"Runs of {first.short_id} First" in str(main.query_one("#runs-pane").border_title), "First's runs")
        assert main.runs_table.row_count == 3

        held.go.clear()
        held.waiting.clear()
        began = time.monotonic()
        main.runs_table.focus()
        await pilot.press("enter")  # a run's detail opens, its read waits
        await wait_until(pilot, lambda: isinstance(app.screen, RunDetailScreen), "the run's detail to open")
        await wait_until(pilot, held.waiting.is_set, "the detail's read to be waiting")
        detail = app.screen
        assert "status" not in text_of(detail, "#summary-text")
        await pilot.press("escape")  # leaving while its read waits: the screen goes, the app stays
        await wait_until(pilot, lambda: app.screen is main, "the main screen after the detail")
        assert time.monotonic() - began < HOLD_SECONDS, "the keys waited for the held read"
        held.go.set()
        await settle(pilot)
        assert app.screen is main and main.runs_table.row_count == 3
