"""First start on an empty home: the demo source is filled in the background and an example request appears."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from snapshot_apps.tui_homes import DEMO_END, make_app, make_home, settle

from exporter_tui.starter import EXAMPLE_NAME

pytestmark = pytest.mark.asyncio


async def test_first_start_fills_the_demo_and_stores_the_example(tmp_path: Path) -> None:
    ctx = make_home(tmp_path / "home", demo=False)
    assert not ctx.paths.source_db.exists()
    app = make_app(ctx, first_start_demo=True, demo_days=1.0, demo_end=DEMO_END)
    async with app.run_test() as pilot:
        await settle(pilot)
        rows = app.main_screen.all_rows
        assert [r.stored.request.name for r in rows] == [EXAMPLE_NAME]
        # daily from local midnight in Rome: the next run after 2025-03-10T12:00Z is 03-11 00:00 Rome time
        assert app.main_screen.requests_table.rows_data[0][1]["next"] == "03-11 00:00+01"
        lines = app.main_screen.log_pane.lines_text
        assert any("first start: filling the demo source" in line for line in lines)
        assert any(" progress " in line and "demo data:" in line for line in lines)
        ready = [line for line in lines if "demo data ready" in line]
        assert ready and "28800 readings of 20 targets" in ready[0]  # 1 day, a reading a minute, 20 targets
    source = sqlite3.connect(ctx.paths.source_db)
    assert source.execute("SELECT sum(count) FROM series").fetchone()[0] == 28800
    assert source.execute("SELECT count(*) FROM head").fetchone()[0] == 0  # a day that is over is stored in chunks at once
    source.close()


async def test_a_second_start_does_not_refill(tmp_path: Path) -> None:
    ctx = make_home(tmp_path / "home")  # the source exists already
    app = make_app(ctx, first_start_demo=True, demo_days=1.0, demo_end=DEMO_END)
    async with app.run_test() as pilot:
        await settle(pilot)
        assert app.main_screen.all_rows == []
        assert not any("demo" in line for line in app.main_screen.log_pane.lines_text)
