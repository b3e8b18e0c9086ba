"""Progress that helps: how far a run got, how fast, how long it has taken and how long it
will take, in the runs table and the run detail; a preview shows its window at once and says
how far its reading got."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from big_source import DEMO_DAYS, HeldCompute, big_body, make_big_home
from snapshot_apps.tui_homes import FIXED_NOW, days_ago, hourly_body, make_app, make_home, settle, wait_until

from exporter_tui.core.validation import parse_request
from exporter_tui.tui.formatting import Pace, progress_text
from exporter_tui.tui.screens import preview as preview_module
from exporter_tui.tui.screens.preview import PreviewScreen
from exporter_tui.tui.screens.run_detail import RunDetailScreen


def test_progress_before_the_count_says_so() -> None:
    assert progress_text(0, None) == "counting…"
    assert progress_text(12_345, None) == "12.3k read"
    assert progress_text(5_000, 20_000) == "##......  25%"
    assert progress_text(0, 0) == "######## 100%"


def test_pace_gives_rate_elapsed_and_eta() -> None:
    pace = Pace(5_000, 20_000, 40.0)
    assert pace.text() == "5.0k/20.0k, 125/s, 0:40, ETA 2:00"
    assert pace.words() == "25%: 5,000 of 20,000 readings, 125 readings/s, elapsed 0:40, ETA 2:00"
    assert Pace(0, None, 0.0).text() == "0 read, 0:00"
    assert Pace(3_000_000, None, 3700.0).words() == "3,000,000 readings read (not counted yet), 811 readings/s, elapsed 1:01:40"


def cell(app: Any, run_id: str, column: str) -> str:
    return dict(app.main_screen.runs_table.rows_data).get(run_id, {}).get(column, "")


@pytest.mark.asyncio
async def test_a_run_of_another_process_shows_its_pace_in_the_table_and_the_detail(tmp_path: Path) -> None:
    ctx = make_home(tmp_path / "home", demo=False)
    store = ctx.open_store()
    stored = store.requests.create(parse_request(hourly_body()), "tester", now=days_ago(1))
    window = (datetime(2025, 3, 9, tzinfo=UTC).timestamp(), datetime(2025, 3, 10, tzinfo=UTC).timestamp())
    queued = store.runs.create(stored.id, "cli", window, "tester", run_at=window[1])
    started = datetime.now(UTC) - timedelta(seconds=40)
    run = store.runs.claim(queued.id, "another-host:123", now=started)  # what a headless `serve` does
    assert run is not None
    app = make_app(ctx, poll_seconds=0.1)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await wait_until(pilot, lambda: cell(app, run.id, "status"), "the run in the table")
        assert cell(app, run.id, "status") == "counting…"  # not a bar of question marks

        store.runs.update_progress(run.id, 5_000, 20_000, now=started + timedelta(seconds=40))
        await wait_until(pilot, lambda: cell(app, run.id, "status") == "##......  25%", "the progress in the table")
        assert cell(app, run.id, "file") == "5.0k/20.0k, 125/s, 0:40, ETA 2:00"

        app.main_screen.runs_table.focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, RunDetailScreen), "the run detail")
        summary = app.screen.query_one("#summary-text")
        assert "inProgress, 25%: 5,000 of 20,000 readings, 125 readings/s, elapsed 0:40, ETA 2:00" in str(summary.render())

        store.runs.update_progress(run.id, 10_000, 20_000, now=started + timedelta(seconds=80))
        await wait_until(pilot, lambda: "50%: 10,000 of 20,000" in str(summary.render()), "the detail to follow the run")
        store.runs.finish(run.id, "failed", error="stopped by the test")
        await wait_until(pilot, lambda: "status     failed" in str(summary.render()), "the detail to see the end")
        assert app.screen.ticker is None
    store.close()


@pytest.mark.asyncio
async def test_a_big_preview_shows_its_window_at_once_and_how_far_the_rows_got(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx, _ = make_big_home(tmp_path / "home")
    held = HeldCompute()
    monkeypatch.setattr(preview_module, "compute", held)
    app = make_app(ctx)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await wait_until(pilot, held.started.is_set, "the preview to start reading")
        screen = app.screen
        assert isinstance(screen, PreviewScreen)
        window = str(screen.query_one("#window-text").render())
        assert "would export" in window and "item 1: 10d" in window and "Next runs" in window
        screen.query_one("#preview-tabs").active = "tab-rows"
        await pilot.pause()
        assert str(screen.query_one("#rows-progress").render()).startswith("reading the source: 0 readings in ")

        held.release.set()
        await wait_until(pilot, lambda: screen.query("DataTable.preview-table"), "the rows")
        assert not screen.query("#rows-progress")


def test_the_preview_reports_the_readings_it_reads(tmp_path: Path) -> None:
    ctx = make_home(tmp_path / "home", days=DEMO_DAYS)
    request = parse_request(big_body())
    reported: list[int] = []
    result = preview_module.compute(ctx, request, None, FIXED_NOW, on_progress=lambda done, total: reported.append(done))
    assert result.error is None
    assert len(reported) > 1 and reported == sorted(reported) and reported[-1] >= 12 * 24 * 60  # a day of each target, at least


@pytest.mark.asyncio
async def test_a_burst_of_progress_is_shown_as_its_newest_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Progress that piles up while the app is busy is not replayed count by count: a newer count
    of the same run waiting behind an older one replaces it; counts of two runs never mix."""
    from exporter_tui.tui.messages import RunProgress

    app = make_app(make_home(tmp_path / "home", demo=False))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        shown: list[tuple[str | None, int]] = []
        monkeypatch.setattr(app.main_screen, "show_progress", lambda m: shown.append((m.run_id, m.done)))
        for done in range(100):
            app.post_message(RunProgress("run-a", "request-a", done, 100))
        await wait_until(pilot, lambda: ("run-a", 99) in shown, "the newest count")
        assert shown == [("run-a", 99)]
        shown.clear()
        for done in range(2):
            app.post_message(RunProgress("run-a", "request-a", done, 100))
            app.post_message(RunProgress("run-b", "request-b", done, 100))
        await wait_until(pilot, lambda: len(shown) == 4, "both runs' counts")
        assert shown == [("run-a", 0), ("run-b", 0), ("run-a", 1), ("run-b", 1)]
