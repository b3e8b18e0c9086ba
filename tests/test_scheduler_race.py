"""Several real processes schedule one database at once: every interval runs exactly once.

The short version decides 128 intervals; `--full` (when the option is declared) or
EXPORTER_TUI_FULL=1 decides 620.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sched_fixtures import (
    count,
    create,
    data_files,
    iso,
    make_home,
    recurring,
    runs_of,
    seed,
    skips,
)

from exporter_tui.pipeline.files import manifest_path

pytestmark = pytest.mark.slow  # processes racing on one database

# Every worker loads everything first, then waits for the go file, so they really start together.
WORKER = r"""
import json, sys, time
from datetime import datetime
from pathlib import Path
from exporter_tui.context import load_context
from exporter_tui.service.scheduling import make_scheduler

home, now, ready, go = sys.argv[1], datetime.fromisoformat(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
ctx = load_context(home, None)
store = ctx.open_store()
scheduler = make_scheduler(ctx, store)
ready.touch()
while not go.exists():
    time.sleep(0.005)
print(json.dumps([run.id for run in scheduler.run_due(now)]))
"""

INTERVALS = 5


@pytest.fixture
def full(request) -> bool:
    return bool(request.config.getoption("--full", default=False)) or os.environ.get("EXPORTER_TUI_FULL") == "1"


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("EXPORTER_TUI_")}


@pytest.mark.parametrize(("procs", "via"), [(2, "worker"), (4, "worker"), (2, "run-due")])
def test_processes_racing_on_one_database_run_each_interval_once(tmp_path, procs, via, full):
    n_all, n_latest = (120, 20) if full else (24, 8)
    ctx = make_home(tmp_path, 'max_catchup = "P30D"\n')
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start = now - timedelta(minutes=INTERVALS)
    seed(ctx, start, now, every=10.0)  # six readings a minute
    store = ctx.open_store()
    every = [create(store, recurring("PT1M", start, catch_up="all"), start) for _ in range(n_all)]
    latest = [create(store, recurring("PT1M", start, catch_up="latest"), start) for _ in range(n_latest)]
    home = str(ctx.paths.home)

    outs = [tmp_path / f"out{i}.json" for i in range(procs)]
    if via == "worker":
        ready = [tmp_path / f"ready{i}" for i in range(procs)]
        go = tmp_path / "go"
        workers = [
            subprocess.Popen([sys.executable, "-c", WORKER, home, iso(now), str(ready[i]), str(go)], stdout=open(outs[i], "w"), env=env())
            for i in range(procs)
        ]
        deadline = time.monotonic() + 60
        while not all(r.exists() for r in ready):
            assert time.monotonic() < deadline and all(w.poll() is None for w in workers), "a worker did not get ready"
            time.sleep(0.01)
        go.touch()
    else:
        workers = [
            subprocess.Popen(
                [sys.executable, "-m", "exporter_tui", "--home", home, "run-due", "--now", iso(now), "--json"],
                stdout=open(outs[i], "w"),
                env=env(),
            )
            for i in range(procs)
        ]
    assert [w.wait(timeout=600) for w in workers] == [0] * procs
    per_process = [json.loads(o.read_text()) for o in outs]
    if via == "run-due":
        per_process = [[r["id"] for r in runs] for runs in per_process]

    ids = [run_id for runs in per_process for run_id in runs]
    assert len(ids) == len(set(ids)) == n_all * INTERVALS + n_latest
    if via == "worker":
        assert sum(1 for runs in per_process if runs) >= 2, "the processes did race"
    for sr in every:
        assert [(r.nominal_time, r.status, r.rows) for r in runs_of(store, sr.id)] == [
            ((start + timedelta(minutes=k)).timestamp(), "done", 6) for k in range(1, INTERVALS + 1)
        ]
    for sr in latest:
        assert [(r.nominal_time, r.status, r.rows) for r in runs_of(store, sr.id)] == [(now.timestamp(), "done", 6)]
        [skip] = skips(store, sr.id)
        assert (skip["count"], skip["from"], skip["to"]) == (INTERVALS - 1, iso(start), iso(now - timedelta(minutes=1)))
    files = data_files(ctx.paths.exports_dir)
    assert len(files) == count(store, "runs") == len(ids)
    assert {json.loads(manifest_path(Path(f)).read_text())["run"] for f in files} == set(ids)
    store.close()
