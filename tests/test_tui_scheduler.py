"""The app schedules in a thread worker, unless a headless scheduler already serves the database."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from snapshot_apps.tui_homes import CONFIG, hourly_body, make_app, make_home, settle

from exporter_tui.core.times import utc_now
from exporter_tui.core.validation import parse_request
from exporter_tui.scheduler.service import LEASE

pytestmark = pytest.mark.asyncio
FAST = CONFIG.replace('catch_up = "skip"', 'catch_up = "skip"\ntick = 0.2')


def one_time_body() -> dict:
    window = (datetime(2025, 3, 9, 6, tzinfo=UTC).timestamp(), datetime(2025, 3, 9, 7, tzinfo=UTC).timestamp())
    body = hourly_body("one hour, once", type="oneTime")
    del body["periodicity"], body["periodStart"]
    params = body["items"][0]["params"]
    del params["period"], params["decimation"]
    params["from"], params["to"] = window
    return body


async def wait_until(pilot, check, seconds: float = 30.0) -> None:
    """Let the app run until `check()` holds (with a deadline, so a broken scheduler fails the test instead of hanging it)."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the app never got there"
        await pilot.pause(0.05)  # the poll interval, not a wait for something to happen


async def test_the_in_app_scheduler_runs_a_queued_one_time_request(tmp_path: Path) -> None:
    ctx = make_home(tmp_path / "home", config=FAST)
    store = ctx.open_store()
    stored = store.requests.create(parse_request(one_time_body()), "tester")
    app = make_app(ctx, scheduler=True, clock=utc_now)
    async with app.run_test() as pilot:
        await settle(pilot)
        assert app.sub_title == "scheduler: running in this app"
        await wait_until(pilot, lambda: store.runs.page(request_id=stored.id).results[0].status == "done")
        run = store.runs.page(request_id=stored.id).results[0]
        assert (run.origin, run.rows) == ("schedule", 60)  # an hour of readings, one a minute
        await wait_until(pilot, lambda: dict(app.main_screen.requests_table.rows_data)[stored.id]["last"] == "done")
        assert any(f"run {run.id[:8]} done: 60 rows" in line for line in app.main_screen.log_pane.lines_text)
    assert store.lease.holder(LEASE) is None  # released when the app quit
    store.close()


@pytest.mark.slow  # a headless process
@pytest.mark.skipif(shutil.which("exporter-tui", path=os.path.dirname(sys.executable)) is None, reason="exporter-tui is not installed")
async def test_a_headless_scheduler_is_shown_and_not_doubled(tmp_path: Path) -> None:
    ctx = make_home(tmp_path / "home", config=FAST, demo=False)
    exe = shutil.which("exporter-tui", path=os.path.dirname(sys.executable))
    headless = subprocess.Popen([exe, "--home", str(ctx.paths.data_dir), "--headless"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    store = ctx.open_store()
    try:
        deadline = time.monotonic() + 30
        while store.lease.holder(LEASE) is None and headless.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)  # the poll interval
        holder = store.lease.holder(LEASE)
        assert holder is not None, headless.communicate(timeout=5)
        app = make_app(ctx, scheduler=True, clock=utc_now)
        async with app.run_test() as pilot:
            await settle(pilot)
            assert app.sub_title == f"scheduler: served by pid {headless.pid} on {holder['host']}"
            assert not [w for w in app.workers if w.group == "scheduler"]
            assert any("served by pid" in line for line in app.main_screen.log_pane.lines_text)
    finally:
        store.close()
        headless.send_signal(signal.SIGTERM)
        headless.wait(timeout=20)
