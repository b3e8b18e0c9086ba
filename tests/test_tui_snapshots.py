"""Snapshots of the main, compose, preview and history screens at 80x24, and of every screen at
60x20 (the smallest size everything must be reachable at), on fixed data, ids and clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from snapshot_apps.tui_homes import (
    FIXED_NOW,
    days_ago,
    fixed_ids,
    hourly_body,
    make_app,
    make_home,
    no_blink,
    settle,
    utc_local_time,
)

from exporter_tui.context import Context
from exporter_tui.core.validation import parse_request
from exporter_tui.service.runs import run_now
from exporter_tui.tui.screens.compose import ComposeScreen


@pytest.fixture
def ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Context]:
    """Two requests, the older one with a done run, all with counter ids."""
    fixed_ids(monkeypatch)
    ctx = make_home(tmp_path / "home")
    store = ctx.open_store()
    daily = store.requests.create(parse_request(hourly_body("Daily temperature")), "tester", now=days_ago(2))
    run_now(ctx, daily.id, origin="tui", now=FIXED_NOW, store=store)
    weekly = hourly_body("Weekly climate", periodicity="P1W", format={"extension": "xlsx", "timezone": "UTC"})
    weekly["items"][0]["params"]["target"] = {"value": hourly_body()["items"][0]["params"]["target"]["value"], "label": "temp"}
    store.requests.create(parse_request(weekly), "tester", now=days_ago(1))
    store.close()
    with utc_local_time():
        yield ctx


def snapshot(snap_compare, ctx: Context, press: tuple[str, ...] = (), before=None, size: tuple[int, int] = (80, 24)) -> bool:
    app = make_app(ctx)

    async def run_before(pilot) -> None:
        await settle(pilot)
        if before is not None:
            await before(pilot)
        await settle(pilot)
        no_blink(app)

    return snap_compare(app, press=press, terminal_size=size, run_before=run_before)


def test_main_screen(snap_compare, ctx: Context) -> None:
    async def select_the_run(pilot) -> None:
        await pilot.press("down")  # the older request, which has a run
        await settle(pilot)

    assert snapshot(snap_compare, ctx, before=select_the_run)


def test_compose_screen_with_an_error(snap_compare, ctx: Context) -> None:
    async def bad_periodicity(pilot) -> None:
        await pilot.press("n")
        await settle(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, ComposeScreen)
        every = screen.form.field("periodicity").control
        every.focus()
        await pilot.press("end", "backspace", "X", "tab")
        await settle(pilot)

    assert snapshot(snap_compare, ctx, before=bad_periodicity)


def test_preview_screen(snap_compare, ctx: Context) -> None:
    async def preview(pilot) -> None:
        await pilot.press("down", "p")
        await settle(pilot)

    assert snapshot(snap_compare, ctx, before=preview)


def test_preview_rows(snap_compare, ctx: Context) -> None:
    async def rows(pilot) -> None:
        await pilot.press("down", "p")
        await settle(pilot)
        pilot.app.screen.query_one("#preview-tabs").active = "tab-rows"
        await settle(pilot)

    assert snapshot(snap_compare, ctx, before=rows)


def test_history_screen(snap_compare, ctx: Context) -> None:
    async def history(pilot) -> None:
        await pilot.press("h")
        await settle(pilot)

    assert snapshot(snap_compare, ctx, before=history)


def test_main_screen_without_colour(snap_compare, ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    """NO_COLOR: statuses, errors and the selection still read in words and weight alone."""
    monkeypatch.setenv("NO_COLOR", "1")

    async def select_the_run(pilot) -> None:
        assert pilot.app.no_color
        await pilot.press("down")
        await settle(pilot)

    assert snapshot(snap_compare, ctx, before=select_the_run)


SMALL = (60, 20)


async def compose_buttons(pilot) -> None:
    await pilot.press("n")
    await settle(pilot)
    pilot.app.screen.query_one("#form").scroll_end(animate=False)


async def run_detail(pilot) -> None:
    """Its notifications tab: the summary holds the run's real times and the home's temporary path."""
    await pilot.press("h")
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)
    pilot.app.screen.query_one("#run-tabs").active = "tab-notifications"


async def source_browser(pilot) -> None:
    """The browser opened from the first item of a new request, its list loaded."""
    await pilot.press("n")
    await settle(pilot)
    pilot.app.screen.form.rows("items")[0].fields()[0].control.focus()
    await pilot.press("ctrl+o")
    await settle(pilot)


SMALL_SCREENS = {
    "main": lambda pilot: pilot.press("down"),
    "compose": compose_buttons,
    "preview": lambda pilot: pilot.press("down", "p"),
    "history": lambda pilot: pilot.press("h"),
    "run-detail": run_detail,
    "help": lambda pilot: pilot.press("f1"),
    "backfill": lambda pilot: pilot.press("down", "b"),
    "source-browser": source_browser,
}


@pytest.mark.parametrize("screen", list(SMALL_SCREENS))
def test_screen_at_60x20(snap_compare, ctx: Context, screen: str) -> None:
    assert snapshot(snap_compare, ctx, before=SMALL_SCREENS[screen], size=SMALL)
