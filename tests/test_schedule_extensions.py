"""delay, periodEnd and days: when intervals run, which run at all, and the Connhex body without them (clock injected)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from conftest import seed_body
from sched_fixtures import FakeClock, create, iso, item, make_home, recurring, runs_of, seed, skips, utc, windows

from exporter_tui.cli.main import main
from exporter_tui.core.errors import RequestInvalid
from exporter_tui.core.validation import parse_request
from exporter_tui.scheduler.schedules import next_runs
from exporter_tui.service.runs import run_now
from exporter_tui.service.scheduling import make_scheduler
from exporter_tui.store.errors import LimitReached

ROME = ZoneInfo("Europe/Rome")
H = timedelta(hours=1)
M = timedelta(minutes=1)
D = timedelta(days=1)


def rome(*args: int) -> datetime:
    return datetime(*args, tzinfo=ROME)


def show_json(ctx, request_id: str, capsys) -> dict:
    capsys.readouterr()
    assert main(["--home", str(ctx.paths.home), "requests", "show", request_id, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


# -- delay ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("delay", "due"),
    [
        ("PT2H", rome(2026, 3, 29, 3)),  # two elapsed hours after midnight: 02:00 does not exist that night
        ("P1D", rome(2026, 3, 30, 0)),  # a calendar day: the wall clock is kept over the change
    ],
)
def test_a_delayed_interval_keeps_its_window_and_runs_its_delay_after_its_end_over_a_dst_change(tmp_path, delay, due, capsys):
    ctx = make_home(tmp_path, 'catch_up = "skip"\n')
    store = ctx.open_store()
    seed(ctx, rome(2026, 3, 27), rome(2026, 3, 31))
    sr = create(store, recurring("P1D", rome(2026, 3, 28), zone="Europe/Rome", delay=delay), rome(2026, 3, 28))
    end = rome(2026, 3, 29)  # interval 1 covers Saturday 28 March, 00:00 .. 00:00 local
    clock = FakeClock(end + M)
    scheduler = make_scheduler(ctx, store, clock=clock)

    nxt = next_runs(store.requests.get(sr.id), clock.now)[0]
    assert nxt["utc"] == iso(due).replace(".000", "") and datetime.fromisoformat(nxt["local"]) == due
    assert nxt["window"] == {"from": iso(rome(2026, 3, 28)), "to": iso(end)}
    assert scheduler.run_due() == []  # the interval has ended, but its run time has not come
    clock.set(due - timedelta(seconds=1))
    assert scheduler.run_due() == []
    with pytest.raises(LimitReached, match="no interval of this request is due yet"):
        run_now(ctx, sr.id, origin="cli", now=clock.now, store=store)

    clock.set(due + 2 * M)  # on time for `skip`: the grace counts from the run time
    runs = scheduler.run_due()
    assert windows(runs) == [(rome(2026, 3, 28), end)]
    assert runs[0].rows == 144 and runs[0].nominal_time == end.timestamp()
    assert skips(store, sr.id) == []
    store.close()


def test_skip_grace_and_max_catchup_count_from_the_run_time_and_run_id_takes_the_last_due(tmp_path):
    ctx = make_home(tmp_path, 'max_catchup = "PT1H"\n')
    store = ctx.open_store()
    t0 = utc(2026, 3, 2)
    seed(ctx, t0, t0 + 12 * H)
    every = create(store, recurring("PT1H", t0, catch_up="all", delay="PT50M"), t0)
    late = create(store, recurring("PT1H", t0, catch_up="skip", delay="PT50M"), t0)
    now = t0 + 3 * H + 30 * M  # interval 3 ended 30 minutes ago but is due at 03:50; 2 was due at 02:50

    ran = make_scheduler(ctx, store, clock=FakeClock(now)).run_due()
    # interval 1 (due 01:50) is older than max_catchup PT1H; interval 2 (due 02:50) is not, though it ended 90 minutes ago
    assert windows([r for r in ran if r.request_id == every.id]) == [(t0 + H, t0 + 2 * H)]
    assert [(s["count"], s["reason"]) for s in skips(store, every.id)] == [(1, "older than max_catchup PT1H")]
    # `skip`: interval 2 was due 40 minutes ago, past the grace: not run
    assert [r for r in ran if r.request_id == late.id] == []

    manual = create(store, recurring("PT1H", t0, delay="PT50M"), t0)
    run = run_now(ctx, manual.id, origin="cli", now=now, store=store)
    assert (run.window_from, run.window_to) == ((t0 + H).timestamp(), (t0 + 2 * H).timestamp())  # not interval 3: not due yet
    store.close()


def test_the_config_delay_is_the_default_and_dry_run_shows_run_times_and_skips(tmp_path, capsys):
    ctx = make_home(tmp_path, 'delay = "PT10M"\ncatch_up = "latest"\n')
    store = ctx.open_store()
    t0 = utc(2026, 3, 2)
    sr = create(store, recurring("PT1H", t0), t0)
    capsys.readouterr()
    assert main(["--home", str(ctx.paths.home), "run-due", "--now", iso(t0 + 3 * H + 5 * M), "--dry-run", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert [(p["action"], p["k"], p["runAt"], p["window"], p["reason"]) for p in plan] == [
        ("skip", 1, iso(t0 + H + 10 * M), {"from": iso(t0), "to": iso(t0 + H)}, "catch-up policy latest"),
        ("run", 2, iso(t0 + 2 * H + 10 * M), {"from": iso(t0 + H), "to": iso(t0 + 2 * H)}, "newest of 2 missed (catch-up latest)"),
    ]
    assert next_runs(sr, t0 + 3 * H + 5 * M, default_delay="PT10M")[0]["utc"] == "2026-03-02T03:10:00Z"
    store.close()


# -- periodEnd --------------------------------------------------------------------------------
def test_period_end_stops_the_schedule_and_the_request_shows_finished(tmp_path, capsys):
    ctx = make_home(tmp_path)
    store = ctx.open_store()
    t0 = utc(2026, 3, 2)
    seed(ctx, t0, t0 + 12 * H)
    body = {
        "type": "recurring",
        "periodicity": "PT1H",
        "periodStart": t0.timestamp(),
        "periodEnd": "2026-03-02T03:30:00Z",  # ISO, like periodStart: the last interval ends at 03:00
        "catchUp": "all",
        "format": {"extension": "csv"},
        "items": [item()],
    }
    sr = create(store, parse_request(body), t0)
    clock = FakeClock(t0 + 2 * H + M)
    scheduler = make_scheduler(ctx, store, clock=clock)
    assert windows(scheduler.run_due()) == [(t0, t0 + H), (t0 + H, t0 + 2 * H)]
    assert show_json(ctx, sr.id, capsys)["finished"] is False
    assert [t["utc"] for t in next_runs(sr, clock.now)] == ["2026-03-02T03:00:00Z"]

    clock.set(t0 + 10 * H)
    assert windows(scheduler.run_due()) == [(t0 + 2 * H, t0 + 3 * H)]
    assert scheduler.run_due() == []
    assert max(r.window_to for r in runs_of(store, sr.id)) == (t0 + 3 * H).timestamp()  # nothing after 03:00 is exported
    assert show_json(ctx, sr.id, capsys)["finished"] is True
    assert next_runs(sr, clock.now) == []
    assert main(["--home", str(ctx.paths.home), "run-due", "--now", iso(t0 + 11 * H), "--dry-run", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    store.close()


# -- days -------------------------------------------------------------------------------------
WORKDAYS = ["mon", "tue", "wed", "thu", "fri"]


def test_working_days_run_friday_skip_the_weekend_once_and_resume_on_monday(tmp_path, capsys):
    ctx = make_home(tmp_path, 'catch_up = "skip"\n')
    store = ctx.open_store()
    thursday = rome(2026, 3, 26)  # Thursday; summer time begins on Sunday the 29th
    seed(ctx, thursday, rome(2026, 4, 2), every=3600.0)
    sr = create(store, recurring("P1D", thursday, zone="Europe/Rome", days=WORKDAYS), thursday)
    clock = FakeClock(thursday)
    scheduler = make_scheduler(ctx, store, clock=clock)

    def tick_at(when: datetime) -> list:
        clock.set(when + M)
        return windows(scheduler.run_due())

    assert tick_at(rome(2026, 3, 27)) == [(rome(2026, 3, 26), rome(2026, 3, 27))]  # Thursday's data
    assert tick_at(rome(2026, 3, 28)) == [(rome(2026, 3, 27), rome(2026, 3, 28))]  # Friday's data
    assert [t["local"] for t in next_runs(sr, clock.now, count=2)] == ["2026-03-31T00:00:00+02:00", "2026-04-01T00:00:00+02:00"]
    assert tick_at(rome(2026, 3, 29)) == []  # Saturday's interval: not a listed day
    assert tick_at(rome(2026, 3, 30)) == []  # Sunday's
    assert skips(store, sr.id) == []  # the weekend is decided as one range, once it is whole
    assert tick_at(rome(2026, 3, 31)) == [(rome(2026, 3, 30), rome(2026, 3, 31))]  # Monday's data
    assert skips(store, sr.id) == [
        {
            "from": iso(rome(2026, 3, 28)),
            "to": iso(rome(2026, 3, 30)),
            "count": 2,
            "reason": "days",
            "through": rome(2026, 3, 30).timestamp(),
        }
    ]
    assert [r.rows for r in runs_of(store, sr.id)] == [24, 24, 24]
    store.close()


def test_catching_up_all_over_a_weekend_runs_the_working_days_oldest_first(tmp_path, capsys):
    ctx = make_home(tmp_path)
    store = ctx.open_store()
    thursday = utc(2026, 3, 5)
    seed(ctx, thursday, thursday + 7 * D, every=3600.0)
    sr = create(store, recurring("P1D", thursday, catch_up="all", days=WORKDAYS), thursday)
    now = thursday + 6 * D + H  # Wednesday 01:00: Thursday .. Tuesday have ended
    capsys.readouterr()
    assert main(["--home", str(ctx.paths.home), "run-due", "--now", iso(now), "--dry-run", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert [(p["action"], p["k"], p["reason"]) for p in plan] == [
        ("run", 1, "missed, catch-up all (1 of 2)"),
        ("run", 2, "missed, catch-up all (2 of 2)"),
        ("skip", 3, "days"),
        ("run", 5, "missed, catch-up all (1 of 2)"),
        ("run", 6, "missed, catch-up all (2 of 2)"),
    ]
    runs = make_scheduler(ctx, store, clock=FakeClock(now)).run_due()
    assert [w[0].strftime("%a") for w in windows(runs)] == ["Thu", "Fri", "Mon", "Tue"]
    assert [(s["count"], s["reason"]) for s in skips(store, sr.id)] == [(2, "days")]
    store.close()


# -- refusals ---------------------------------------------------------------------------------
def body_with(**fields) -> dict:
    body = {"type": "recurring", "periodicity": "P1D", "periodStart": 1_772_409_600, "format": {"extension": "csv"}, "items": [item()]}
    body.update(fields)
    return body


@pytest.mark.parametrize(
    ("fields", "path", "reason"),
    [
        ({"delay": "-PT1H"}, "delay", "must not be negative"),
        ({"delay": "soon"}, "delay", "is not an ISO 8601 duration"),
        ({"periodEnd": 1_772_409_600}, "periodEnd", "must be after periodStart"),
        ({"periodEnd": "2026-03-01T00:00:00Z"}, "periodEnd", "must be after periodStart"),
        ({"type": "oneTime", "periodicity": None, "periodEnd": 1_772_496_000}, "periodEnd", "must be absent for a oneTime request"),
        ({"periodicity": "P1W", "days": ["mon"]}, "days", "needs a periodicity of at most P1D"),
        ({"periodicity": "PT25H", "days": ["mon"]}, "days", "needs a periodicity of at most P1D"),
        ({"days": ["monday"]}, "days[0]", "must be one of"),
        ({"days": []}, "days", "at least 1"),
        ({"days": ["mon", "mon"]}, "days", "lists a day twice"),
        ({"rerunLate": "yes"}, "rerunLate", "valid boolean"),
        ({"rerunLate": 1}, "rerunLate", "valid boolean"),
    ],
)
def test_bad_extensions_are_refused_naming_the_field(fields, path, reason):
    body = {k: v for k, v in body_with(**fields).items() if v is not None}
    if body["type"] == "oneTime":
        body["items"] = [item(**{"from": 1_772_409_600, "to": 1_772_496_000})]
    with pytest.raises(RequestInvalid) as caught:
        parse_request(body)
    assert [(e.path, reason in e.reason) for e in caught.value.errors] == [(path, True)], caught.value.errors


def test_a_delay_longer_than_max_catchup_is_refused_and_nothing_is_stored(tmp_path, capsys):
    ctx = make_home(tmp_path, 'max_catchup = "P2D"\n')
    path = tmp_path / "b.json"
    path.write_text(json.dumps(body_with(delay="P3D")))
    capsys.readouterr()
    assert main(["--home", str(ctx.paths.home), "requests", "create", str(path)]) != 0
    err = capsys.readouterr().err
    assert "delay" in err and "longer than scheduler.max_catchup P2D" in err
    store = ctx.open_store()
    assert store.requests.page(1, 10).total == 0
    store.close()
    path.write_text(json.dumps(body_with(delay="P2D")))
    assert main(["--home", str(ctx.paths.home), "requests", "create", str(path)]) == 0


# -- export --connhex -------------------------------------------------------------------------
def test_export_prints_every_extension_and_connhex_drops_them_saying_which(tmp_path, capsys):
    ctx = make_home(tmp_path)
    body = seed_body("1.1")
    body.update(
        name="weekdays",
        periodicity="P1D",
        catchUp="all",
        delay="PT15M",
        periodStart=1_772_409_600,
        periodEnd=1_772_409_600 + 30 * 86400,
        days=WORKDAYS,
        rerunLate=True,
    )
    body["format"]["dateFormat"] = "LL"
    path = tmp_path / "b.json"
    path.write_text(json.dumps(body))
    home = ["--home", str(ctx.paths.home)]
    assert main([*home, "requests", "create", str(path)]) == 0
    rid = json.loads(capsys.readouterr().out)["id"]

    assert main([*home, "requests", "export", rid]) == 0
    full = json.loads(capsys.readouterr().out)
    assert {k: full[k] for k in ("name", "catchUp", "delay", "periodEnd", "days", "rerunLate")} == {
        "name": "weekdays",
        "catchUp": "all",
        "delay": "PT15M",
        "periodEnd": body["periodEnd"],
        "days": WORKDAYS,
        "rerunLate": True,
    }
    assert full["format"]["dateFormat"] == "LL"

    assert main([*home, "requests", "export", rid, "--connhex"]) == 0
    out = capsys.readouterr()
    plain = json.loads(out.out)
    assert "name, catchUp, dateFormat, delay, periodEnd, days, rerunLate" in out.err
    extensions = ("name", "catchUp", "delay", "periodEnd", "days", "rerunLate")
    assert not set(extensions) & plain.keys() and "dateFormat" not in plain["format"]
    assert plain == {k: v for k, v in full.items() if k not in extensions} | {
        "format": {k: v for k, v in full["format"].items() if k != "dateFormat"}
    }
    assert parse_request(plain).periodicity == "P1D"  # still a valid body


@pytest.mark.asyncio
async def test_the_requests_table_shows_finished_once_the_last_interval_ran(tmp_path):
    from snapshot_apps.tui_homes import FIXED_NOW, hourly_body, make_app, settle
    from snapshot_apps.tui_homes import make_home as tui_home

    ctx = tui_home(tmp_path / "home", demo=False)
    store = ctx.open_store()
    ended = store.requests.create(parse_request(hourly_body("ended", periodEnd="2025-03-05T00:00:00Z", catchUp="latest")), "tester")
    going = store.requests.create(parse_request(hourly_body("going", periodEnd="2025-04-01T00:00:00Z")), "tester")
    make_scheduler(ctx, store).run_due(FIXED_NOW)
    assert [r.window_to for r in runs_of(store, ended.id)] == [utc(2025, 3, 5).timestamp()]
    app = make_app(ctx)
    async with app.run_test() as pilot:
        await settle(pilot)
        rows = dict(app.main_screen.requests_table.rows_data)
        assert rows[ended.id]["next"] == "finished"
        assert rows[going.id]["next"] == "03-11 01:00+01"
    store.close()


def test_a_config_delay_longer_than_max_catchup_is_refused_naming_it(tmp_path):
    from exporter_tui.config import ConfigError

    with pytest.raises(ConfigError, match="scheduler: .*delay: P8D is longer than scheduler.max_catchup P7D"):
        make_home(tmp_path, 'delay = "P8D"\n')


@pytest.mark.asyncio
async def test_the_compose_form_shows_and_keeps_the_extensions_when_a_request_is_edited(tmp_path):
    from snapshot_apps.tui_homes import hourly_body, make_app, settle
    from snapshot_apps.tui_homes import make_home as tui_home

    from exporter_tui.tui.screens.compose import ComposeScreen

    ctx = tui_home(tmp_path / "home", demo=False)
    store = ctx.open_store()
    body = hourly_body("weekdays", delay="PT15M", periodEnd="2025-04-01T00:00:00Z", days=WORKDAYS)
    stored = store.requests.create(parse_request(body), "tester")
    app = make_app(ctx)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        compose = app.screen
        assert isinstance(compose, ComposeScreen)
        assert (compose.form.field("delay").raw(), compose.form.field("days").raw()) == ("PT15M", "mon,tue,wed,thu,fri")
        assert compose.form.field("periodEnd").raw() == "2025-04-01T02:00:00+02:00"  # shown in the request's zone
        assert compose.form.load_problems == {} and compose.form.valid is not None
        compose.form.field("days").control.value = "mon,wed"
        await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
    again = store.requests.get(stored.id).request
    assert (again.delay, again.period_end, again.days) == ("PT15M", utc(2025, 4, 1).timestamp(), ["mon", "wed"])
    store.close()


def test_the_preview_covers_what_run_id_would_take_on_a_weekend_with_a_delay():
    from exporter_tui.pipeline.preview import preview_windows

    request = recurring("P1D", utc(2026, 3, 2), days=WORKDAYS, delay="PT3H")
    sunday = utc(2026, 3, 8, 12)  # Saturday's and Sunday's intervals are not listed: Friday's is the last to run
    assert preview_windows(request, sunday) == [(utc(2026, 3, 6).timestamp(), utc(2026, 3, 7).timestamp())]
    assert preview_windows(request, utc(2026, 3, 6, 2)) == [(utc(2026, 3, 4).timestamp(), utc(2026, 3, 5).timestamp())]  # 03:00 not yet
