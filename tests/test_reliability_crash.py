"""Crashes: SIGKILL at random points of many exports, then recovery.

A home holds many due oneTime requests of every format. `exporter-tui run-due` and
`exporter-tui --headless` processes are started on it one after the other and killed with
SIGKILL after a random delay (while starting, reading, writing, publishing, recording...).
After every kill: the database passes PRAGMA integrity_check, and every file under a final
name is whole (its manifest's sha256 matches). Then, once the heartbeat timeout has passed,
`run-due` recovers the interrupted runs (failed "interrupted", partial files removed,
queued again) until everything is done, and at the end:

- every request has exactly one run and it is done (nothing lost, nothing run twice);
- its folder holds exactly one data file and its manifest, naming that run, with the same
  rows as the database records; no temporary file, folder or orphan manifest is left;
- no scratch file is left in TMPDIR.

Short: 20 exports. Full (`--full`): 100 exports.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pipeline_helpers import T0, body, item, reading
from reliability_report import report

from exporter_tui.cli.main import main
from exporter_tui.context import load_context
from exporter_tui.pipeline.export import ExportJob, run_export
from exporter_tui.pipeline.files import MANIFEST_SUFFIX, sha256_of, temp_path
from exporter_tui.service.attempt import job_windows
from exporter_tui.sources.embedded import write_readings

pytestmark = pytest.mark.slow  # processes started and killed at random points

REPO = Path(__file__).resolve().parent.parent
HEARTBEAT_TIMEOUT = 1.0
CONFIG = f"""[identity]
user = "tester"
[limits]
max_queued_runs = 100000
[exports]
pdf_row_cap = 500
[scheduler]
tick = 0.2
heartbeat_timeout = {HEARTBEAT_TIMEOUT}
max_parallel = 2
[scheduler.retry]
attempts = 100
backoff = 0
"""
W = {"from": T0, "to": T0 + 8000}
FORMATS: list[dict[str, Any]] = [
    body([item("urn:a,urn:b", **W)], "csv", timezone="utc"),
    body([item("urn:a,urn:b", "A,B", outputFormat="wide", **W)], "xlsx", timezone="utc"),
    body([item("urn:a", **W)], "json", timezone="utc"),
    body([item("urn:a", **W), item("urn:b", decimation={"ds": "1m", "dsf": "max"}, **W)], "csv", timezone="utc"),  # a zip
    body([item("urn:b", **W)], "pdf", timezone="utc"),
    body([item("urn:a", **W), item("urn:b", **W)], "xlsx", timezone="utc"),
]


def db_rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def left(db: Path) -> list[tuple[Any, ...]]:
    """The runs not done, each with its log: what a failure message needs to be read without a rerun."""
    runs = db_rows(
        db, "SELECT id, status, attempt, error, run_at, next_attempt_at, claimed_by, heartbeat_at FROM runs WHERE status != 'done'"
    )
    return [(*run, db_rows(db, f"SELECT at, level, message FROM run_log WHERE run_id = '{run[0]}' ORDER BY id")) for run in runs]


def whole_files(exports: Path) -> tuple[int, int]:
    """Every data file under a final name has its manifest and matches its sha256: (data files, orphan manifests)."""
    data_files = orphans = 0
    for folder in exports.iterdir():
        for p in folder.iterdir():
            if p.name.startswith("."):
                continue  # temporary: removed by the run's failure path or its recovery
            if p.name.endswith(MANIFEST_SUFFIX):
                orphans += not p.with_name(p.name[: -len(MANIFEST_SUFFIX)]).exists()
                continue
            manifest = json.loads(p.with_name(p.name + MANIFEST_SUFFIX).read_text())
            assert manifest["sha256"] == sha256_of(p) and manifest["bytes"] == p.stat().st_size, f"partial file under a final name: {p}"
            data_files += 1
    return data_files, orphans


def test_sigkill_at_random_points_loses_nothing_and_runs_nothing_twice(
    tmp_path: Path, full_size: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    n = 100 if full_size else 20
    seed = int(os.environ.get("EXPORTER_TUI_CRASH_SEED", random.randrange(10**6)))
    rng = random.Random(seed)
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    (home / "config.toml").write_text(CONFIG)
    (home / "config.toml").chmod(0o600)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    write_readings(home / "source.db", [reading(name, T0 + i, float(i % 97)) for name in ("urn:a", "urn:b") for i in range(8000)])
    ids = []
    for i in range(n):
        f = tmp_path / "b.json"
        f.write_text(json.dumps({**FORMATS[i % len(FORMATS)], "name": f"crash {i}"}))
        assert main(["--home", str(home), "requests", "create", str(f)]) == 0
        ids.append(json.loads(capsys.readouterr().out)["id"])
    db, exports = home / "exporter.db", home / "exports"
    env = {**os.environ, "TMPDIR": str(scratch)}

    def remaining() -> int:
        return db_rows(db, "SELECT count(*) FROM runs WHERE status != 'done'")[0][0]

    def done_count() -> int:
        return db_rows(db, "SELECT count(*) FROM runs WHERE status = 'done'")[0][0]

    kills = finished = 0
    budget = time.monotonic() + (240 if full_size else 30)  # then the kills stop and recovery finishes the rest
    # The seed is in the report line and the assertion messages: EXPORTER_TUI_CRASH_SEED=<seed> repeats the kill delays.
    while remaining() and time.monotonic() < budget:
        command = ["run-due"] if rng.random() < 0.5 else ["--headless"]
        proc = subprocess.Popen(
            [sys.executable, "-m", "exporter_tui", "--home", str(home), *command],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # The kill point follows the work, not the clock, so it lands mid-work on a fast machine
        # too: most processes die while starting or within their first exports (then at a
        # random moment up to 0.4 s later: reading, writing, publishing, recording); one in
        # four lives for several exports, so the work moves on.
        done = done_count()
        goal = min(done + (rng.randint(0, 2) if rng.random() < 0.75 else rng.randint(3, 6)), done + remaining())
        extra = rng.uniform(0.0, 0.4)
        deadline = time.monotonic() + 60
        while proc.poll() is None and done_count() < goal and time.monotonic() < deadline:
            time.sleep(0.02)
        if proc.poll() is None:
            time.sleep(extra)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
            kills += 1
        else:
            finished += 1
        assert db_rows(db, "PRAGMA integrity_check") == [("ok",)]
        whole_files(exports)
    capsys.readouterr()
    # Recovery: once every heartbeat of the dead processes is older than the timeout, run-due takes over their runs.
    deadline = time.monotonic() + 30
    fresh = "SELECT count(*) FROM runs WHERE status = 'inProgress' AND coalesce(heartbeat_at, 0) >= {}"
    while db_rows(db, fresh.format(time.time() - HEARTBEAT_TIMEOUT - 0.1))[0][0]:
        assert time.monotonic() < deadline, "a heartbeat kept beating after every process was gone"
        time.sleep(0.05)
    for _ in range(10):
        if not remaining():
            break
        done = subprocess.run(
            [sys.executable, "-m", "exporter_tui", "--home", str(home), "run-due"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    assert remaining() == 0, f"seed {seed}: runs left {left(db)}"

    assert db_rows(db, "PRAGMA integrity_check") == [("ok",)]
    runs = {r[0]: r for r in db_rows(db, "SELECT request_id, id, status, rows, file_path, attempt FROM runs")}
    assert db_rows(db, "SELECT count(*), count(DISTINCT request_id) FROM runs") == [(n, n)]  # one run per request, none twice
    interrupted = db_rows(db, "SELECT count(DISTINCT run_id) FROM run_log WHERE message LIKE 'interrupted: no heartbeat%'")[0][0]
    data_files, orphans = whole_files(exports)
    assert (data_files, orphans) == (n, 0), f"seed {seed}"
    for rid in ids:
        _, run_id, status, rows, file_path, _ = runs[rid]
        assert status == "done"
        files = sorted(p.name for p in (exports / rid).iterdir())
        data = Path(file_path)
        assert files == [data.name, data.name + MANIFEST_SUFFIX], (seed, files)  # no temporary, no duplicate, no orphan
        manifest = json.loads((exports / rid / (data.name + MANIFEST_SUFFIX)).read_text())
        assert manifest["run"] == run_id and manifest["rows"] == rows
    assert list(scratch.iterdir()) == [], "scratch files left in TMPDIR"
    report(
        "crash",
        full=full_size,
        seed=seed,
        exports=n,
        kills=kills,
        finished_alone=finished,
        interrupted_recovered=interrupted,
        attempts=sum(r[5] for r in runs.values()),
        files_checked=data_files,
        integrity="ok",
        duplicates=0,
        partial=0,
    )
    assert kills > 0


@pytest.mark.parametrize("crash_after", ["both renames", "the manifest rename"])
def test_a_file_published_but_never_recorded_is_replaced_not_doubled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], crash_after: str
) -> None:
    """The narrowest crash windows, made on purpose: the process died after renaming the
    manifest (and maybe the data file) into place but before the database said done.
    Recovery removes what that attempt published, so the retry leaves one file, not two."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    (home / "config.toml").write_text(CONFIG)
    (home / "config.toml").chmod(0o600)
    write_readings(home / "source.db", [reading("urn:a", T0 + i, float(i)) for i in range(50)])
    f = tmp_path / "b.json"
    f.write_text(json.dumps(body([item("urn:a", **{"from": T0, "to": T0 + 50})], "csv", timezone="utc")))
    assert main(["--home", str(home), "requests", "create", str(f)]) == 0
    rid = json.loads(capsys.readouterr().out)["id"]
    ctx = load_context(home)
    with ctx.open_store() as store:
        stored = store.requests.get(rid)
        queued = store.runs.page(request_id=rid).results[0]
        dead = store.runs.claim(queued.id, "gone-host:1", now=datetime.now(UTC) - timedelta(minutes=5))
        assert dead is not None
        source = ctx.open_source()
        try:
            published = run_export(
                ExportJob(stored.request, stored.id, dead.id, job_windows(dead, stored), dead.attempt),
                source,
                ctx.settings.exports,
                ctx.paths.exports_dir,
            )
        finally:
            source.close()
    if crash_after == "the manifest rename":  # the data file was still under its temporary name
        os.replace(published.path, temp_path(published.path, dead.id, dead.attempt))
    for _ in range(3):  # recover (interrupted, leftovers removed, queued again), then run
        assert main(["--home", str(home), "run-due"]) == 0
        capsys.readouterr()
    db = home / "exporter.db"
    assert db_rows(db, f"SELECT status, attempt FROM runs WHERE request_id = '{rid}'") == [("done", 2)]
    files = sorted(p.name for p in (home / "exports" / rid).iterdir())
    assert files == [published.path.name, published.path.name + MANIFEST_SUFFIX]  # the same name again: no -2 copy
    assert json.loads((home / "exports" / rid / files[1]).read_text())["run"] == dead.id
    assert whole_files(home / "exports") == (1, 0)
