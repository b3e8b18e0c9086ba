"""What the monkey suite (test_tui_monkey.py) found, each pinned down by a deterministic Pilot test."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from snapshot_apps.tui_homes import days_ago, fill, hourly_body, make_app, make_home, settle, wait_until
from textual.app import App, ComposeResult
from textual.widgets import OptionList

from exporter_tui.core.validation import parse_request
from exporter_tui.store.requests import Requests
from exporter_tui.tui.screens.compose import ComposeScreen
from exporter_tui.tui.screens.dialogs import ConfirmDialog
from exporter_tui.tui.screens.main import MainScreen
from exporter_tui.tui.textual_guards import install_guards

pytestmark = pytest.mark.asyncio


async def test_a_save_that_ends_under_a_dialog_closes_the_form_not_the_dialog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Esc while a save is still being stored asks "Leave without saving?"; when the save then
    ends, the saved form closes (with the dialog over it). It used to close the dialog
    instead and leave the form open with its result already given, so leaving it later
    crashed the app (InvalidStateError)."""
    ctx = make_home(tmp_path / "home", demo=False)
    store = ctx.open_store()
    stored = store.requests.create(parse_request(hourly_body()), "tester", now=days_ago(1))
    store.close()
    saving, go = threading.Event(), threading.Event()
    real_update = Requests.update

    def held_update(self: Requests, *args: Any, **kwargs: Any) -> Any:
        saving.set()
        go.wait(30)
        return real_update(self, *args, **kwargs)

    monkeypatch.setattr(Requests, "update", held_update)
    app = make_app(ctx)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(app.screen, ComposeScreen), "the form")
        compose = app.screen
        assert isinstance(compose, ComposeScreen)
        await fill(pilot, compose.form.field("name").control, "renamed")
        await pilot.press("ctrl+s")
        await wait_until(pilot, saving.is_set, "the save to be storing")
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the leave question")
        go.set()
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen), "the main screen")
        await settle(pilot)
        assert compose not in app.screen_stack
        assert ctx.open_store().requests.get(stored.id).request.name == "renamed"

        await pilot.press("e")  # the app goes on: the form opens and leaves again
        await wait_until(pilot, lambda: isinstance(app.screen, ComposeScreen), "the form again")
        await fill(pilot, app.screen.form.field("name").control, "again")
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the leave question again")
        await pilot.press("y")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen), "the main screen again")


async def test_leaving_the_form_while_its_save_is_stored_keeps_the_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Esc and y while a save is being stored leave the form at once; the save then ends in
    the requests table. It used to dismiss the form a second time, popping the main screen."""
    ctx = make_home(tmp_path / "home", demo=False)
    store = ctx.open_store()
    stored = store.requests.create(parse_request(hourly_body()), "tester", now=days_ago(1))
    store.close()
    saving, go, saved = threading.Event(), threading.Event(), threading.Event()
    real_update = Requests.update

    def held_update(self: Requests, *args: Any, **kwargs: Any) -> Any:
        saving.set()
        go.wait(30)
        try:
            return real_update(self, *args, **kwargs)
        finally:
            saved.set()

    monkeypatch.setattr(Requests, "update", held_update)
    app = make_app(ctx)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(app.screen, ComposeScreen), "the form")
        await fill(pilot, app.screen.form.field("name").control, "renamed")
        await pilot.press("ctrl+s")
        await wait_until(pilot, saving.is_set, "the save to be storing")
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the leave question")
        await pilot.press("y")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen), "the main screen")
        go.set()
        await wait_until(pilot, saved.is_set, "the save to be stored")
        await settle(pilot)
        assert app.is_running and app.screen is app.main_screen
        name = lambda: dict(app.main_screen.requests_table.rows_data)[stored.id]["name"]  # noqa: E731
        await wait_until(pilot, lambda: name() == "renamed", "the saved name in the table")
        await pilot.press("h")  # the app goes on
        await wait_until(pilot, lambda: not isinstance(app.screen, MainScreen), "the history")


class _ListWithoutHeight(App[None]):
    """An OptionList with options and a highlight but no height yet, as the command palette's
    list is right after it opens over a dialog (seed 1203, key 1959: b ctrl+p shift+tab pagedown)."""

    CSS = "OptionList { height: 0; border: none; padding: 0; } OptionList.-tall { height: 5; }"

    def compose(self) -> ComposeResult:
        yield OptionList(*[f"option {i}" for i in range(20)])


async def test_paging_a_list_not_laid_out_yet_does_nothing_instead_of_ending_the_app() -> None:
    install_guards()  # as ExporterApp does when it starts
    app = _ListWithoutHeight()
    async with app.run_test() as pilot:
        options = app.query_one(OptionList)
        options.highlighted = 0
        options.focus()
        await pilot.press("pagedown", "pageup")  # Textual 8.2.8 alone: KeyError 0, the app ends
        await pilot.pause()
        assert app.is_running and options.highlighted == 0
        options.add_class("-tall")
        await pilot.pause()
        await pilot.press("pagedown")  # once laid out, paging works as before
        await pilot.pause()
        assert options.highlighted is not None and options.highlighted > 0
