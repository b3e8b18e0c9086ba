"""One clock for every time the TUI shows: `[tui] clock = "local"` (each time in its request's
zone with its offset, the machine's zone for times of no request) or `"utc"`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from snapshot_apps.tui_homes import CONFIG, FIXED_NOW, days_ago, hourly_body, machine_zone, make_app, make_home, settle

from exporter_tui.config import ConfigError, load_settings
from exporter_tui.core.validation import parse_request
from exporter_tui.events import RunEvent
from exporter_tui.service.runs import run_now
from exporter_tui.tui.clock import UiClock
from exporter_tui.tui.screens.history import HistoryScreen
from exporter_tui.tui.screens.main import MainScreen
from exporter_tui.tui.screens.preview import PreviewScreen
from exporter_tui.tui.screens.run_detail import RunDetailScreen
from exporter_tui.tui.widgets.log_pane import event_line

ROME = ZoneInfo("Europe/Rome")
MIDNIGHT = datetime(2025, 3, 9, tzinfo=UTC).timestamp()


@pytest.fixture
def machine_in_new_york() -> Iterator[None]:
    """The machine's zone, for the times of no request."""
    with machine_zone("America/New_York"):
        yield


def test_local_shows_the_requests_zone_with_its_offset_and_utc_shows_utc(machine_in_new_york: None) -> None:
    local, utc = UiClock("local"), UiClock("utc")
    now = datetime(2025, 3, 10, tzinfo=UTC)
    assert local.full(MIDNIGHT, ROME) == "2025-03-09T01:00:00+01:00"
    assert local.full(MIDNIGHT + 0.25, ROME) == "2025-03-09T01:00:00.250+01:00"
    assert local.full(MIDNIGHT, UTC) == "2025-03-09T00:00:00Z"
    assert local.full(MIDNIGHT) == "2025-03-08T19:00:00-05:00"  # no request: the machine's zone
    assert utc.full(MIDNIGHT, ROME) == utc.full(MIDNIGHT) == "2025-03-09T00:00:00Z"
    assert local.stored("2025-03-09T00:00:00Z", ROME) == "2025-03-09T01:00:00+01:00"
    assert utc.stored("2025-03-09T01:00:00+01:00") == "2025-03-09T00:00:00Z"
    assert local.stored(None) == "-" and local.stored("unavailable: x") == "unavailable: x"
    assert local.compact(MIDNIGHT, ZoneInfo("Asia/Kolkata"), now) == "03-09 05:30+05:30"
    assert local.minute(MIDNIGHT) == "2025-03-08 19:00-05" and utc.minute(MIDNIGHT) == "2025-03-09 00:00"  # a source's times
    assert local.time_of_day("2025-03-09T00:00:05Z") == "19:00:05"
    assert utc.time_of_day("2025-03-09T00:00:05Z") == "00:00:05"
    assert (local.header("WINDOW"), utc.header("WINDOW")) == ("WINDOW", "WINDOW (UTC)")


def test_the_clock_setting_is_checked_and_named(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[tui]\nclock = "utc"\n')
    assert load_settings(path, {}).tui.clock == "utc"
    path.write_text("")
    assert load_settings(path, {}).tui.clock == "local"
    path.write_text('[tui]\nclock = "Europe/Rome"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    (where, reason), *_ = caught.value.errors
    assert where == "tui.clock" and "'local' or 'utc'" in reason


def test_the_example_config_names_the_clock() -> None:
    example = (Path(__file__).parent.parent / "config.example.toml").read_text()
    assert 'clock = "local"' in example


def home_with_a_run(root: Path, clock: str):
    ctx = make_home(root, config=CONFIG + f'\n[tui]\nclock = "{clock}"\n')
    store = ctx.open_store()
    stored = store.requests.create(parse_request(hourly_body()), "tester", now=days_ago(2))  # Europe/Rome
    run = run_now(ctx, stored.id, origin="cli", now=FIXED_NOW, store=store)
    store.close()
    return ctx, run


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("clock", "header", "window", "detail_from", "next_run", "log_time"),
    [
        ("local", "WINDOW", "03-09 01:00+01 +1d", "2025-03-09T01:00:00+01:00", "2025-03-11T01:00:00+01:00", "08:00:00"),
        ("utc", "WINDOW (UTC)", "03-09 00:00 +1d", "2025-03-09T00:00:00Z", "2025-03-11T00:00:00Z", "12:00:00"),
    ],
)
async def test_every_pane_shows_times_on_the_one_clock(
    tmp_path: Path, machine_in_new_york: None, clock: str, header: str, window: str, detail_from: str, next_run: str, log_time: str
) -> None:
    ctx, run = home_with_a_run(tmp_path / "home", clock)
    app = make_app(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        main = app.screen
        assert isinstance(main, MainScreen)
        runs = main.runs_table
        assert [str(c.label) for c in runs.columns.values()][1] == header
        assert runs.rows_data[0][1]["window"] == window
        assert main.query_one("#log").border_title == f"Log ({'UTC' if clock == 'utc' else 'local time'})"
        assert event_line(RunEvent("info", "x", at="2025-03-10T12:00:00Z"), app.ui_clock).plain.startswith(log_time)

        await pilot.press("h")
        await settle(pilot)
        history = app.screen
        assert isinstance(history, HistoryScreen)
        table = history.query_one("#history")
        assert [str(c.label) for c in table.columns.values()][3] == header
        assert table.rows_data[0][1]["window"] == window

        await pilot.press("enter")
        await settle(pilot)
        detail = app.screen
        assert isinstance(detail, RunDetailScreen)
        summary = str(detail.query_one("#summary-text").render())
        assert f"  from     {detail_from}\n" in summary
        assert "(UTC" not in summary and ("+01:00" in summary) == (clock == "local")
        log = str(detail.query_one("#log-text").render())
        stamps = [line.split()[0] for line in log.splitlines()]
        assert stamps and all(s.endswith("+01:00" if clock == "local" else "Z") for s in stamps)

        await pilot.press("escape", "escape")
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        preview = app.screen
        assert isinstance(preview, PreviewScreen)
        text = str(preview.query_one("#window-text").render())
        assert f"  {next_run}" in text
        assert f"    from {detail_from}" in text
