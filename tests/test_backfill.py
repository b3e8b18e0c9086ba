"""`exporter-tui backfill ID --from T --to T`: one run (origin backfill) per past interval of the
request's schedule, queued in one transaction, then run oldest first in the foreground.

A daily request from 2025-01-01 (UTC) with readings every 10 minutes (144 a day) on a real
embedded source and a real SQLite store. The CLI runs in this process; where the instant
matters (the scheduler's watermark, catch-up), the service and the scheduler are called with
the clock injected.
"""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from http_capture import CaptureServer
from sched_fixtures import (
    BASE_CONFIG,
    FakeClock,
    count,
    create,
    data_files,
    make_home,
    recurring,
    runs_of,
    seed,
    skips,
    utc,
    windows,
)

from exporter_tui.context import Context
from exporter_tui.service import backfill
from exporter_tui.service.scheduling import make_scheduler
from exporter_tui.store.requests import StoredRequest
from exporter_tui.store.runs import Runs
from exporter_tui.store.store import Store

JAN1 = utc(2025, 1, 1)
FEB1 = utc(2025, 2, 1)
LATER = utc(2026, 1, 1)  # "now" for the service calls: every January interval has long been due
LONG_CATCH_UP = BASE_CONFIG.replace("[scheduler]\n", '[scheduler]\nmax_catchup = "P30D"\n')  # nothing in January is too old


def day(d: int, month: int = 1) -> datetime:
    return utc(2025, month, d)


def setup(tmp_path: Path, config: str = "", *, base: str = BASE_CONFIG, **extra: Any) -> tuple[Context, StoredRequest]:
    """The home the `cli` fixture uses, a month of readings, and the daily request."""
    ctx = make_home(tmp_path, config, base=base)
    seed(ctx, JAN1, utc(2025, 2, 5))
    with ctx.open_store() as store:
        stored = create(store, recurring("P1D", JAN1, **extra), JAN1)
    return ctx, stored


def all_runs(ctx: Context, stored: StoredRequest) -> list:
    with ctx.open_store() as store:
        return runs_of(store, stored.id)


def csv_rows(path: Path) -> int:
    with path.open(encoding="utf-8-sig") as f:
        return sum(1 for _ in csv.reader(f, delimiter=",")) - 1


# -- dry run, one transaction, the queue limit ------------------------------------------


def test_dry_run_lists_the_intervals_to_queue_and_those_left_alone_and_queues_nothing(tmp_path: Path, cli) -> None:
    ctx, stored = setup(tmp_path)
    assert cli("backfill", stored.id, "--from", "2025-01-10", "--to", "2025-01-11", "--detach").code == 0
    [earlier] = all_runs(ctx, stored)
    store = ctx.open_store()
    audit_before = count(store, "audit")
    store.close()

    got = cli("backfill", stored.id, "--from", "2025-01-01T00:00:00Z", "--to", "2025-02-01T00:00:00Z", "--dry-run", "--json")

    assert got.code == 0
    plan = got.json()
    assert (plan["dryRun"], plan["count"], len(plan["toQueue"])) == (True, 30, 30)
    assert plan["toQueue"][0] == {"k": 1, "window": {"from": "2025-01-01T00:00:00.000Z", "to": "2025-01-02T00:00:00.000Z"}}
    assert plan["toQueue"][-1] == {"k": 31, "window": {"from": "2025-01-31T00:00:00.000Z", "to": "2025-02-01T00:00:00.000Z"}}
    assert [q["k"] for q in plan["toQueue"]] == [k for k in range(1, 32) if k != 10]
    assert plan["leftAlone"] == [
        {
            "k": 10,
            "window": {"from": "2025-01-10T00:00:00.000Z", "to": "2025-01-11T00:00:00.000Z"},
            "runId": earlier.id,
            "status": "notProcessed",
            "origin": "backfill",
        }
    ]
    text = cli("backfill", stored.id, "--from", "2025-01-01", "--to", "2025-02-01", "--dry-run")
    assert text.code == 0
    assert "30 interval(s) to queue" in text.out
    assert "first  2025-01-01T00:00:00.000Z .. 2025-01-02T00:00:00.000Z" in text.out
    assert "last   2025-01-31T00:00:00.000Z .. 2025-02-01T00:00:00.000Z" in text.out
    assert f"2025-01-10T00:00:00.000Z .. 2025-01-11T00:00:00.000Z  run {earlier.id[:8]} notProcessed (backfill)" in text.out
    assert [r.id for r in all_runs(ctx, stored)] == [earlier.id]  # nothing queued, nothing run
    store = ctx.open_store()
    assert count(store, "audit") == audit_before
    store.close()


def test_queuing_is_one_transaction_and_a_failure_in_it_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx, stored = setup(tmp_path)
    store = ctx.open_store()
    entered = []
    real = Store.transaction

    def counted(self: Store):
        entered.append(1)
        return real(self)

    monkeypatch.setattr(Store, "transaction", counted)
    plan, ids = backfill.queue(ctx, store, stored, day(1), day(11), notify=False, now=LATER)
    assert (len(ids), len(entered)) == (10, 1)
    monkeypatch.setattr(Store, "transaction", real)

    inserts = []
    real_insert = Runs.insert

    def failing(self: Runs, *args: Any, **kwargs: Any) -> str:
        inserts.append(1)
        if len(inserts) == 5:
            raise OSError(28, "No space left on device")
        return real_insert(self, *args, **kwargs)

    monkeypatch.setattr(Runs, "insert", failing)
    audit_before = count(store, "audit")
    with pytest.raises(OSError):
        backfill.queue(ctx, store, stored, day(11), FEB1, notify=False, now=LATER)
    assert len(runs_of(store, stored.id)) == 10  # the second backfill wrote no run at all
    assert count(store, "audit") == audit_before
    store.close()


def test_past_max_queued_runs_it_is_refused_whole_with_exit_3_and_the_count(tmp_path: Path, cli) -> None:
    ctx, stored = setup(tmp_path, "[limits]\nmax_queued_runs = 20\n")

    got = cli("backfill", stored.id, "--from", "2025-01-01", "--to", "2025-02-01")
    as_json = cli("backfill", stored.id, "--from", "2025-01-01", "--to", "2025-02-01", "--json")

    assert got.code == 3 and as_json.code == 3
    assert "it would queue 31 run(s) and 0 are queued already, more than limits.max_queued_runs = 20" in got.err
    body = as_json.json()
    assert (body["count"], body["queued"], body["limit"]) == (31, 0, 20)
    assert all_runs(ctx, stored) == []
    assert cli("backfill", stored.id, "--from", "2025-01-01", "--to", "2025-01-21").code == 0  # 20 fit


# -- the foreground run -----------------------------------------------------------------


def test_it_runs_every_interval_oldest_first_once_and_a_second_backfill_queues_nothing(tmp_path: Path, cli) -> None:
    ctx, stored = setup(tmp_path)

    got = cli("backfill", stored.id, "--from", "2025-01-01", "--to", "2025-02-01")

    assert got.code == 0, got.err
    assert "backfill of" in got.out and "31 done, 0 failed, 0 still queued" in got.out
    runs = all_runs(ctx, stored)
    assert [(r.status, r.origin, r.attempt) for r in runs] == [("done", "backfill", 1)] * 31
    assert windows(runs) == [(day(d), day(d + 1)) for d in range(1, 31)] + [(day(31), FEB1)]
    assert [r.started_at for r in runs] == sorted(r.started_at for r in runs)  # oldest first
    files = data_files(ctx.paths.exports_dir)
    assert sorted(files) == sorted(Path(r.file_path) for r in runs)
    assert [csv_rows(Path(r.file_path)) for r in runs] == [144] * 31
    assert "(31/31)" in got.err  # one line per run ended when stderr is not a terminal

    again = cli("backfill", stored.id, "--from", "2025-01-01", "--to", "2025-02-01", "--json")
    assert again.code == 0
    assert (again.json()["queued"], len(again.json()["leftAlone"])) == ([], 31)
    assert len(all_runs(ctx, stored)) == 31 and len(data_files(ctx.paths.exports_dir)) == 31


def test_a_failed_run_makes_it_exit_1_and_the_others_still_run(tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:
    from exporter_tui.service import attempt as service_attempt
    from exporter_tui.sources.base import SourceError

    ctx, stored = setup(tmp_path)
    real = service_attempt.run_export

    def export(job, *args: Any, **kwargs: Any):
        if job.windows[0][0] == day(3).timestamp():
            raise SourceError("the readers service answered 503")
        return real(job, *args, **kwargs)

    monkeypatch.setattr(service_attempt, "run_export", export)

    got = cli("backfill", stored.id, "--from", "2025-01-01", "--to", "2025-01-06")

    assert got.code == 1
    assert "4 done, 1 failed" in got.out and "source failed: the readers service answered 503" in got.out
    assert [r.status for r in all_runs(ctx, stored)] == ["done", "done", "failed", "done", "done"]


def test_days_and_period_end_decide_which_intervals_it_takes(tmp_path: Path, cli) -> None:
    ctx, stored = setup(tmp_path, days=["mon", "tue", "wed", "thu", "fri"], periodEnd=day(20).timestamp())

    got = cli("backfill", stored.id, "--from", "2025-01-01", "--to", "2025-02-01", "--detach", "--json")

    assert got.code == 0
    plan = got.json()
    starts = [datetime.fromisoformat(q["window"]["from"].replace("Z", "+00:00")) for q in plan["toQueue"]]
    assert [s.day for s in starts] == [1, 2, 3, 6, 7, 8, 9, 10, 13, 14, 15, 16, 17]  # weekdays, none starting on or after the end
    assert all(s.weekday() < 5 for s in starts) and plan["offDays"] == 6
    with ctx.open_store() as store:
        assert [(s["from"][:10], s["count"], s["reason"]) for s in skips(store, stored.id)] == [
            ("2025-01-04", 2, "days"),
            ("2025-01-11", 2, "days"),
            ("2025-01-18", 2, "days"),
        ]
    assert len(all_runs(ctx, stored)) == 13


# -- notifications ----------------------------------------------------------------------


def test_notifications_are_off_unless_notify_whoever_runs_the_runs(tmp_path: Path, cli) -> None:
    with CaptureServer() as hook:
        config = f'[notify]\nattempts = 1\ntimeout = 5\n[notify.slack]\nwebhooks = {{ ops = "{hook.url}/hook" }}\n'
        message = {"medium": "slack", "target": "ops", "policy": "onSuccess", "title": "done", "text": "{rows} rows"}
        ctx, stored = setup(tmp_path, config, notification={"messages": [message]})

        assert cli("backfill", stored.id, "--from", "2025-01-01", "--to", "2025-01-03").code == 0  # foreground
        assert cli("backfill", stored.id, "--from", "2025-01-03", "--to", "2025-01-05", "--detach").code == 0
        assert cli("run-due", "--now", "2025-01-05T00:00:00Z").code == 0  # the scheduler runs the detached ones (and nothing else is due)
        assert [r.status for r in all_runs(ctx, stored)] == ["done"] * 4
        assert hook.requests == []
        store = ctx.open_store()
        logs = [e["message"] for r in runs_of(store, stored.id) for e in store.run_log.of_run(r.id)]
        store.close()
        assert logs.count("1 notification(s) not sent: a backfill run notifies only with --notify") == 4

        assert cli("backfill", stored.id, "--from", "2025-01-05", "--to", "2025-01-07", "--notify").code == 0
        assert cli("backfill", stored.id, "--from", "2025-01-07", "--to", "2025-01-08", "--detach", "--notify").code == 0
        assert cli("run-due", "--now", "2025-01-08T00:00:00Z").code == 0
        assert [(c.path, c.json["text"]) for c in hook.requests] == [("/hook", "*done*\n144 rows")] * 3


# -- the scheduler and backfill runs ----------------------------------------------------


def test_run_due_dry_run_shows_the_queued_backfill_runs(tmp_path: Path, cli) -> None:
    ctx, stored = setup(tmp_path)
    assert cli("backfill", stored.id, "--from", "2025-01-01", "--to", "2025-01-03", "--detach").code == 0
    ids = [r.id for r in all_runs(ctx, stored)]

    got = cli("run-due", "--dry-run", "--json")
    text = cli("run-due", "--dry-run")

    queued = [p for p in got.json() if p["runId"]]
    assert [(p["runId"], p["reason"], p["window"]["from"]) for p in queued] == [
        (ids[0], "queued backfill run, attempt 1", "2025-01-01T00:00:00.000Z"),
        (ids[1], "queued backfill run, attempt 1", "2025-01-02T00:00:00.000Z"),
    ]
    assert text.out.count("queued backfill run, attempt 1") == 2
    assert len(all_runs(ctx, stored)) == 2


def test_catch_up_all_a_backfill_ahead_of_the_scheduler_and_the_scheduler_run_each_interval_once(tmp_path: Path) -> None:
    ctx, stored = setup(tmp_path, base=LONG_CATCH_UP, catch_up="all")
    now = utc(2025, 1, 11, 0, 5)
    with ctx.open_store() as store:
        _, ids = backfill.queue(ctx, store, stored, day(4), day(7), notify=False, now=now)
        assert len(ids) == 3
        clock = FakeClock(now)
        make_scheduler(ctx, store, clock=clock).run_due(now)
        runs = runs_of(store, stored.id)
        assert windows(runs) == [(day(d), day(d + 1)) for d in range(1, 11)]
        assert [r.origin for r in runs] == ["schedule"] * 3 + ["backfill"] * 3 + ["schedule"] * 4
        assert {r.status for r in runs} == {"done"}
        clock.set(utc(2025, 1, 12, 0, 5))
        make_scheduler(ctx, store, clock=clock).run_due(clock.now)
        assert windows(runs_of(store, stored.id))[-2:] == [(day(10), day(11)), (day(11), day(12))]
        assert len(runs_of(store, stored.id)) == 11 and skips(store, stored.id) == []


def test_catch_up_latest_every_interval_is_run_once_or_skipped_once(tmp_path: Path) -> None:
    """A backfill ahead of the watermark: the intervals before it are decided as the scheduler
    would (skipped under latest), the scheduler goes on after it, and no interval is both."""
    ctx, stored = setup(tmp_path, base=LONG_CATCH_UP)
    now = utc(2025, 1, 11, 0, 5)
    with ctx.open_store() as store:
        backfill.queue(ctx, store, stored, day(4), day(7), notify=False, now=now)
        make_scheduler(ctx, store, clock=FakeClock(now)).run_due(now)
        runs = runs_of(store, stored.id)
        ran = [(w[0].day, r.origin) for w, r in zip(windows(runs), runs, strict=True)]
        assert ran == [(4, "backfill"), (5, "backfill"), (6, "backfill"), (10, "schedule")]
        assert [(s["from"][:10], s["to"][:10], s["reason"]) for s in skips(store, stored.id)] == [
            ("2025-01-01", "2025-01-04", "catch-up policy latest"),
            ("2025-01-07", "2025-01-10", "catch-up policy latest"),
        ]


def test_backfilling_what_the_scheduler_skipped_runs_it_once_and_the_schedule_goes_on(tmp_path: Path) -> None:
    ctx, stored = setup(tmp_path)
    clock = FakeClock(utc(2025, 1, 11, 0, 5))
    with ctx.open_store() as store:
        make_scheduler(ctx, store, clock=clock).run_due(clock.now)  # latest: runs Jan 10, skips Jan 1..9
        assert windows(runs_of(store, stored.id)) == [(day(10), day(11))]
        skipped = skips(store, stored.id)

        _, ids = backfill.queue(ctx, store, stored, day(1), day(12), notify=False, now=clock.now)
        assert len(ids) == 9  # Jan 1..9; Jan 10 has its run, Jan 11 is not due yet
        make_scheduler(ctx, store, clock=clock).run_due(clock.now)
        clock.set(utc(2025, 1, 12, 0, 5))
        make_scheduler(ctx, store, clock=clock).run_due(clock.now)

        runs = runs_of(store, stored.id)
        assert windows(runs) == [(day(d), day(d + 1)) for d in range(1, 12)]
        assert [r.origin for r in runs] == ["backfill"] * 9 + ["schedule"] * 2
        assert {r.status for r in runs} == {"done"}
        assert skips(store, stored.id) == skipped  # the backfill decided nothing anew


# -- input ------------------------------------------------------------------------------


def test_times_are_iso_or_unix_seconds_and_bad_input_names_the_flag(tmp_path: Path, cli) -> None:
    ctx, stored = setup(tmp_path)
    iso_plan = cli("backfill", stored.id, "--from", "2025-01-01T00:00:00Z", "--to", "2025-01-08", "--dry-run", "--json").json()
    unix = cli("backfill", stored.id, "--from", str(int(JAN1.timestamp())), "--to", str(int(day(8).timestamp())), "--dry-run", "--json")
    assert unix.json()["toQueue"] == iso_plan["toQueue"] and len(iso_plan["toQueue"]) == 7

    bad = cli("backfill", stored.id, "--from", "last tuesday", "--to", "2025-01-08")
    assert (bad.code, bad.err.strip()) == (2, "error: --from: 'last tuesday' is not an ISO 8601 date-time or Unix seconds")
    backwards = cli("backfill", stored.id, "--from", "2025-01-08", "--to", "2025-01-01")
    assert (backwards.code, backwards.err.strip()) == (2, "error: --to must be after --from")
    missing = cli("backfill", stored.id, "--from", "2025-01-08")
    assert missing.code == 2 and "the following arguments are required: --to" in missing.err
    assert all_runs(ctx, stored) == []


def test_a_one_time_request_is_refused(tmp_path: Path, cli) -> None:
    from sched_fixtures import one_time

    ctx = make_home(tmp_path)
    store = ctx.open_store()
    stored = create(store, one_time(None, (JAN1, day(2))), JAN1)
    store.close()

    got = cli("backfill", stored.id, "--from", "2025-01-01", "--to", "2025-02-01")

    assert got.code == 2
    assert f"request {stored.short_id} is oneTime: it has no schedule of intervals to backfill" in got.err


def test_a_version_3_database_gains_the_notify_column_and_its_runs_notify_as_before(tmp_path: Path) -> None:
    from old_schema import downgrade

    ctx, stored = setup(tmp_path)
    store = ctx.open_store()
    store.runs.claim_interval(stored.id, day(2).timestamp(), (JAN1.timestamp(), day(2).timestamp()), "me:1")
    store.close()
    downgrade(ctx.paths.database, 3)  # no notify column

    with ctx.open_store() as store:
        [run] = runs_of(store, stored.id)
        assert run.notify is None  # NULL: the request's messages go, as before the upgrade
        _, [queued] = backfill.queue(ctx, store, stored, day(2), day(3), notify=False, now=LATER)
        assert store.runs.get(queued).notify == 0
