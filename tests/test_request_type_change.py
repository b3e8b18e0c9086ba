"""Editing a request between oneTime and recurring: the edited request runs as a created one would."""

from __future__ import annotations

import json
from pathlib import Path

from sched_fixtures import create, make_home, one_time, recurring, runs_of, seed, skips, utc

from exporter_tui.cli.main import main
from exporter_tui.service.scheduling import make_scheduler

T0 = utc(2026, 3, 2)
NOW = utc(2026, 3, 5, 6)


def body_file(tmp_path: Path, request) -> str:
    path = tmp_path / "body.json"
    path.write_text(json.dumps(request.to_body()))
    return str(path)


def test_recurring_edited_to_one_time_queues_its_run(tmp_path: Path, capsys) -> None:
    ctx = make_home(tmp_path)
    seed(ctx, T0, NOW)
    store = ctx.open_store()
    sr = create(store, recurring("P1D", None), NOW)  # no interval has ended yet
    assert main(["--home", str(ctx.paths.home), "requests", "update", sr.id, body_file(tmp_path, one_time(None, (T0, NOW)))]) == 0
    [queued] = runs_of(store, sr.id)
    assert (queued.status, queued.origin) == ("notProcessed", "schedule")
    [ran] = make_scheduler(ctx, store).run_due()
    assert (ran.id, ran.status, ran.rows) == (queued.id, "done", 468)
    store.close()


def test_recurring_edited_to_one_time_is_refused_when_the_queue_is_full_and_nothing_changes(tmp_path: Path, capsys) -> None:
    ctx = make_home(tmp_path, "[limits]\nmax_queued_runs = 1\n")
    store = ctx.open_store()
    create(store, one_time(None, (T0, NOW)), NOW)  # the queue is full
    sr = create(store, recurring("P1D", None), NOW)
    capsys.readouterr()
    code = main(["--home", str(ctx.paths.home), "requests", "update", sr.id, body_file(tmp_path, one_time(None, (T0, NOW)))])
    assert code == 3 and "Maximum number of queued exports reached" in capsys.readouterr().err
    after = store.requests.get(sr.id)
    assert (after.request.type, after.updated_at) == ("recurring", sr.updated_at)
    assert runs_of(store, sr.id) == []
    assert [e["action"] for e in store.audit.page(entity_id=sr.id).results] == ["exporter:exports:create"]
    store.close()


def test_one_time_edited_to_recurring_cancels_the_queued_run_and_the_catch_up_policy_decides(tmp_path: Path) -> None:
    ctx = make_home(tmp_path)
    seed(ctx, T0, NOW)
    store = ctx.open_store()
    sr = create(store, one_time(utc(2026, 3, 10), (T0, NOW)), T0)  # queued for later
    [queued] = runs_of(store, sr.id)
    store.requests.update(sr.id, recurring("P1D", T0, catch_up="latest"), "tester", now=utc(2026, 3, 5, 5))
    cancelled = store.runs.get(queued.id)
    assert (cancelled.status, cancelled.error) == ("failed", "cancelled by update")
    [ran] = make_scheduler(ctx, store).run_due(NOW)
    assert (ran.origin, ran.nominal_time) == ("schedule", utc(2026, 3, 5).timestamp())
    assert [(s["count"], s["reason"]) for s in skips(store, sr.id)] == [(2, "catch-up policy latest")]
    store.close()
