"""Cancelling a run from the TUI (key x, binding id cancel_run): it asks first, then sets the
store's cancel flag, so a run stops at its next progress step whichever process executes it,
ends failed "cancelled by <user>" and leaves no partial file.

The source is a real embedded source of three chunks; the export is held after its first
chunk (held_reads.py) until the test has answered the confirmation, so the run is still
reading when x is pressed, in this process or another. The states are read from the database.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from held_reads import held
from long_runs import START, files_left, run_row, write_source
from sched_fixtures import one_time, utc
from snapshot_apps.tui_homes import days_ago, make_app, make_home, settle, wait_until

from exporter_tui.context import Context
from exporter_tui.pipeline import streams
from exporter_tui.tui.screens.dialogs import ConfirmDialog
from exporter_tui.tui.screens.main import MainScreen
from exporter_tui.tui.screens.run_detail import RunDetailScreen

pytestmark = pytest.mark.asyncio
READINGS = 300_000  # three chunks of 100,000: three progress steps


@pytest.fixture(scope="module")
def source_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_source(tmp_path_factory.mktemp("source") / "source.db", READINGS)


class Hold:
    """Exports in this process say `holding` after their first chunk, then wait for `go`."""

    def __init__(self) -> None:
        self.holding = threading.Event()
        self.go = threading.Event()


@pytest.fixture
def hold(monkeypatch: pytest.MonkeyPatch) -> Iterator[Hold]:
    h = Hold()
    monkeypatch.setattr(streams, "read_stream", held(streams.read_stream, h.go.is_set, h.holding.set))
    yield h
    h.go.set()


@pytest.fixture
def home(tmp_path: Path, source_db: Path) -> tuple[Context, str]:
    """A home with the source and one oneTime request over all of it (its run is queued)."""
    ctx = make_home(tmp_path / "home", demo=False)
    shutil.copyfile(source_db, ctx.paths.source_db)
    store = ctx.open_store()
    stored = store.requests.create(one_time(None, (START, utc(2026, 3, 30))), "tester", now=days_ago(1))
    store.close()
    return ctx, stored.id


def cancelled(ctx: Context, request_id: str) -> bool:
    row = run_row(ctx, request_id)
    return (row["status"], row["error"]) == ("failed", "cancelled by tester")


async def confirm(pilot: Any, words: str) -> None:
    """The confirmation is on screen and names what it asks about; y answers yes."""
    app = pilot.app
    await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation")
    assert words in app.screen.question
    await pilot.press("y")


async def test_x_cancels_a_run_of_this_app_after_asking(home: tuple[Context, str], hold: Hold) -> None:
    ctx, rid = home
    app = make_app(ctx)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("r")
        await wait_until(pilot, hold.holding.is_set, "the export to be reading")
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation")
        await pilot.press("n")  # asking first: no leaves it running
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen), "the main screen")
        assert run_row(ctx, rid)["cancel_requested"] is None
        await pilot.press("x")
        await confirm(pilot, "(running)")
        await wait_until(pilot, lambda: run_row(ctx, rid)["cancel_requested"], "the cancel to be recorded")
        hold.go.set()
        await wait_until(pilot, lambda: cancelled(ctx, rid), "the run to end cancelled")
        await settle(pilot)
        assert files_left(ctx) == []
        assert app.is_running and isinstance(app.screen, MainScreen)


@pytest.mark.timeout(120)
async def test_x_cancels_a_run_executed_by_another_process(home: tuple[Context, str]) -> None:
    ctx, rid = home
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXPORTER_TUI_")}
    signals = ctx.paths.home / "signals"
    signals.mkdir()
    proc = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).with_name("held_reads.py")),
            str(signals),
            "--home",
            str(ctx.paths.home),
            "run",
            rid,
            "--quiet",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        app = make_app(ctx)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            await wait_until(pilot, lambda: (signals / "holding").exists() or proc.poll() is not None, "the other process to be reading")
            await pilot.press("x")
            await confirm(pilot, "(running)")
            await wait_until(pilot, lambda: run_row(ctx, rid)["cancel_requested"], "the cancel to be recorded")
            (signals / "go").touch()
            await wait_until(pilot, lambda: proc.poll() is not None, "the other process to stop")
            await settle(pilot)
        _, err = proc.communicate(timeout=30)
    finally:
        (signals / "go").touch()
        if proc.poll() is None:
            proc.kill()
    assert cancelled(ctx, rid), (run_row(ctx, rid), err)
    assert files_left(ctx) == []


async def test_deleting_a_request_whose_run_is_in_progress_offers_to_cancel_it(home: tuple[Context, str], hold: Hold) -> None:
    ctx, rid = home
    app = make_app(ctx)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("r")
        await wait_until(pilot, hold.holding.is_set, "the export to be reading")
        await pilot.press("d")
        await confirm(pilot, "Delete request")
        await confirm(pilot, "is deleted, but its run is still in progress")
        await wait_until(pilot, lambda: run_row(ctx, rid)["cancel_requested"], "the cancel to be recorded")
        hold.go.set()
        await wait_until(pilot, lambda: cancelled(ctx, rid), "the run to end cancelled")
        await settle(pilot)
        assert files_left(ctx) == []


async def test_x_in_run_detail_cancels_a_queued_run_and_an_ended_one_is_left_alone(home: tuple[Context, str]) -> None:
    ctx, rid = home
    app = make_app(ctx)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await settle(pilot)
        run_id = run_row(ctx, rid)["id"]
        await app.push_screen(RunDetailScreen(run_id))
        await settle(pilot)
        await pilot.press("x")
        await confirm(pilot, "(queued)")
        await wait_until(pilot, lambda: cancelled(ctx, rid), "the queued run to end cancelled")
        await wait_until(pilot, lambda: isinstance(app.screen, RunDetailScreen), "the run detail again")
        await settle(pilot)
        await pilot.press("x")  # it has ended: nothing to ask
        await wait_until(pilot, lambda: any("nothing to cancel" in n.message for n in app._notifications), "the warning")
        assert isinstance(app.screen, RunDetailScreen)
