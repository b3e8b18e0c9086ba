"""Late data: readings that reach the source after a run exported their window are counted,
noted on the run, and `runs rerun` (or `rerunLate`) writes a corrected file beside the old one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from old_schema import downgrade
from sched_fixtures import CHANNEL, SUBTOPIC, TARGET, FakeClock, create, make_home, recurring, runs_of, seed, utc

from exporter_tui.cli.main import main
from exporter_tui.core.enums import Origin, RunStatus
from exporter_tui.pipeline.files import manifest_path
from exporter_tui.service.scheduling import make_scheduler
from exporter_tui.sources.embedded import write_readings
from exporter_tui.store.runs import Run
from exporter_tui.store.store import Store

T0 = utc(2026, 3, 2)
DAY1 = utc(2026, 3, 3)  # interval 1 is [T0, DAY1)
AFTER = utc(2026, 3, 3, 0, 1)  # interval 1 has just ended: its run goes


@pytest.fixture
def ctx(tmp_path: Path):
    ctx = make_home(tmp_path)
    seed(ctx, T0, utc(2026, 3, 5))  # 144 readings a day
    return ctx


def late_reading(ctx, at) -> None:
    """A reading for `at` (off the seeded 10-minute grid) that the gateway forwards only now."""
    write_readings(ctx.paths.source_db, [{"channel": CHANNEL, "subtopic": SUBTOPIC, "name": TARGET, "time": at.timestamp(), "value": 99.0}])


def first_run(ctx, store: Store, clock: FakeClock, **extra) -> Run:
    sr = create(store, recurring("P1D", T0, **extra), T0)
    [run] = make_scheduler(ctx, store, clock=clock).run_due(clock.set(AFTER))
    assert run.status == RunStatus.DONE and run.rows == 144 and run.late_readings == 0
    assert runs_of(store, sr.id) == [run]
    return run


def log_lines(store: Store, run_id: str) -> list[str]:
    return [e["message"] for e in store.run_log.of_run(run_id)]


def cli(tmp_path: Path, capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--home", str(tmp_path / "home"), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_a_reading_that_arrives_after_the_export_is_counted_late_at_the_next_check(ctx) -> None:
    store = ctx.open_store()
    clock = FakeClock(AFTER)
    run = first_run(ctx, store, clock)
    scheduler = make_scheduler(ctx, store, clock=clock)
    late_reading(ctx, utc(2026, 3, 2, 23, 58))
    scheduler.run_due(clock.advance(minutes=10))  # not yet late_check_every (PT15M) since the export
    assert store.runs.get(run.id).late_readings == 0
    scheduler.run_due(clock.advance(minutes=6))
    checked = store.runs.get(run.id)
    assert checked.late_readings == 1 and checked.as_json()["lateReadings"] == 1
    [note] = [m for m in log_lines(store, run.id) if m.startswith("late:")]
    assert "1 reading(s)" in note and f"runs rerun {run.id[:8]}" in note
    assert checked.status == RunStatus.DONE and [r.id for r in runs_of(store, run.request_id)] == [run.id]  # no rerun without rerunLate
    scheduler.run_due(clock.advance(minutes=16))  # counted again, nothing new: no second note
    assert store.runs.get(run.id).late_readings == 1
    assert len([m for m in log_lines(store, run.id) if m.startswith("late:")]) == 1
    store.close()


def test_a_reading_after_the_window_is_not_late(ctx) -> None:
    store = ctx.open_store()
    clock = FakeClock(AFTER)
    run = first_run(ctx, store, clock)
    late_reading(ctx, utc(2026, 3, 3, 0, 1))  # the next interval's
    make_scheduler(ctx, store, clock=clock).run_due(clock.advance(minutes=16))
    assert store.runs.get(run.id).late_readings == 0
    store.close()


def test_no_count_after_late_check_for(ctx) -> None:
    store = ctx.open_store()
    clock = FakeClock(AFTER)
    run = first_run(ctx, store, clock)
    late_reading(ctx, utc(2026, 3, 2, 12, 3))
    clock.set(utc(2026, 3, 4, 0, 0, 1))  # P1D after the interval ended
    make_scheduler(ctx, store, clock=clock).run_due(DAY1)  # the schedule instant keeps interval 2 from running
    assert store.runs.get(run.id).late_readings == 0
    assert not [m for m in log_lines(store, run.id) if m.startswith("late:")]
    store.close()


def test_rerun_late_reruns_the_interval_once_ever(ctx) -> None:
    store = ctx.open_store()
    clock = FakeClock(AFTER)
    run = first_run(ctx, store, clock, rerunLate=True)
    scheduler = make_scheduler(ctx, store, clock=clock)
    late_reading(ctx, utc(2026, 3, 2, 23, 58))
    ran = scheduler.run_due(clock.advance(minutes=16))
    [rerun] = ran
    assert rerun.origin == Origin.RERUN and rerun.status == RunStatus.DONE and rerun.supersedes == run.id
    assert rerun.rows == 145 and (rerun.window_from, rerun.window_to) == (run.window_from, run.window_to)
    assert store.runs.get(run.id).late_readings == 1
    assert any(m.startswith(f"late: rerun {rerun.id[:8]} queued") for m in log_lines(store, run.id))
    late_reading(ctx, utc(2026, 3, 2, 23, 59))  # more late data: counted on the rerun, never a second rerun
    assert scheduler.run_due(clock.advance(minutes=16)) == []
    assert store.runs.get(rerun.id).late_readings == 1
    assert [r.origin for r in runs_of(store, run.request_id)] == [Origin.SCHEDULE, Origin.RERUN]
    store.close()


def test_a_rerun_does_not_count_for_exactly_once(ctx) -> None:
    store = ctx.open_store()
    clock = FakeClock(AFTER)
    run = first_run(ctx, store, clock, rerunLate=True)
    scheduler = make_scheduler(ctx, store, clock=clock)
    late_reading(ctx, utc(2026, 3, 2, 6, 1))
    [rerun] = scheduler.run_due(clock.advance(minutes=16))
    assert rerun.nominal_time is None
    [second] = scheduler.run_due(clock.set(utc(2026, 3, 4, 0, 1)))  # interval 2 runs once, interval 1 never again
    assert second.origin == Origin.SCHEDULE and second.window_from == DAY1.timestamp()
    assert scheduler.run_due(clock.advance(minutes=1)) == []
    assert [(r.origin, r.window_from) for r in runs_of(store, run.request_id)] == [
        (Origin.SCHEDULE, T0.timestamp()),
        (Origin.SCHEDULE, DAY1.timestamp()),
        (Origin.RERUN, T0.timestamp()),
    ]
    store.close()


def test_runs_rerun_writes_a_corrected_file_whose_manifest_names_the_one_it_supersedes(ctx, tmp_path, capsys) -> None:
    store = ctx.open_store()
    clock = FakeClock(AFTER)
    run = first_run(ctx, store, clock)
    old_file = Path(run.file_path or "")
    old_bytes, old_manifest = old_file.read_bytes(), manifest_path(old_file).read_bytes()
    late_reading(ctx, utc(2026, 3, 2, 23, 58))
    code, out, _ = cli(tmp_path, capsys, "runs", "rerun", run.id[:8], "--json")
    assert code == 0
    shown = json.loads(out)
    assert shown["origin"] == "rerun" and shown["status"] == "done" and shown["rows"] == 145 and shown["supersedes"] == run.id
    assert shown["window"] == run.as_json()["window"]
    new_file = Path(shown["filePath"])
    assert new_file != old_file and new_file.parent == old_file.parent
    manifest = json.loads(manifest_path(new_file).read_text())
    old_sha = json.loads(old_manifest)["sha256"]
    assert manifest["supersedes"] == {"runId": run.id, "sha256": old_sha} and manifest["run"] == shown["id"]
    assert old_file.read_bytes() == old_bytes and manifest_path(old_file).read_bytes() == old_manifest
    assert len(new_file.read_text().splitlines()) == len(old_file.read_text().splitlines()) + 1
    store.close()


def test_runs_rerun_of_a_failed_run_is_refused_with_use_runs_retry(ctx, tmp_path, capsys) -> None:
    store = ctx.open_store()
    sr = create(store, recurring("P1D", T0), T0)
    failed = store.runs.claim_interval(sr.id, DAY1.timestamp(), (T0.timestamp(), DAY1.timestamp()), "me:1")
    assert failed is not None
    store.runs.finish(failed.id, RunStatus.FAILED, error="source failed: boom")
    code, _, err = cli(tmp_path, capsys, "runs", "rerun", failed.id)
    assert code == 3 and "use runs retry" in err
    assert [r.id for r in runs_of(store, sr.id)] == [failed.id]  # nothing queued
    store.close()


def test_runs_show_json_has_late_readings(ctx, tmp_path, capsys) -> None:
    store = ctx.open_store()
    clock = FakeClock(AFTER)
    run = first_run(ctx, store, clock)
    late_reading(ctx, utc(2026, 3, 2, 1, 1))
    late_reading(ctx, utc(2026, 3, 2, 2, 2))
    make_scheduler(ctx, store, clock=clock).run_due(clock.advance(minutes=15))
    code, out, _ = cli(tmp_path, capsys, "runs", "show", run.id, "--json")
    shown = json.loads(out)
    assert code == 0 and shown["lateReadings"] == 2
    assert any(e["message"].startswith("late: 2 reading(s)") for e in shown["log"])
    store.close()


def test_a_database_of_the_previous_version_opens_and_its_runs_are_not_counted(ctx) -> None:
    store = ctx.open_store()
    clock = FakeClock(AFTER)
    run = first_run(ctx, store, clock)
    store.close()
    downgrade(ctx.paths.database, 4)
    store = ctx.open_store()
    old = store.runs.get(run.id)
    assert old.status == RunStatus.DONE and old.late_readings is None and old.as_json()["lateReadings"] is None
    late_reading(ctx, utc(2026, 3, 2, 23, 58))
    make_scheduler(ctx, store, clock=clock).run_due(clock.advance(minutes=16))
    assert store.runs.get(run.id).late_readings is None  # nothing to compare with
    store.close()


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("late_check_every", "PT0S", "zero"),
        ("late_check_every", "soon", "not an ISO 8601 duration"),
        ("late_check_for", "-P1D", "not an ISO"),
    ],
)
def test_bad_late_check_settings_are_refused_naming_the_key(tmp_path, capsys, key, value, reason) -> None:
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "config.toml").write_text(f'[scheduler]\n{key} = "{value}"\n')
    code, _, err = cli(tmp_path, capsys, "runs")
    assert code == 2 and f"scheduler.{key}" in err and reason in err


def test_the_readers_source_counts_the_closed_window_again(tmp_path) -> None:
    from readers_server import ReadersServer

    day = [
        {"channel": CHANNEL, "subtopic": SUBTOPIC, "name": TARGET, "publisher": "dev", "time": T0.timestamp() + 600 * i, "value": float(i)}
        for i in range(144)
    ]
    with ReadersServer.from_rows(day, tmp_path / "readers.db", token="tok-1") as server:
        ctx = make_home(
            tmp_path, f'[source]\nkind = "readers"\n[source.readers]\nurl = "{server.url}"\ntoken = "tok-1"\ntimeout = 2\nretries = 1\n'
        )
        store = ctx.open_store()
        clock = FakeClock(AFTER)
        run = first_run(ctx, store, clock)
        server.insert([{**day[0], "time": utc(2026, 3, 2, 23, 58).timestamp(), "value": 99.0}])
        make_scheduler(ctx, store, clock=clock).run_due(clock.advance(minutes=15))
        assert store.runs.get(run.id).late_readings == 1
        store.close()


def test_the_api_run_view_has_late_readings(ctx, tmp_path) -> None:
    from api_server import running_api

    ctx = make_home(  # the fixture's home and readings, with an API key of the requests' owner
        tmp_path, f'[api.keys.ops]\nsecret = "{"k" * 24}"\nowner = "tester"\nactions = ["exporter:exports:list"]\n'
    )
    store = ctx.open_store()
    clock = FakeClock(AFTER)
    run = first_run(ctx, store, clock)
    late_reading(ctx, utc(2026, 3, 2, 23, 58))
    make_scheduler(ctx, store, clock=clock).run_due(clock.advance(minutes=15))
    store.close()
    with running_api(ctx) as served, served.client("k" * 24) as c:
        view = c.get(f"/runs/{run.id}")
        assert view.status_code == 200 and view.json()["lateReadings"] == 1 and view.json()["supersedes"] is None
