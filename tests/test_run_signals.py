"""Stopping a foreground `run`: real `exporter-tui run` processes, real signals, state read from the database.

Ctrl-C (SIGINT to the terminal's process group) and SIGTERM cancel the run: it ends failed
"cancelled by <user>", leaves no file, says `run <id> cancelled` and exits 130; it is not
retried. SIGHUP interrupts it: queued again, like a crash. `runs cancel` from another process
stops a running run at its next progress step.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from long_runs import START, files_left, run_row, write_source
from sched_fixtures import FakeClock, create, make_home, one_time, utc

from exporter_tui.cli.main import main
from exporter_tui.context import Context
from exporter_tui.service.scheduling import make_scheduler

pytestmark = pytest.mark.slow  # real processes signalled during a 1M-reading export

READINGS = 300_000  # three chunks of 100,000; the run is held after its first (held_reads.py)
HELPER = Path(__file__).with_name("held_reads.py")


@pytest.fixture(scope="module")
def source_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_source(tmp_path_factory.mktemp("source") / "source.db", READINGS)


@pytest.fixture
def running(tmp_path: Path, source_db: Path):
    """A home whose oneTime request takes several progress steps, and a way to start `run` on it:
    the real CLI, held after its first chunk until the test has signalled it (see `reading`, `go`),
    so the signal always lands while the run is still reading, however fast the machine."""
    ctx = make_home(tmp_path)
    shutil.copyfile(source_db, ctx.paths.source_db)
    store = ctx.open_store()
    sr = create(store, one_time(None, (START, utc(2026, 3, 30))), START)
    store.close()

    def start() -> subprocess.Popen:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EXPORTER_TUI_")}
        return subprocess.Popen(
            [sys.executable, str(HELPER), str(tmp_path), "--home", str(ctx.paths.home), "run", sr.id, "--quiet"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,  # its own process group, like a job in a terminal
        )

    return ctx, sr.id, start


def wait_for(condition: Callable[[], object], what: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def reading(ctx: Context, rid: str) -> None:
    """The run has read its first chunk and is held there."""
    wait_for((ctx.paths.home.parent / "holding").exists, "the export to be reading")
    assert run_row(ctx, rid)["status"] == "inProgress"


def go(ctx: Context) -> None:
    """Let the held run go on: its next progress step sees what was asked meanwhile."""
    (ctx.paths.home.parent / "go").touch()


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm", "ctrl-c twice"])
def test_ctrl_c_or_sigterm_cancels_the_run_removes_its_files_and_exits_130(running, how: str) -> None:
    ctx, rid, start = running
    proc = start()
    try:
        reading(ctx, rid)
        if how == "sigterm":
            proc.send_signal(signal.SIGTERM)
            go(ctx)
        else:
            os.killpg(proc.pid, signal.SIGINT)
            go(ctx)
            if how == "ctrl-c twice":  # the second one lands while it cleans up
                wait_for(lambda: proc.poll() is not None or run_row(ctx, rid)["cancel_requested"], "the cancel to be recorded")
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    row = run_row(ctx, rid)
    assert proc.returncode == 130, err
    assert f"run {row['id']} cancelled" in err.splitlines()
    assert (row["status"], row["error"]) == ("failed", "cancelled by tester")
    assert 0 < row["progress"] < READINGS
    assert files_left(ctx) == []
    store = ctx.open_store()
    assert make_scheduler(ctx, store).plan(utc(2026, 4, 1)) == []  # not retried
    store.close()


def test_sighup_interrupts_the_run_and_it_is_queued_again_like_a_crash(running) -> None:
    ctx, rid, start = running
    proc = start()
    try:
        reading(ctx, rid)
        proc.send_signal(signal.SIGHUP)
        go(ctx)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    row = run_row(ctx, rid)
    assert proc.returncode == 130, err
    assert (row["status"], row["error"], row["attempt"]) == ("notProcessed", "interrupted", 2)
    assert files_left(ctx) == []
    store = ctx.open_store()
    assert [p.run_id for p in make_scheduler(ctx, store).plan(utc(2026, 4, 1))] == [row["id"]]  # due again
    store.close()


def test_runs_cancel_from_another_process_stops_a_running_run(running, capsys) -> None:
    ctx, rid, start = running
    proc = start()
    try:
        reading(ctx, rid)
        run_id = run_row(ctx, rid)["id"]
        assert main(["--home", str(ctx.paths.home), "runs", "cancel", run_id[:8]]) == 0
        assert "inProgress, cancelled by tester; it stops at its next progress step" in capsys.readouterr().out
        go(ctx)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    row = run_row(ctx, rid)
    assert proc.returncode == 1, err
    assert (row["status"], row["error"]) == ("failed", "cancelled by tester")
    assert "error   cancelled by tester" in out
    assert files_left(ctx) == []


def test_a_cancelled_run_whose_process_died_is_not_retried(tmp_path: Path) -> None:
    ctx = make_home(tmp_path)  # heartbeat_timeout 60 s, three attempts
    store = ctx.open_store()
    sr = create(store, one_time(None, (START, utc(2026, 3, 3))), START)
    [queued] = store.runs.page(request_id=sr.id).results
    claimed = store.runs.claim(queued.id, "gone:4242", now=START)
    assert claimed is not None
    main(["--home", str(ctx.paths.home), "runs", "cancel", claimed.id])  # asked, but its runner is dead
    clock = FakeClock(START + timedelta(minutes=5))
    assert make_scheduler(ctx, store, clock=clock).run_due() == []
    run = store.runs.get(claimed.id)
    assert (run.status, run.error) == ("failed", "cancelled by tester")
    store.close()
