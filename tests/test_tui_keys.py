"""Keys: remapped by id from the config, all in the command palette, shown by F1; pause and filter."""

from __future__ import annotations

from pathlib import Path

import pytest
from snapshot_apps.tui_homes import (
    CONFIG,
    days_ago,
    hourly_body,
    make_app,
    make_home,
    settle,
)
from textual.widgets import Button

from exporter_tui.core.validation import parse_request
from exporter_tui.tui.bindings import MAIN_BINDINGS
from exporter_tui.tui.screens.compose import ComposeScreen
from exporter_tui.tui.screens.dialogs import ConfirmDialog, PasteDialog
from exporter_tui.tui.screens.help import HelpScreen
from exporter_tui.tui.screens.history import HistoryScreen
from exporter_tui.tui.screens.main import MainScreen

pytestmark = pytest.mark.asyncio


def help_rows(screen: HelpScreen) -> dict[str, tuple[str, str]]:
    """Binding id -> (key shown, description), as the help table lists them."""
    table = screen.query_one("#keys")
    rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
    return {row[2]: (row[0], row[1]) for row in rows if row[2]}


async def test_a_remapped_key_moves_and_an_unknown_id_is_reported(tmp_path: Path) -> None:
    config = CONFIG + '\n[tui.bindings]\nnew = "ctrl+n"\nbogus = "x"\n'
    ctx = make_home(tmp_path / "home", config=config, demo=False)
    app = make_app(ctx)
    async with app.run_test() as pilot:
        await settle(pilot)
        assert any("[tui.bindings] bogus: no such binding id" in line for line in app.main_screen.log_pane.lines_text)
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        await pilot.press("f1")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        keys = help_rows(app.screen)
        assert keys["new"] == ("^n", "New")
        assert keys["delete"] == ("d", "Delete")
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert isinstance(app.screen, ComposeScreen)


async def test_help_shows_the_keys_of_the_screen_in_front(tmp_path: Path) -> None:
    ctx = make_home(tmp_path / "home", demo=False)
    app = make_app(ctx)
    async with app.run_test() as pilot:
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        await pilot.press("f1")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        keys = help_rows(app.screen)
        assert keys["save"] == ("^s", "Save")
        assert keys["import_file"] == ("f6", "Import")
        assert "new" not in keys  # the main screen's keys do not apply here
        await pilot.press("f1")  # F1 again closes it
        await settle(pilot)
        assert isinstance(app.screen, ComposeScreen)


async def test_every_main_action_is_in_the_command_palette(tmp_path: Path) -> None:
    ctx = make_home(tmp_path / "home", demo=False)
    app = make_app(ctx)
    async with app.run_test() as pilot:
        await settle(pilot)
        titles = {c.title: c.help for c in app.get_system_commands(app.main_screen)}
        for title, key in (
            ("New request", "(n)"),
            ("Edit request", "(e)"),
            ("Clone request", "(c)"),
            ("Delete request", "(d)"),
            ("Run now", "(r)"),
            ("Preview request", "(p)"),
            ("Pause or resume", "(space)"),
            ("Filter requests", "(/)"),
            ("Run history", "(h)"),
            ("Copy file path", "(y)"),
            ("Cancel run", "(x)"),
            ("Backfill", "(b)"),
            ("Help: keys", "(f1)"),
        ):
            assert titles[title].endswith(key), (title, titles[title])
        assert len(MAIN_BINDINGS) == 12
        await pilot.press("ctrl+p")
        await settle(pilot)
        await pilot.press(*"Run history")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, HistoryScreen)


async def test_space_pauses_and_resumes_the_selected_request(tmp_path: Path) -> None:
    ctx = make_home(tmp_path / "home", demo=False)
    store = ctx.open_store()
    stored = store.requests.create(parse_request(hourly_body()), "tester")
    app = make_app(ctx)
    async with app.run_test() as pilot:
        await settle(pilot)
        table = app.main_screen.requests_table
        assert dict(table.rows_data)[stored.id]["next"] == "03-11 01:00+01"  # the 2025-03-11T00:00Z run, shown in Rome
        await pilot.press("space")
        await settle(pilot)
        assert store.requests.get(stored.id).paused is True
        assert dict(table.rows_data)[stored.id]["next"] == "paused"
        assert "(paused)" in str(app.main_screen.query_one("#runs-pane").border_title)
        await pilot.press("space")
        await settle(pilot)
        assert store.requests.get(stored.id).paused is False
        assert dict(table.rows_data)[stored.id]["next"] == "03-11 01:00+01"
    store.close()


async def test_slash_filters_the_requests_and_escape_clears(tmp_path: Path) -> None:
    ctx = make_home(tmp_path / "home", demo=False)
    store = ctx.open_store()
    daily = store.requests.create(parse_request(hourly_body("daily climate")), "tester", now=days_ago(2))
    weekly = store.requests.create(parse_request(hourly_body("weekly energy", periodicity="P1W")), "tester", now=days_ago(1))
    store.close()
    app = make_app(ctx)
    async with app.run_test() as pilot:
        await settle(pilot)
        table = app.main_screen.requests_table
        await pilot.press("slash", *"P1W")
        await pilot.pause()
        assert [k for k, _ in table.rows_data] == [weekly.id]
        assert "1 of 2" in str(table.border_title)
        await pilot.press("escape")
        await pilot.pause()
        assert [k for k, _ in table.rows_data] == [weekly.id, daily.id]
        await pilot.press("slash", *"climate", "enter")
        await pilot.pause()
        assert [k for k, _ in table.rows_data] == [daily.id]
        assert table.has_focus


async def test_the_dialog_keys_can_be_remapped_too(tmp_path: Path) -> None:
    config = CONFIG + '\n[tui.bindings]\nconfirm_yes = "j"\nconfirm_no = "k"\npaste_accept = "ctrl+t"\n'
    ctx = make_home(tmp_path / "home", config=config, demo=False)
    store = ctx.open_store()
    doomed = store.requests.create(parse_request(hourly_body("delete me")), "tester", now=days_ago(1))
    app = make_app(ctx)
    async with app.run_test() as pilot:
        await settle(pilot)
        assert not any("no such binding id" in line for line in app.main_screen.log_pane.lines_text)
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        assert str(app.screen.query_one("#yes", Button).label) == "Delete [j]"
        await pilot.press("y")  # the old key does nothing now
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("k")
        await settle(pilot)
        assert store.requests.page().total == 1
        await pilot.press("d")
        await settle(pilot)
        await pilot.press("j")
        await settle(pilot)
        assert store.requests.page().total == 0 and store.requests.get(doomed.id, include_deleted=True).deleted_at

        await pilot.press("n")
        await settle(pilot)
        await pilot.press("f7")
        await settle(pilot)
        assert isinstance(app.screen, PasteDialog)
        assert str(app.screen.query_one("#accept", Button).label) == "Import [^t]"
    store.close()
