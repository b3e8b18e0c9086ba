"""`run ID` never duplicates scheduled work: it takes the interval's run, or says it is an extra one."""

from __future__ import annotations

from pathlib import Path

import pytest
from sched_fixtures import create, make_home, one_time, recurring, runs_of, seed, skips, utc

from exporter_tui.cli.main import main
from exporter_tui.events import RunEvent
from exporter_tui.service.runs import run_now
from exporter_tui.service.scheduling import make_scheduler
from exporter_tui.store.errors import LimitReached

T0 = utc(2026, 3, 2)
NOW = utc(2026, 3, 5, 6)  # intervals 1..3 of a P1D request from T0 have ended; 3 is the newest


@pytest.fixture
def ctx(tmp_path: Path):
    ctx = make_home(tmp_path)
    seed(ctx, T0, NOW)
    return ctx


def test_run_of_a_recurring_request_is_the_interval_run_and_the_scheduler_never_runs_it_again(ctx) -> None:
    store = ctx.open_store()
    sr = create(store, recurring("P1D", T0), T0)
    run = run_now(ctx, sr.id, origin="cli", now=NOW, store=store)
    assert run.status == "done" and run.origin == "cli"
    assert run.nominal_time == utc(2026, 3, 5).timestamp()
    assert (run.window_from, run.window_to) == (utc(2026, 3, 4).timestamp(), utc(2026, 3, 5).timestamp())
    assert make_scheduler(ctx, store).run_due(NOW) == []  # interval 3 has its run; 1 and 2 were decided (latest: skipped)
    assert [r.id for r in runs_of(store, sr.id)] == [run.id]
    assert [(s["count"], s["reason"]) for s in skips(store, sr.id)] == [(2, "catch-up policy latest")]
    store.close()


def test_under_catch_up_all_the_intervals_before_the_manual_one_still_run_once(ctx) -> None:
    store = ctx.open_store()
    sr = create(store, recurring("P1D", T0, catch_up="all"), T0)
    manual = run_now(ctx, sr.id, origin="tui", now=NOW, store=store)
    ran = make_scheduler(ctx, store).run_due(NOW)
    assert [r.status for r in ran] == ["done", "done"]
    runs = runs_of(store, sr.id)
    assert [r.nominal_time for r in runs] == [utc(2026, 3, d).timestamp() for d in (3, 4, 5)]
    assert [r.origin for r in runs] == ["schedule", "schedule", "tui"] and runs[-1].id == manual.id
    assert make_scheduler(ctx, store).run_due(NOW) == []
    store.close()


def test_run_executes_the_queued_run_of_the_interval(ctx) -> None:
    store = ctx.open_store()
    sr = create(store, recurring("P1D", T0), T0)
    end = utc(2026, 3, 5)
    claimed = store.runs.claim_interval(sr.id, end.timestamp(), (utc(2026, 3, 4).timestamp(), end.timestamp()), "other:1", now=end)
    assert claimed is not None
    store.runs.requeue(claimed.id, "source failed: boom", NOW.timestamp() + 3600)  # a retry, not due yet
    run = run_now(ctx, sr.id, origin="cli", now=NOW, store=store)
    assert run.id == claimed.id and run.status == "done" and run.attempt == 2
    assert [r.id for r in runs_of(store, sr.id)] == [claimed.id]
    store.close()


def test_run_is_refused_with_already_running_while_the_interval_runs(ctx) -> None:
    store = ctx.open_store()
    sr = create(store, recurring("P1D", T0), T0)
    k = store.runs.claim_interval(sr.id, utc(2026, 3, 5).timestamp(), (utc(2026, 3, 4).timestamp(), utc(2026, 3, 5).timestamp()), "other:1")
    with pytest.raises(LimitReached, match="already running"):
        run_now(ctx, sr.id, origin="cli", now=NOW, store=store)
    assert [r.id for r in runs_of(store, sr.id)] == [k.id]
    assert skips(store, sr.id) == []  # nothing was written
    store.close()


def test_a_second_run_is_an_extra_run_the_scheduler_does_not_count_and_says_so(ctx) -> None:
    store = ctx.open_store()
    sr = create(store, recurring("P1D", T0), T0)
    first = run_now(ctx, sr.id, origin="cli", now=NOW, store=store)
    events: list[RunEvent] = []
    extra = run_now(ctx, sr.id, origin="cli", now=NOW, store=store, sink=events.append)
    assert extra.id != first.id and extra.status == "done" and extra.nominal_time is None
    assert (extra.window_from, extra.window_to) == (first.window_from, first.window_to)
    notes = [e.message for e in events if e.kind == "info"]
    assert notes == [
        f"interval 2026-03-04T00:00:00.000Z .. 2026-03-05T00:00:00.000Z already ran (run {first.id[:8]}, done); "
        "exporting it again as an extra run the scheduler does not count"
    ]
    assert make_scheduler(ctx, store).run_due(NOW) == []
    store.close()


@pytest.fixture
def home_cli(tmp_path: Path, capsys):
    """The CLI on make_home(tmp_path)'s home."""

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(["--home", str(tmp_path / "home"), *args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def test_run_of_a_one_time_request_executes_its_queued_run_even_when_the_queue_is_full(tmp_path: Path, home_cli) -> None:
    ctx = make_home(tmp_path, "[limits]\nmax_queued_runs = 1\n")
    seed(ctx, T0, NOW)
    store = ctx.open_store()
    a = create(store, one_time(None, (T0, NOW)), NOW)
    (queued,) = runs_of(store, a.id)
    code, out, err = home_cli("run", a.id, "--json")
    assert code == 0, err
    assert runs_of(store, a.id)[0].id == queued.id and len(runs_of(store, a.id)) == 1
    create(store, one_time(None, (T0, NOW)), NOW)  # the queue is full again
    code, out, err = home_cli("run", a.id)
    assert code == 0, err
    assert "the request's run already ran; exporting it again as an extra run" in err
    assert len(runs_of(store, a.id)) == 2
    store.close()


def test_cli_run_of_a_running_one_time_request_exits_3(tmp_path: Path, home_cli) -> None:
    ctx = make_home(tmp_path)
    store = ctx.open_store()
    a = create(store, one_time(None, (T0, NOW)), NOW)
    (queued,) = runs_of(store, a.id)
    store.runs.claim(queued.id, "other:1")
    code, _, err = home_cli("run", a.id)
    assert code == 3 and f"already running (run {queued.id[:8]})" in err
    assert len(runs_of(store, a.id)) == 1
    store.close()
