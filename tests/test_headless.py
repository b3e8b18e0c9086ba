"""`exporter-tui --headless` as a real process: it serves, logs, masks secrets and stops on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sched_fixtures import (
    BASE_CONFIG,
    count,
    create,
    data_files,
    make_home,
    recurring,
    runs_of,
    seed,
    temp_files,
)

from exporter_tui.scheduler.service import Scheduler
from exporter_tui.store.store import Store

pytestmark = pytest.mark.slow  # headless processes

PASSWORD = "pw-Sekr1t-5571"
TOKEN = "tok-Hidden-9134"
SECRETS_CONFIG = f"""
[notify.email]
password = "{PASSWORD}"
[source.readers]
token = "{TOKEN}"
"""


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("EXPORTER_TUI_")}


def start(home: Path, out: Path, *args: str, held: Path | None = None) -> subprocess.Popen:
    """`--headless` in a process of its own; with `held`, its exports wait after their first chunk
    for `held`/go (tests/held_reads.py) and say so in `held`/holding."""
    program = ["-m", "exporter_tui"] if held is None else [str(Path(__file__).with_name("held_reads.py")), str(held)]
    return subprocess.Popen(
        [sys.executable, *program, "--home", str(home), "--headless", *args],
        stdout=open(out, "w"),
        stderr=open(out.with_suffix(".err"), "w"),
        env=clean_env(),
    )


def wait_for(condition: Callable[[], object], what: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()


def due_home(tmp_path: Path, config: str = "") -> tuple[Path, str, datetime]:
    """A home with readings and a request whose first hour ended a minute ago."""
    ctx = make_home(tmp_path, config)
    now = datetime.now(UTC).replace(microsecond=0)
    start_at = now - timedelta(hours=1, minutes=1)
    seed(ctx, start_at, now, every=60.0)
    with ctx.open_store() as store:
        sr = create(store, recurring("PT1H", start_at, catch_up="latest"), start_at)
    assert ctx.paths.home is not None
    return ctx.paths.home, sr.id, start_at


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_headless_runs_a_due_export_logs_it_masked_and_stops_on_sigterm(tmp_path, log_format):
    home, request_id, start_at = due_home(tmp_path, SECRETS_CONFIG)
    out = tmp_path / "out.log"
    proc = start(home, out, "--log-format", log_format)
    try:
        store = Store(home / "exporter.db")
        wait_for(lambda: [r for r in runs_of(store, request_id) if r.status == "done"], "the export")
        wait_for(lambda: Scheduler.served_by_other(store), "the lease")
        assert Scheduler.served_by_other(store)["pid"] == proc.pid
    finally:
        code = stop(proc)
    assert code == 0
    [run] = runs_of(store, request_id)
    assert (run.status, run.rows, run.window_from) == ("done", 60, start_at.timestamp())
    assert [Path(run.file_path)] == data_files(home / "exports")
    assert temp_files(home / "exports") == []
    assert Scheduler.served_by_other(store) is None  # released on the way out
    store.close()

    text = out.read_text()
    assert PASSWORD not in text and TOKEN not in text
    assert PASSWORD not in out.with_suffix(".err").read_text()
    lines = text.splitlines()
    if log_format == "json":
        records = [json.loads(line) for line in lines]
        assert all({"at", "kind", "message", "run_id", "request_id"} <= r.keys() for r in records)
        first = records[0]
        assert first["kind"] == "settings"
        assert first["settings"]["notify"]["email"]["password"] == "***"
        assert first["settings"]["source"]["readers"]["token"] == "***"
        assert first["paths"]["database"] == str(home / "exporter.db")
        kinds = [(r["kind"], r["run_id"]) for r in records if r["run_id"]]
        assert ("started", run.id) in kinds and ("done", run.id) in kinds
        assert records[-1]["message"] == "stopped"
    else:
        assert " settings " in lines[0] and '"password": "***"' in lines[0] and '"token": "***"' in lines[0]
        assert str(home / "exporter.db") in lines[0]
        assert any(f" started run {run.id[:8]} " in line for line in lines)
        assert any(f" done run {run.id[:8]} done: 60 rows" in line for line in lines)
        assert any(" info SIGTERM received; stopping" in line for line in lines)
        assert lines[-1].endswith(" info stopped")


def test_sigterm_during_an_export_requeues_it_as_interrupted_and_leaves_no_temp_file(tmp_path):
    # 150 000 readings in the hour: the export reads two chunks, held after the first until SIGTERM was sent.
    ctx = make_home(tmp_path)
    now = datetime.now(UTC).replace(microsecond=0)
    start_at = now - timedelta(hours=1, seconds=2)
    seed(ctx, start_at, start_at + timedelta(hours=1), every=0.024)
    store = ctx.open_store()
    sr = create(store, recurring("PT1H", start_at, catch_up="latest"), start_at)
    proc = start(ctx.paths.home, tmp_path / "out.log", held=tmp_path)
    try:
        wait_for((tmp_path / "holding").exists, "the export to read its first chunk")
        proc.send_signal(signal.SIGTERM)
        (tmp_path / "go").touch()  # the export goes on to its next chunk, and stops there
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0
    [run] = runs_of(store, sr.id)
    assert (run.status, run.attempt, run.error) == ("notProcessed", 2, "interrupted")
    assert data_files(ctx.paths.exports_dir) == []
    assert temp_files(ctx.paths.exports_dir) == []
    store.close()


def test_a_bad_config_exits_2_naming_the_field(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(BASE_CONFIG.replace("tick = 0.2", "tick = -1"))
    proc = subprocess.run(
        [sys.executable, "-m", "exporter_tui", "--home", str(home), "--headless"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
    )
    assert proc.returncode == 2
    assert "scheduler.tick" in proc.stderr and "greater than 0" in proc.stderr
    assert not (home / "exporter.db").exists()


def _newer_database(path: Path) -> None:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE requests (id TEXT)")
    con.execute("PRAGMA user_version = 99")
    con.commit()
    con.close()


@pytest.mark.parametrize("kind", ["corrupt", "newer"])
def test_an_unusable_database_exits_1_and_is_left_as_it_was(tmp_path, kind):
    ctx = make_home(tmp_path)
    db = ctx.paths.database
    if kind == "corrupt":
        db.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 16)
    else:
        _newer_database(db)
    before = db.read_bytes()
    proc = subprocess.run(
        [sys.executable, "-m", "exporter_tui", "--home", str(ctx.paths.home), "--headless"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
    )
    assert proc.returncode == 1
    assert str(db) in proc.stderr and "left as it was" in proc.stderr
    assert db.read_bytes() == before


def test_headless_does_not_import_textual():
    code = "import exporter_tui.cli.headless, exporter_tui.scheduler.service, sys; assert 'textual' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], env=clean_env(), timeout=60).returncode == 0


def test_two_headless_schedulers_on_one_database_run_each_interval_once(tmp_path):
    ctx = make_home(tmp_path, 'catch_up = "all"\nmax_catchup = "P30D"\n')
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start_at = now - timedelta(hours=4)  # four hours to catch up; the fifth ends long after the test
    seed(ctx, start_at, now)
    store = ctx.open_store()
    outs = [tmp_path / f"out{i}.log" for i in range(2)]
    procs = [start(ctx.paths.home, out) for out in outs]
    try:
        wait_for(lambda: all(" serves " in out.read_text() for out in outs), "both schedulers to serve")
        requests = [create(store, recurring("PT1H", start_at), start_at) for _ in range(12)]
        wait_for(lambda: count(store, "runs") >= 48 and not store.query("SELECT 1 FROM runs WHERE status != 'done'"), "48 runs")
    finally:
        codes = [stop(p) for p in procs]
    assert codes == [0, 0]
    for sr in requests:
        assert [(r.nominal_time, r.rows) for r in runs_of(store, sr.id)] == [
            ((start_at + timedelta(hours=k)).timestamp(), 6) for k in range(1, 5)
        ]
    assert len(data_files(ctx.paths.exports_dir)) == count(store, "runs")
    holders = {r["claimed_by"].rsplit(":", 1)[0] for r in store.query("SELECT claimed_by FROM runs")}
    assert holders <= {f"{os.uname().nodename}:{p.pid}" for p in procs}
    store.close()


def test_a_readers_page_size_over_1000_exits_2_naming_it(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(BASE_CONFIG + "\n[source.readers]\npage_size = 5000\n")
    proc = subprocess.run(
        [sys.executable, "-m", "exporter_tui", "--home", str(home), "--headless"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
    )
    assert proc.returncode == 2
    assert "source.readers.page_size" in proc.stderr and "at most 1000" in proc.stderr
    assert not (home / "exporter.db").exists()
