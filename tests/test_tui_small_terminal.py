"""Small terminals: at 80x24 nothing is cut; at 60x20 every key of the screen in front is in
the footer or the command palette, and the requests table keeps ID, NAME and LAST."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from snapshot_apps.tui_homes import FIXED_NOW, days_ago, hourly_body, make_app, make_home, settle
from textual.binding import Binding
from textual.command import CommandPalette
from textual.widgets import Button

from exporter_tui.core.validation import parse_request
from exporter_tui.service.runs import run_now
from exporter_tui.tui.screens.compose import ComposeScreen
from exporter_tui.tui.screens.history import HistoryScreen
from exporter_tui.tui.screens.main import MainScreen
from exporter_tui.tui.screens.preview import PreviewScreen
from exporter_tui.tui.screens.run_detail import RunDetailScreen

pytestmark = pytest.mark.asyncio


async def press(pilot: Any, *keys: str) -> None:
    await pilot.press(*keys)
    await settle(pilot)


SCREENS: dict[str, tuple[type, Callable[[Any], Awaitable[None]]]] = {
    "main": (MainScreen, lambda p: press(p)),
    "compose": (ComposeScreen, lambda p: press(p, "n")),
    "preview": (PreviewScreen, lambda p: press(p, "p")),
    "history": (HistoryScreen, lambda p: press(p, "h")),
    "run detail": (RunDetailScreen, lambda p: press(p, "h", "enter")),
}


@pytest.fixture
def ctx(tmp_path: Path) -> Any:
    ctx = make_home(tmp_path / "home")
    store = ctx.open_store()
    stored = store.requests.create(parse_request(hourly_body("Daily temperature")), "tester", now=days_ago(1))
    run_now(ctx, stored.id, origin="tui", now=FIXED_NOW, store=store)
    store.close()
    return ctx


@pytest.mark.parametrize("name", list(SCREENS))
async def test_at_60x20_every_key_of_the_screen_is_in_the_palette(ctx: Any, name: str) -> None:
    kind, reach = SCREENS[name]
    app = make_app(ctx)
    async with app.run_test(size=(60, 20)) as pilot:
        await settle(pilot)
        await reach(pilot)
        screen = app.screen
        assert isinstance(screen, kind)
        helps = [command.help for command in app.get_system_commands(screen)]
        bindings = [b for b in screen.BINDINGS if isinstance(b, Binding) and b.id]
        assert bindings
        for binding in bindings:
            key = f"({app.key_for(binding)})"
            assert any(help_text.endswith(key) for help_text in helps), (binding.id, key)
        assert any(help_text.endswith("(f1)") for help_text in helps)
        await pilot.press("ctrl+p")  # and the palette opens at this size
        await settle(pilot)
        assert isinstance(app.screen, CommandPalette)


@pytest.mark.parametrize("size", [(80, 24), (60, 20)])
async def test_the_compose_buttons_fit(ctx: Any, size: tuple[int, int]) -> None:
    app = make_app(ctx)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        await press(pilot, "n")
        app.screen.query_one("#form").scroll_end(animate=False)
        await settle(pilot)
        buttons = list(app.screen.query_one("#form-buttons").query(Button))
        assert [str(b.label) for b in buttons] == ["Save", "Preview", "Import", "Paste", "Export", "Back"]
        for button in buttons:
            shown = button.region.intersection(app.screen.region)
            assert shown == button.region and shown.width >= len(str(button.label)), str(button.label)


async def test_at_60x20_the_requests_table_keeps_id_name_and_last(ctx: Any) -> None:
    app = make_app(ctx)
    async with app.run_test(size=(60, 20)) as pilot:
        await settle(pilot)
        table = app.main_screen.requests_table
        assert [str(c.label) for c in table.columns.values()] == ["ID", "NAME", "NEXT RUN", "LAST"]
        used = sum(c.get_render_width(table) for c in table.columns.values())
        assert used <= table.scrollable_content_region.width
        await pilot.resize_terminal(120, 30)
        await settle(pilot)
        assert [str(c.label) for c in table.columns.values()] == ["ID", "NAME", "TYPE", "TARGETS", "EXT", "EVERY", "NEXT RUN", "LAST"]
