"""A backfill of 31 daily intervals killed with SIGKILL in the middle of a run, then resumed by
the same backfill command: every interval runs exactly once and has exactly one whole file.

The first backfill is a real `exporter-tui` process whose 11th export is held after its first
chunk (held_reads.py), so the kill lands while a run is reading: 10 done, 1 in progress, 20
queued. The second, identical backfill queues nothing, waits for the dead run's heartbeat to
go stale (`heartbeat_timeout` = 1 s), takes it over (failed "interrupted", partial files
removed, queued again as attempt 2) and runs it and the 20 others.
"""

from __future__ import annotations

import csv
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sched_fixtures import BASE_CONFIG, create, data_files, make_home, recurring, runs_of, seed, temp_files, utc, windows

pytestmark = pytest.mark.timeout(180)
HELD_FROM = 10  # the first ten exports pass; the eleventh is held
CONFIG = BASE_CONFIG.replace("[scheduler]\n", "[scheduler]\nheartbeat_timeout = 1.0\n")


def statuses(db: Path, request_id: str) -> list[str]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return [r[0] for r in con.execute("SELECT status FROM runs WHERE request_id = ? ORDER BY nominal_time", (request_id,))]
    finally:
        con.close()


def wait_for(condition, what: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_a_backfill_killed_mid_run_is_resumed_by_the_same_backfill_with_each_interval_run_once(tmp_path: Path, cli) -> None:
    ctx = make_home(tmp_path, base=CONFIG)
    seed(ctx, utc(2025, 1, 1), utc(2025, 2, 5))
    store = ctx.open_store()
    stored = create(store, recurring("P1D", utc(2025, 1, 1)), utc(2025, 1, 1))
    store.close()
    signals = tmp_path / "signals"
    signals.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXPORTER_TUI_")} | {"HELD_READS_FROM": str(HELD_FROM)}
    args = ["backfill", stored.id, "--from", "2025-01-01", "--to", "2025-02-01"]
    first = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("held_reads.py")), str(signals), "--home", str(ctx.paths.home), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        wait_for(lambda: (signals / "holding").exists() or first.poll() is not None, "the eleventh export to be reading")
        assert first.poll() is None, first.communicate()
        assert statuses(ctx.paths.database, stored.id) == ["done"] * 10 + ["inProgress"] + ["notProcessed"] * 20
        first.send_signal(signal.SIGKILL)
        assert first.wait(30) == -signal.SIGKILL
    finally:
        if first.poll() is None:
            first.kill()
        first.communicate()
    assert statuses(ctx.paths.database, stored.id) == ["done"] * 10 + ["inProgress"] + ["notProcessed"] * 20

    again = cli(*args)

    assert again.code == 0, again.err
    assert "0 run(s) queued" in again.err and "21 done, 0 failed, 0 still queued" in again.out
    assert "was interrupted; attempt 2 queued" in again.err
    with ctx.open_store() as store:
        runs = runs_of(store, stored.id)
        assert len(runs) == 31
        assert windows(runs) == [(utc(2025, 1, d), utc(2025, 1, d + 1)) for d in range(1, 31)] + [(utc(2025, 1, 31), utc(2025, 2, 1))]
        assert [(r.status, r.origin) for r in runs] == [("done", "backfill")] * 31
        assert [r.attempt for r in runs] == [1] * 10 + [2] + [1] * 20
        assert any(e["message"].startswith("interrupted: no heartbeat") for e in store.run_log.of_run(runs[10].id))
    files = data_files(ctx.paths.exports_dir)
    assert sorted(files) == sorted(Path(r.file_path) for r in runs if r.file_path)  # one file per interval, nothing else
    assert temp_files(ctx.paths.exports_dir) == []
    for run, path in zip(runs, (Path(r.file_path) for r in runs if r.file_path), strict=True):
        with path.open(encoding="utf-8-sig") as f:
            rows = list(csv.reader(f, delimiter=","))[1:]
        assert len(rows) == 144, path
        first_time = datetime.fromisoformat(rows[0][0].replace("Z", "+00:00"))
        assert first_time.astimezone(UTC) == datetime.fromtimestamp(run.window_from, UTC)
