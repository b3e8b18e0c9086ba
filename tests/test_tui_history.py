"""History pages through every run and filters by status; a run opens on its log, manifest and notifications."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from snapshot_apps.tui_homes import (
    FIXED_NOW,
    choose,
    hourly_body,
    make_app,
    make_home,
    settle,
)

from exporter_tui.core.validation import parse_request
from exporter_tui.pipeline.files import manifest_path
from exporter_tui.service.runs import run_now
from exporter_tui.tui.screens.history import HistoryScreen
from exporter_tui.tui.screens.run_detail import RunDetailScreen

pytestmark = pytest.mark.asyncio
DAY = 86_400.0


def add_finished_runs(store, request_id: str, statuses: list[str]) -> None:
    """Runs that ended long ago, one per day of March 2024, straight through the store."""
    base = datetime(2024, 3, 1, tzinfo=UTC).timestamp()
    for i, status in enumerate(statuses):
        window = (base + i * DAY, base + (i + 1) * DAY)
        run = store.runs.create(request_id, "schedule", window, "tester", run_at=window[1])
        store.runs.claim(run.id, "test")
        if status == "done":
            store.runs.finish(run.id, "done", rows=i)
        else:
            store.runs.finish(run.id, "failed", error=f"source failed: attempt {i}")


async def test_history_pages_and_filters_by_status(tmp_path: Path) -> None:
    ctx = make_home(tmp_path / "home", demo=False)
    store = ctx.open_store()
    stored = store.requests.create(parse_request(hourly_body()), "tester")
    add_finished_runs(store, stored.id, ["done", "done", "failed"] * 20)  # 40 done, 20 failed
    store.close()
    app = make_app(ctx)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("h")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        table = screen.query_one("#history")
        assert table.row_count == 50
        assert "page 1/2 of 60 runs" in str(screen.query_one("#page-info").render())
        newest = table.rows_data[0][1]
        # run 59 covers 1 March 2024 + 59 days; another year than the clock, so the year is shown,
        # in the request's zone (Europe/Rome, summer time by then) with its offset: the default local clock
        assert newest["status"] == "failed" and newest["window"] == "2024-04-29 02:00+02 +1d"
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert table.row_count == 10
        assert "page 2/2 of 60 runs" in str(screen.query_one("#page-info").render())
        await choose(pilot, screen.query_one("#status"), "failed")
        await settle(pilot)
        assert table.row_count == 20
        assert {cells["status"] for _, cells in table.rows_data} == {"failed"}
        assert "page 1/1 of 20 failed runs" in str(screen.query_one("#page-info").render())


async def test_a_run_opens_on_its_summary_log_manifest_and_notifications(tmp_path: Path) -> None:
    ctx = make_home(tmp_path / "home")
    store = ctx.open_store()
    stored = store.requests.create(parse_request(hourly_body()), "tester")
    run = run_now(ctx, stored.id, origin="cli", now=FIXED_NOW, store=store)
    store.notifications.record(run.id, stored.id, "email", "ops@example.com", "onSuccess", "sent", 1, None, "2025-03-10T12:00:01Z")
    store.close()
    manifest = json.loads(manifest_path(Path(run.file_path)).read_text())
    app = make_app(ctx)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("h")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RunDetailScreen)
        summary = str(screen.query_one("#summary-text").render())
        assert f"run        {run.id}" in summary
        assert "rows       24" in summary
        assert "  from     2025-03-09T01:00:00+01:00" in summary
        log = str(screen.query_one("#log-text").render())
        assert f"wrote 24 rows to {run.file_path}" in log
        shown = str(screen.query_one("#manifest-text").render())
        assert f'"sha256": "{manifest["sha256"]}"' in shown
        assert '"rows": 24' in shown
        table = screen.query_one("#notifications")
        assert [str(c) for c in table.get_row_at(0)] == ["email", "ops@example.com", "onSuccess", "sent", "1", "-"]
