"""The scheduler with a clock the tests move, real SQLite files and the real embedded source."""

from __future__ import annotations

import csv
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from datetime import time as wall_time
from zoneinfo import ZoneInfo

import pytest
from http_capture import CaptureServer, closed_port_url
from sched_fixtures import (
    ACTOR,
    FakeClock,
    count,
    create,
    data_files,
    iso,
    item,
    make_home,
    one_time,
    recurring,
    runs_of,
    seed,
    skips,
    temp_files,
    utc,
    windows,
)

from exporter_tui.cli.main import main
from exporter_tui.context import Context
from exporter_tui.core.schedule import Schedule, run_windows
from exporter_tui.events import RunEvent
from exporter_tui.pipeline.files import manifest_path
from exporter_tui.scheduler.service import Scheduler
from exporter_tui.service.scheduling import make_scheduler
from exporter_tui.store.runs import Run
from exporter_tui.store.store import Store

T0 = utc(2026, 3, 2)  # a Monday, midnight UTC
H = timedelta(hours=1)
M = timedelta(minutes=1)
D = timedelta(days=1)
S = timedelta(seconds=1)
ROME = ZoneInfo("Europe/Rome")


@pytest.fixture
def store_of():
    opened: list[Store] = []

    def open_(ctx) -> Store:
        opened.append(ctx.open_store())
        return opened[-1]

    yield open_
    for s in opened:
        s.close()


def values_in(path) -> list[float]:
    with open(path, newline="", encoding="utf-8") as f:
        return [float(row["value"]) for row in csv.DictReader(f)]


def skip_event(start: datetime, end: datetime, n: int, reason: str) -> dict:
    return {"from": iso(start), "to": iso(end), "count": n, "reason": reason, "through": end.timestamp()}


# -- nominal times ----------------------------------------------------------------------
def test_monthly_intervals_follow_the_calendar_anchored_at_the_start(tmp_path, store_of):
    ctx = make_home(tmp_path, 'max_catchup = "P1Y"\n')
    store = store_of(ctx)
    start = utc(2026, 1, 31)
    seed(ctx, start, start + M)
    sr = create(store, recurring("P1M", start, catch_up="all"), start)
    clock = FakeClock(utc(2026, 4, 30, 0, 0, 1))
    scheduler = make_scheduler(ctx, store, clock=clock)

    plan = scheduler.plan(clock())
    assert [(p.k, p.nominal) for p in plan] == [(1, utc(2026, 2, 28)), (2, utc(2026, 3, 31)), (3, utc(2026, 4, 30))]
    runs = scheduler.run_due()
    assert windows(runs) == [(start, utc(2026, 2, 28)), (utc(2026, 2, 28), utc(2026, 3, 31)), (utc(2026, 3, 31), utc(2026, 4, 30))]
    assert [r.status for r in runs] == ["done"] * 3
    assert [r.id for r in runs_of(store, sr.id)] == [r.id for r in runs]


def test_yearly_from_a_leap_day_clamps_then_returns_to_the_29th():
    request = recurring("P1Y", utc(2024, 2, 29))
    schedule = Schedule(request, utc(2024, 2, 29))
    assert [schedule.at(k) for k in (1, 2, 3, 4)] == [utc(2025, 2, 28), utc(2026, 2, 28), utc(2027, 2, 28), utc(2028, 2, 29)]


@pytest.mark.parametrize(
    ("start", "now", "hours"),
    [
        (datetime(2026, 3, 27, 0, 30, tzinfo=ROME), datetime(2026, 3, 30, 0, 30, 5, tzinfo=ROME), [24, 24, 23]),
        (datetime(2026, 10, 24, 0, 30, tzinfo=ROME), datetime(2026, 10, 26, 0, 30, 5, tzinfo=ROME), [24, 25]),
    ],
    ids=["spring-forward", "fall-back"],
)
def test_daily_runs_keep_the_wall_clock_over_dst(tmp_path, store_of, start, now, hours):
    ctx = make_home(tmp_path)
    store = store_of(ctx)
    seed(ctx, start, start + M)
    create(store, recurring("P1D", start, catch_up="all", zone="Europe/Rome"), start)
    runs = make_scheduler(ctx, store, clock=FakeClock(now)).run_due()
    assert [(r.window_to - r.window_from) / 3600 for r in runs] == hours
    for lo, hi in windows(runs):
        assert lo.astimezone(ROME).time() == hi.astimezone(ROME).time() == wall_time(0, 30)


def test_hourly_periods_count_elapsed_hours_over_dst():
    spring = Schedule(recurring("PT1H", datetime(2026, 3, 29, tzinfo=ROME), zone="Europe/Rome"), T0)
    # timestamps: an aware time inside a DST fold never compares equal to one of another zone (PEP 495)
    assert [spring.at(k).timestamp() for k in (1, 2, 3)] == [utc(2026, 3, 29, h).timestamp() for h in (0, 1, 2)]
    assert [spring.at(k).astimezone(ROME).hour for k in (1, 2, 3)] == [1, 3, 4]
    autumn = Schedule(recurring("PT1H", datetime(2026, 10, 25, tzinfo=ROME), zone="Europe/Rome"), T0)
    assert [autumn.at(k).timestamp() for k in (1, 2, 3, 4)] == [(utc(2026, 10, 24, 23) + h * H).timestamp() for h in range(4)]
    assert [autumn.at(k).astimezone(ROME).hour for k in (1, 2, 3, 4)] == [1, 2, 2, 3]


@pytest.mark.parametrize("periodicity", ["PT24H", "PT1440M", "PT86400S"])
def test_a_24_hour_schedule_is_24_elapsed_hours_over_dst(periodicity):
    schedule = Schedule(recurring(periodicity, datetime(2026, 3, 28, tzinfo=ROME), zone="Europe/Rome"), T0)
    assert [schedule.at(k).timestamp() - schedule.at(k - 1).timestamp() for k in (1, 2, 3)] == [86_400.0] * 3
    assert [schedule.at(k).astimezone(ROME).hour for k in (1, 2, 3)] == [0, 1, 1]  # 24 h after midnight on the 23-hour day is 01:00


@pytest.mark.parametrize(("period", "hours"), [("PT24H", 24), ("PT48H", 48), ("P1D", 23), ("P2D", 47)])
def test_item_periods_in_hours_are_elapsed_and_in_days_follow_the_calendar(period, hours):
    request = recurring("P1D", datetime(2026, 3, 28, tzinfo=ROME), zone="Europe/Rome", items=[item(period=period)])
    end = datetime(2026, 3, 30, tzinfo=ROME)
    ((lo, hi),) = run_windows(request, end, None)
    assert (hi - lo) / 3600 == hours and hi == end.timestamp()


@pytest.mark.parametrize(
    ("start", "zone_change"),
    [(datetime(2026, 3, 25, tzinfo=ROME), "spring-forward"), (datetime(2026, 10, 21, tzinfo=ROME), "fall-back")],
)
def test_an_upgraded_pt24h_request_continues_from_its_last_run_with_nothing_twice_or_skipped(tmp_path, store_of, start, zone_change):
    """A database whose PT24H request ran as calendar days (local midnights) under the old reading."""
    ctx = make_home(tmp_path, 'max_catchup = "P1Y"\n')
    store = store_of(ctx)
    old = [datetime.combine(start.date() + timedelta(days=k), wall_time(0), ROME).astimezone(UTC) for k in range(7)]  # local midnights
    start = start.astimezone(UTC)  # from here on, arithmetic in elapsed time
    seed(ctx, start - D, start + 14 * D, every=600.0)
    sr = create(store, recurring("PT24H", start, catch_up="all", zone="Europe/Rome"), start)
    for lo, hi in zip(old, old[1:]):
        run = store.runs.claim_interval(sr.id, hi.timestamp(), (lo.timestamp(), hi.timestamp()), "old-scheduler", now=hi)
        store.runs.finish(run.id, "done", rows=(hi - lo) // timedelta(minutes=10), now=hi)
    assert (old[-1] - old[0]).total_seconds() != 6 * 86_400  # the old runs crossed the change
    runs = make_scheduler(ctx, store, clock=FakeClock(start + 10 * D + H)).run_due()
    assert runs and all(r.status == "done" for r in runs)
    every = windows(runs_of(store, sr.id))
    assert all(a[1] == b[0] for a, b in zip(every, every[1:]))  # contiguous: nothing twice, nothing skipped
    assert every[6][0] == old[-1]  # the first new interval starts where the last old run ended
    new_ends = [start + k * D for k in range(1, 12)]
    assert [hi for _, hi in every[6:]] == [t for t in new_ends if t > old[-1] and t <= start + 10 * D + H]
    assert sum(r.rows for r in runs) == sum((hi - lo) // timedelta(minutes=10) for lo, hi in every[6:])


# -- catch-up after downtime --------------------------------------------------------------
def test_latest_runs_only_the_newest_missed_interval_and_records_one_skip(tmp_path, store_of):
    ctx = make_home(tmp_path, 'catch_up = "all"\n')  # the request's catchUp wins over the default
    store = store_of(ctx)
    seed(ctx, T0, T0 + 12 * H)  # values 0, 1, 2... every 10 minutes
    sr = create(store, recurring("PT1H", T0, catch_up="latest"), T0)
    clock = FakeClock(T0 + 5 * H + 30 * M)
    scheduler = make_scheduler(ctx, store, clock=clock)

    runs = scheduler.run_due()
    assert [(r.status, r.origin, r.rows, r.nominal_time) for r in runs] == [("done", "schedule", 6, (T0 + 5 * H).timestamp())]
    assert windows(runs) == [(T0 + 4 * H, T0 + 5 * H)]
    assert values_in(runs[0].file_path) == [24.0, 25.0, 26.0, 27.0, 28.0, 29.0]
    assert skips(store, sr.id) == [skip_event(T0, T0 + 4 * H, 4, "catch-up policy latest")]

    assert scheduler.run_due() == []  # ticks at the same instant decide nothing again
    assert scheduler.run_due() == []
    assert len(skips(store)) == 1

    clock.set(T0 + 6 * H + 2 * M)
    runs = scheduler.run_due()
    assert windows(runs) == [(T0 + 5 * H, T0 + 6 * H)]
    assert len(skips(store)) == 1
    assert len(data_files(ctx.paths.exports_dir)) == 2


def test_all_runs_every_missed_interval_oldest_first(tmp_path, store_of):
    ctx = make_home(tmp_path)
    store = store_of(ctx)
    seed(ctx, T0, T0 + 12 * H)
    sr = create(store, recurring("PT1H", T0, catch_up="all"), T0)

    runs = make_scheduler(ctx, store, clock=FakeClock(T0 + 3 * H + 30 * M)).run_due()
    assert windows(runs) == [(T0, T0 + H), (T0 + H, T0 + 2 * H), (T0 + 2 * H, T0 + 3 * H)]
    assert [(r.status, r.rows) for r in runs] == [("done", 6)] * 3
    assert [values_in(r.file_path)[0] for r in runs] == [0.0, 6.0, 12.0]
    claimed = store.query("SELECT nominal_time FROM runs WHERE request_id = ? ORDER BY rowid", (sr.id,))
    assert [r["nominal_time"] for r in claimed] == [(T0 + k * H).timestamp() for k in (1, 2, 3)]
    assert skips(store) == []


def test_skip_runs_none_of_the_missed_and_resumes_with_the_next_interval(tmp_path, store_of):
    ctx = make_home(tmp_path, 'catch_up = "skip"\n')  # the default, as the request has no catchUp
    store = store_of(ctx)
    seed(ctx, T0, T0 + 12 * H)
    sr = create(store, recurring("PT1H", T0), T0)
    clock = FakeClock(T0 + 5 * H + 30 * M)
    scheduler = make_scheduler(ctx, store, clock=clock)

    assert scheduler.run_due() == []
    assert scheduler.run_due() == []
    assert skips(store, sr.id) == [skip_event(T0, T0 + 5 * H, 5, "skip policy")]
    assert runs_of(store, sr.id) == []

    clock.set(T0 + 6 * H + 10 * S)  # interval 6 ends while the scheduler watches: it runs on time
    runs = scheduler.run_due()
    assert windows(runs) == [(T0 + 5 * H, T0 + 6 * H)]
    assert len(skips(store)) == 1


def test_intervals_older_than_max_catchup_are_not_run(tmp_path, store_of):
    ctx = make_home(tmp_path)  # max_catchup P7D
    store = store_of(ctx)
    seed(ctx, T0, T0 + M)
    every = create(store, recurring("P1D", T0, catch_up="all"), T0)
    newest = create(store, recurring("P1D", T0, catch_up="latest"), T0)
    now = T0 + 10 * D + H  # cut-off: T0 + 3 days + 1 hour

    runs = make_scheduler(ctx, store, clock=FakeClock(now)).run_due()
    assert windows([r for r in runs if r.request_id == every.id]) == [(T0 + k * D, T0 + (k + 1) * D) for k in range(3, 10)]
    assert windows([r for r in runs if r.request_id == newest.id]) == [(T0 + 9 * D, T0 + 10 * D)]
    cut = skip_event(T0, T0 + 3 * D, 3, "older than max_catchup P7D")
    assert skips(store, every.id) == [cut]
    assert skips(store, newest.id) == [cut, skip_event(T0 + 3 * D, T0 + 9 * D, 6, "catch-up policy latest")]


def test_a_period_start_in_the_past_asks_for_its_intervals_under_the_policy(tmp_path, store_of):
    ctx = make_home(tmp_path)
    store = store_of(ctx)
    seed(ctx, T0, T0 + 12 * H)
    created = T0 + 2 * H + 30 * M
    latest = create(store, recurring("PT1H", T0, catch_up="latest"), created)
    every = create(store, recurring("PT1H", T0, catch_up="all"), created)
    skip = create(store, recurring("PT1H", T0, catch_up="skip"), created)

    runs = make_scheduler(ctx, store, clock=FakeClock(created)).run_due()
    assert windows([r for r in runs if r.request_id == latest.id]) == [(T0 + H, T0 + 2 * H)]
    assert windows([r for r in runs if r.request_id == every.id]) == [(T0, T0 + H), (T0 + H, T0 + 2 * H)]
    assert [r for r in runs if r.request_id == skip.id] == []
    assert {r.rows for r in runs} == {6}
    assert skips(store, latest.id) == [skip_event(T0, T0 + H, 1, "catch-up policy latest")]
    assert skips(store, every.id) == []
    assert skips(store, skip.id) == [skip_event(T0, T0 + 2 * H, 2, "skip policy")]


def test_paused_requests_get_no_runs_and_resume_under_the_policy(tmp_path, store_of):
    ctx = make_home(tmp_path)
    store = store_of(ctx)
    seed(ctx, T0, T0 + 12 * H)
    latest = create(store, recurring("PT1H", T0, catch_up="latest"), T0)
    skip = create(store, recurring("PT1H", T0, catch_up="skip"), T0)
    clock = FakeClock(T0 + H + 5 * M)
    scheduler = make_scheduler(ctx, store, clock=clock)
    assert len(scheduler.run_due()) == 2  # interval 1 of each

    for sr in (latest, skip):
        store.requests.set_paused(sr.id, True, ACTOR, now=T0 + H + 10 * M)
    clock.set(T0 + 3 * H + 5 * M)
    assert scheduler.plan(clock()) == []
    assert scheduler.run_due() == []
    assert skips(store) == []

    for sr in (latest, skip):
        store.requests.set_paused(sr.id, False, ACTOR, now=T0 + 4 * H + 20 * M)
    clock.set(T0 + 4 * H + 30 * M)
    runs = scheduler.run_due()
    assert [(r.request_id, *windows([r])[0]) for r in runs] == [(latest.id, T0 + 3 * H, T0 + 4 * H)]
    assert skips(store, latest.id) == [skip_event(T0 + H, T0 + 3 * H, 2, "paused")]
    assert skips(store, skip.id) == [skip_event(T0 + H, T0 + 4 * H, 3, "paused")]


# -- queued runs ----------------------------------------------------------------------------
def test_one_time_requests_run_at_their_start_and_manual_runs_of_paused_requests_still_run(tmp_path, store_of):
    ctx = make_home(tmp_path)
    store = store_of(ctx)
    seed(ctx, T0, T0 + 12 * H)
    later = create(store, one_time(T0 + 2 * H, (T0, T0 + H)), T0)
    paused = create(store, recurring("PT1H", T0 + 6 * H), T0)
    store.requests.set_paused(paused.id, True, ACTOR, now=T0)
    manual = store.runs.create(
        paused.id, "tui", ((T0 + H).timestamp(), (T0 + 2 * H).timestamp()), ACTOR, run_at=(T0 + 2 * H).timestamp(), override=True, now=T0
    )
    clock = FakeClock(T0 + H)
    scheduler = make_scheduler(ctx, store, clock=clock)

    assert [(p.run_id, p.reason) for p in scheduler.plan(clock())] == [(manual.id, "queued tui run, attempt 1")]
    [ran] = scheduler.run_due()
    assert (ran.id, ran.status, ran.rows, values_in(ran.file_path)[0]) == (manual.id, "done", 6, 6.0)
    assert runs_of(store, later.id)[0].status == "notProcessed"

    clock.set(T0 + 2 * H)
    [ran] = scheduler.run_due()
    assert (ran.request_id, ran.status, ran.origin, ran.rows) == (later.id, "done", "schedule", 6)
    assert windows([ran]) == [(T0, T0 + H)]


# -- recovery and retries --------------------------------------------------------------------
def test_a_run_whose_process_died_is_failed_as_interrupted_cleaned_and_retried(tmp_path, store_of):
    ctx = make_home(tmp_path)  # heartbeat_timeout 60 s, retry backoff 30 s
    store = store_of(ctx)
    seed(ctx, T0, T0 + 12 * H)
    sr = create(store, recurring("PT1H", T0, catch_up="latest"), T0)
    busy = create(store, recurring("PT1H", T0, catch_up="latest"), T0)
    dead = store.runs.claim_interval(sr.id, (T0 + H).timestamp(), (T0.timestamp(), (T0 + H).timestamp()), "gone:4242", now=T0 + H + M)
    alive = store.runs.claim_interval(busy.id, (T0 + H).timestamp(), (T0.timestamp(), (T0 + H).timestamp()), "other:77", now=T0 + H + 4 * M)
    folder = ctx.paths.exports_dir / sr.id
    folder.mkdir()
    partial = folder / f".{sr.id[:8]}_20260302T000000Z.csv.tmp-{dead.id}"
    partial.write_text("time,name,value\n2026-03-02T00:00:00+00:00,x,1", encoding="utf-8")
    clock = FakeClock(T0 + H + 5 * M)  # dead's heartbeat is 4 minutes old, alive's 1 minute
    events: list[RunEvent] = []
    scheduler = make_scheduler(ctx, store, clock=clock, sink=events.append)

    assert scheduler.run_due() == []  # the retry waits for its backoff
    run = store.runs.get(dead.id)
    assert (run.status, run.attempt, run.error, run.next_attempt_at) == ("notProcessed", 2, "interrupted", clock().timestamp() + 30)
    assert not partial.exists()
    assert any(e["level"] == "error" and e["message"].startswith("interrupted") for e in store.run_log.of_run(dead.id))
    assert [(e.kind, e.run_id) for e in events] == [("recovered", dead.id)]
    assert store.runs.get(alive.id).status == "inProgress"

    clock.advance(seconds=29)
    assert scheduler.run_due() == []
    clock.advance(seconds=1)
    [ran] = scheduler.run_due()
    assert (ran.id, ran.status, ran.attempt, ran.rows, ran.error) == (dead.id, "done", 2, 6, None)
    assert windows([ran]) == [(T0, T0 + H)]
    assert [p.name for p in data_files(ctx.paths.exports_dir)] == [f"{sr.id[:8]}_20260302T000000Z.csv"]
    assert temp_files(ctx.paths.exports_dir) == []


def dead_run_without_backoff(tmp_path, store_of) -> tuple[Context, Store, Run]:
    """A home retrying at once (no backoff), with an hourly request whose first interval's run
    was claimed at T0 + H + M by a process that died then."""
    ctx = make_home(tmp_path, base=f'[identity]\nuser = "{ACTOR}"\n[scheduler]\nretry = {{ attempts = 3, backoff = 0 }}\n')
    store = store_of(ctx)
    seed(ctx, T0, T0 + 12 * H)
    sr = create(store, recurring("PT1H", T0, catch_up="latest"), T0)
    dead = store.runs.claim_interval(sr.id, (T0 + H).timestamp(), (T0.timestamp(), (T0 + H).timestamp()), "gone:4242", now=T0 + H + M)
    return ctx, store, dead


def test_with_no_backoff_one_run_due_recovers_an_interrupted_run_and_runs_it(tmp_path, store_of):
    ctx, store, dead = dead_run_without_backoff(tmp_path, store_of)
    clock = FakeClock(T0 + H + 5 * M)
    # run-due reads its instant before the tick, so the clock has moved on when the retry is queued
    ran = make_scheduler(ctx, store, clock=clock).run_due(T0 + H + 5 * M - S)
    assert [(r.id, r.status, r.attempt) for r in ran] == [(dead.id, "done", 2)]


def test_a_recovery_killed_halfway_is_recovered_again_not_left_failed(tmp_path, store_of, monkeypatch):
    """The recovering process dies after taking the dead run over, while it removes the
    partial files (SIGKILL does not unwind, so nothing after that line runs). The run must not
    stay failed "interrupted" with nobody to queue it again: once the recoverer's own
    heartbeat is stale too, the next tick recovers it and runs it."""
    ctx, store, dead = dead_run_without_backoff(tmp_path, store_of)
    clock = FakeClock(T0 + H + 5 * M)
    dying = make_scheduler(ctx, store, clock=clock, holder="dying:1")

    class Killed(BaseException):
        pass

    def killed(run: Run) -> int:
        raise Killed

    monkeypatch.setattr(dying.runs, "interrupted", killed)
    with pytest.raises(Killed):
        dying.run_due()
    assert store.runs.get(dead.id).status == "inProgress"  # still someone's to recover, not failed for good

    clock.advance(seconds=30)  # the recoverer's heartbeat is not stale yet: nobody takes the run
    assert make_scheduler(ctx, store, clock=clock).run_due() == []
    clock.advance(seconds=31)
    ran = make_scheduler(ctx, store, clock=clock).run_due()
    assert [(r.id, r.status, r.attempt, r.rows) for r in ran] == [(dead.id, "done", 2, 6)]
    log = [e["message"] for e in store.run_log.of_run(dead.id)]
    assert [m.split(";")[0] for m in log if m.startswith("interrupted")] == [
        f"interrupted: no heartbeat since {iso(T0 + H + 5 * M)} from dying:1"
    ]


def test_a_failing_source_is_retried_with_backoff_then_fails_and_notifies(tmp_path, store_of):
    with CaptureServer() as hooks:
        ctx = make_home(
            tmp_path,
            f"""
[source]
kind = "readers"
[source.readers]
url = "{closed_port_url()}"
retries = 0
timeout = 2.0
[notify.slack.webhooks]
ops = "{hooks.url}/hook"
""",
        )
        store = store_of(ctx)
        note = {
            "messages": [
                {"policy": "onFailure", "medium": "slack", "target": "ops", "title": "export failed", "text": "it failed"},
                {"policy": "onSuccess", "medium": "slack", "target": "ops", "title": "export done", "text": "it worked"},
            ]
        }
        sr = create(store, recurring("PT1H", T0, catch_up="latest", notification=note), T0)
        clock = FakeClock(T0 + H + 5 * S)
        scheduler = make_scheduler(ctx, store, clock=clock)

        [run] = scheduler.run_due()
        assert (run.status, run.attempt, run.next_attempt_at) == ("notProcessed", 2, clock().timestamp() + 30)
        assert run.error.startswith("source failed")
        clock.advance(seconds=29.5)
        assert scheduler.run_due() == []
        clock.advance(seconds=0.5)
        [run] = scheduler.run_due()
        assert (run.status, run.attempt, run.next_attempt_at) == ("notProcessed", 3, clock().timestamp() + 60)
        assert hooks.requests_to("/hook") == []
        clock.advance(seconds=60)
        [run] = scheduler.run_due()
        assert (run.status, run.attempt) == ("failed", 3)
        assert run.error.startswith("source failed")
        assert sorted((n["policy"], n["status"]) for n in store.notifications.of_run(run.id)) == [
            ("onFailure", "sent"),
            ("onSuccess", "skipped"),
        ]
        assert len(hooks.requests_to("/hook")) == 1
        clock.advance(hours=0.5)
        assert scheduler.run_due() == []
        assert [r.id for r in runs_of(store, sr.id)] == [run.id]


# -- retention ----------------------------------------------------------------------------
def test_files_older_than_the_retention_are_deleted_and_their_runs_expire(tmp_path, store_of):
    ctx = make_home(tmp_path, "[exports]\nretention_days = 1\n")
    store = store_of(ctx)
    seed(ctx, T0, T0 + 12 * H)
    create(store, one_time(None, (T0, T0 + H)), T0)
    scheduler = make_scheduler(ctx, store, clock=FakeClock(T0))
    [run] = scheduler.run_due()
    data = data_files(ctx.paths.exports_dir)[0]
    assert str(data) == run.file_path and manifest_path(data).exists()
    finished = datetime.fromisoformat(run.finished_at)

    scheduler.run_due(finished + D - M)
    assert store.runs.get(run.id).status == "done" and data.exists()
    scheduler.run_due(finished + D + M)
    assert store.runs.get(run.id).status == "expired"
    assert not data.exists() and not manifest_path(data).exists()
    scheduler.run_due(finished + D + 2 * M)
    assert store.audit.page(entity_id=run.id, action="expire").total == 1


# -- run-due ------------------------------------------------------------------------------
def test_run_due_dry_run_lists_the_intervals_and_writes_nothing(tmp_path, store_of, capsys):
    ctx = make_home(tmp_path)
    store = store_of(ctx)
    seed(ctx, T0, T0 + 12 * H)
    sr = create(store, recurring("PT1H", T0, catch_up="latest"), T0)
    queued = runs_of(store, create(store, one_time(T0 + 5 * H, (T0, T0 + H)), T0).id)[0]
    tables = ("requests", "runs", "audit", "run_log", "notifications", "scheduler_lease")
    before = [count(store, t) for t in tables]
    argv = ["--home", str(ctx.paths.home), "run-due", "--now", iso(T0 + 5 * H + 30 * M)]

    assert main([*argv, "--dry-run", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {
            "requestId": queued.request_id,
            "action": "run",
            "k": None,
            "nominalTime": iso(T0 + 5 * H),
            "runAt": iso(T0 + 5 * H),
            "window": {"from": iso(T0), "to": iso(T0 + H)},
            "reason": "queued schedule run, attempt 1",
            "runId": queued.id,
        },
        {
            "requestId": sr.id,
            "action": "skip",
            "k": 1,
            "nominalTime": iso(T0 + 4 * H),
            "runAt": iso(T0 + 4 * H),
            "window": {"from": iso(T0), "to": iso(T0 + 4 * H)},
            "reason": "catch-up policy latest",
            "runId": None,
            "count": 4,
        },
        {
            "requestId": sr.id,
            "action": "run",
            "k": 5,
            "nominalTime": iso(T0 + 5 * H),
            "runAt": iso(T0 + 5 * H),
            "window": {"from": iso(T0 + 4 * H), "to": iso(T0 + 5 * H)},
            "reason": "newest of 5 missed (catch-up latest)",
            "runId": None,
        },
    ]
    assert main([*argv, "--dry-run"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3
    assert [count(store, t) for t in tables] == before
    assert data_files(ctx.paths.exports_dir) == []

    assert main([*argv, "--json"]) == 0
    ran = json.loads(capsys.readouterr().out)
    assert sorted((r["status"], r["window"]["from"]) for r in ran) == [("done", iso(T0)), ("done", iso(T0 + 4 * H))]
    assert len(data_files(ctx.paths.exports_dir)) == 2
    assert len(skips(store, sr.id)) == 1


# -- several schedulers ----------------------------------------------------------------------
def test_two_schedulers_in_threads_run_each_interval_once(tmp_path, store_of):
    ctx = make_home(tmp_path, 'max_catchup = "P30D"\n')
    setup = store_of(ctx)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start = now - 5 * M
    seed(ctx, start, now, every=10.0)
    every = [create(setup, recurring("PT1M", start, catch_up="all"), start) for _ in range(16)]
    latest = [create(setup, recurring("PT1M", start, catch_up="latest"), start) for _ in range(8)]
    schedulers = [make_scheduler(ctx, store_of(ctx)) for _ in range(2)]
    results: list[list] = [[], []]
    barrier = threading.Barrier(2)

    def work(i: int) -> None:
        barrier.wait()
        results[i] = schedulers[i].run_due(now)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    ids = [r.id for rs in results for r in rs]
    assert len(ids) == len(set(ids)) == 16 * 5 + 8
    assert all(results), "both schedulers took part"
    for sr in every:
        runs = runs_of(setup, sr.id)
        assert [(r.nominal_time, r.status, r.rows) for r in runs] == [((start + k * M).timestamp(), "done", 6) for k in range(1, 6)]
    for sr in latest:
        assert [(r.nominal_time, r.status) for r in runs_of(setup, sr.id)] == [(now.timestamp(), "done")]
        assert skips(setup, sr.id) == [skip_event(start, now - M, 4, "catch-up policy latest")]
    files = data_files(ctx.paths.exports_dir)
    assert len(files) == count(setup, "runs") == len(ids)
    assert {json.loads(manifest_path(f).read_text())["run"] for f in files} == set(ids)


@pytest.mark.parametrize("parallel", [1, 2])
def test_max_parallel_bounds_the_runs_in_flight_and_a_request_runs_one_at_a_time(tmp_path, store_of, parallel):
    ctx = make_home(tmp_path, f"max_parallel = {parallel}\n")
    store = store_of(ctx)
    seed(ctx, T0, T0 + 12 * H)
    for _ in range(3):
        create(store, recurring("PT1H", T0, catch_up="all"), T0)
    lock = threading.Condition()
    in_flight: dict[str, str] = {}  # run id -> request id
    peak = [0]
    same_request: list[RunEvent] = []

    def sink(event: RunEvent) -> None:
        with lock:
            if event.kind == "started":
                if event.request_id in in_flight.values():
                    same_request.append(event)
                in_flight[event.run_id] = event.request_id
                peak[0] = max(peak[0], len(in_flight))
                lock.notify_all()
                # The first runs hold on until `parallel` are in flight, so every worker has one in hand;
                # a scheduler running fewer at once leaves them waiting out the deadline, and the peak shows it.
                lock.wait_for(lambda: peak[0] >= parallel, timeout=10)
            elif event.kind in ("done", "failed"):
                in_flight.pop(event.run_id, None)

    runs = make_scheduler(ctx, store, clock=FakeClock(T0 + 2 * H + 5 * M), sink=sink).run_due()
    assert [r.status for r in runs] == ["done"] * 6
    assert peak[0] == parallel
    assert same_request == []


# -- serve ----------------------------------------------------------------------------------
def test_serve_stops_the_run_in_hand_as_interrupted_and_leaves_no_file(tmp_path, store_of):
    ctx = make_home(tmp_path)
    seed(ctx, T0, T0 + H, every=0.024)  # 150 000 readings: the export reads them in two chunks
    store = store_of(ctx)
    sr = create(store, recurring("PT1H", T0, catch_up="latest"), T0)
    clock = FakeClock(T0 + H + 5 * S)
    stop = threading.Event()
    seen: list[RunEvent] = []

    def sink(event: RunEvent) -> None:  # stop as the first chunk is counted, before the second one is read
        seen.append(event)
        if event.kind == "progress" and not stop.is_set():
            stop.set()
            assert scheduler._stopping.wait(timeout=30)  # serve has seen `stop` and asks the run in hand to end

    scheduler = make_scheduler(ctx, store, clock=clock, sink=sink)
    thread = threading.Thread(target=scheduler.serve, args=(stop,), kwargs={"grace": 20.0})
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive() and not scheduler.busy
    [run] = runs_of(store, sr.id)
    assert (run.status, run.attempt, run.error) == ("notProcessed", 2, "interrupted")
    assert [e.kind for e in seen if e.run_id] == ["started", "progress", "failed"]
    assert data_files(ctx.paths.exports_dir) == [] and temp_files(ctx.paths.exports_dir) == []
    assert store.lease.holder("scheduler", now=clock().timestamp()) is None


def test_serve_holds_the_scheduler_lease_while_it_serves(tmp_path, store_of):
    ctx = make_home(tmp_path)
    store = store_of(ctx)
    clock = FakeClock(T0)
    scheduler = make_scheduler(ctx, store, clock=clock)
    stop = threading.Event()
    thread = threading.Thread(target=scheduler.serve, args=(stop,))
    thread.start()
    deadline = time.monotonic() + 30
    while store.lease.holder("scheduler", now=clock().timestamp()) is None:
        assert time.monotonic() < deadline, "no lease taken"
        time.sleep(0.02)
    lease = store.lease.holder("scheduler", now=clock().timestamp())
    assert lease["holder"] == scheduler.holder and lease["expires_at"] == clock().timestamp() + 3 * 0.2
    assert Scheduler.served_by_other(store, now=clock().timestamp()) is None  # this very process serves
    other = make_scheduler(ctx, store_of(ctx), clock=clock)
    assert not other.store.lease.acquire("scheduler", other.holder, 1.0, now=clock().timestamp())
    stop.set()
    thread.join(timeout=30)
    assert store.lease.holder("scheduler", now=clock().timestamp()) is None
