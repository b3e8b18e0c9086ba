"""Backfill from the TUI: key b (binding id `backfill`) opens a dialog for From and To that shows
the same preview as `backfill --dry-run` (how many, first and last window, the intervals left
alone) and queues the runs on confirming; the scheduler runs them (here: off, so they stay
queued for the test to read from the database)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sched_fixtures import one_time, utc
from snapshot_apps.tui_homes import CONFIG, days_ago, hourly_body, make_app, make_home, settle
from textual.widgets import Button, Static

from exporter_tui.core.validation import parse_request
from exporter_tui.service import backfill
from exporter_tui.tui.screens.backfill import BackfillDialog
from exporter_tui.tui.screens.main import MainScreen

pytestmark = pytest.mark.asyncio


def home_with_request(root: Path, config: str = CONFIG) -> tuple[Any, str]:
    ctx = make_home(root, demo=False, config=config)
    store = ctx.open_store()
    stored = store.requests.create(parse_request(hourly_body()), "tester", now=days_ago(9))  # daily from 2025-03-01T00:00Z
    store.close()
    return ctx, stored.id


def runs(ctx: Any, request_id: str) -> list[dict]:
    con = sqlite3.connect(f"file:{ctx.paths.database}?mode=ro", uri=True, timeout=30)
    con.row_factory = sqlite3.Row
    try:
        return [
            dict(r)
            for r in con.execute(
                "SELECT id, status, origin, window_from, window_to, notify FROM runs WHERE request_id = ? ORDER BY nominal_time",
                (request_id,),
            )
        ]
    finally:
        con.close()


async def wait_until(pilot: Any, condition: Callable[[], object], what: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.02)


def preview_text(app: Any) -> str:
    return str(app.screen.query_one("#backfill-preview", Static).render())


async def fill(pilot: Any, start: str, end: str) -> None:
    await pilot.press(*start)
    await pilot.press("tab")
    await pilot.press(*end)


async def test_b_previews_the_intervals_and_queues_them_on_confirming(tmp_path: Path) -> None:
    ctx, rid = home_with_request(tmp_path / "home")
    store = ctx.open_store()
    earlier = backfill.queue(ctx, store, store.requests.get(rid), utc(2025, 3, 3), utc(2025, 3, 4), notify=False, now=utc(2025, 3, 10))[1]
    store.close()
    app = make_app(ctx)
    async with app.run_test(size=(100, 36)) as pilot:
        await settle(pilot)
        await pilot.press("b")
        await wait_until(pilot, lambda: isinstance(app.screen, BackfillDialog), "the backfill dialog")
        await fill(pilot, "2025-03-02T00:00Z", "2025-03-05T00:00Z")
        await wait_until(pilot, lambda: "2 interval(s) to queue" in preview_text(app), "the preview of the whole range")
        text = preview_text(app)
        # on the app's clock (local: the request's zone, Europe/Rome)
        assert "first  2025-03-02T01:00:00+01:00 .. 2025-03-03T01:00:00+01:00" in text
        assert "last   2025-03-04T01:00:00+01:00 .. 2025-03-05T01:00:00+01:00" in text
        assert "1 interval(s) already have a run, left alone:" in text
        assert f"2025-03-03T01:00:00+01:00 .. 2025-03-04T01:00:00+01:00  run {earlier[0][:8]} notProcessed (backfill)" in text
        assert len(runs(ctx, rid)) == 1  # the preview queues nothing

        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: len(runs(ctx, rid)) == 3, "the runs to be queued")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        queued = runs(ctx, rid)
        assert [(r["status"], r["origin"], r["notify"]) for r in queued] == [("notProcessed", "backfill", 0)] * 3
        assert [r["window_from"] for r in queued] == [utc(2025, 3, d).timestamp() for d in (2, 3, 4)]
        assert any("2 backfill run(s) of" in line for line in app.main_screen.log_pane.lines_text)


async def test_bad_input_names_the_field_and_queues_nothing(tmp_path: Path) -> None:
    ctx, rid = home_with_request(tmp_path / "home")
    app = make_app(ctx)
    async with app.run_test(size=(100, 36)) as pilot:
        await settle(pilot)
        await pilot.press("b")
        await wait_until(pilot, lambda: isinstance(app.screen, BackfillDialog), "the backfill dialog")
        await fill(pilot, "soon", "2025-03-05")
        await wait_until(
            pilot, lambda: preview_text(app) == "from: 'soon' is not an ISO 8601 date-time (2025-03-09T00:00) or Unix seconds", "the error"
        )
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, BackfillDialog)  # refused: nothing to queue
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert runs(ctx, rid) == []


async def test_the_keys_are_remapped_by_their_binding_ids_and_a_one_time_request_is_refused(tmp_path: Path) -> None:
    ctx, rid = home_with_request(tmp_path / "home", CONFIG + '\n[tui.bindings]\nbackfill = "ctrl+b"\nbackfill_accept = "f9"\n')
    app = make_app(ctx)
    async with app.run_test(size=(100, 36)) as pilot:
        await settle(pilot)
        await pilot.press("b")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        await pilot.press("ctrl+b")
        await wait_until(pilot, lambda: isinstance(app.screen, BackfillDialog), "the backfill dialog")
        assert str(app.screen.query_one("#accept", Button).label) == "Queue [f9]"
        await fill(pilot, "2025-03-02T00:00Z", "2025-03-04T00:00Z")
        await wait_until(pilot, lambda: "2 interval(s) to queue" in preview_text(app), "the preview")
        await pilot.press("f9")
        await wait_until(pilot, lambda: len(runs(ctx, rid)) == 2, "the runs to be queued by the remapped key")
        await settle(pilot)

        store = ctx.open_store()
        once = store.requests.create(one_time(None, (utc(2025, 3, 1), utc(2025, 3, 2))), "tester", now=days_ago(1))
        store.close()
        app.load_requests(select=once.id)
        await settle(pilot)
        await pilot.press("ctrl+b")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert any("is oneTime: it has no intervals to backfill" in str(n.message) for n in app._notifications)
