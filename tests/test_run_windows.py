"""A run's `window` is the union of the data its items export, and `windows` says each item's."""

from __future__ import annotations

import json
from pathlib import Path

from old_schema import downgrade
from sched_fixtures import create, item, make_home, seed, utc

from exporter_tui.core.validation import parse_request
from exporter_tui.service.scheduling import make_scheduler
from exporter_tui.store.store import Store

T0 = utc(2026, 3, 2)


def two_items(**extra) -> dict:
    return {
        "type": "recurring",
        "periodicity": "P1D",
        "periodStart": T0.timestamp(),
        "format": {"extension": "csv"},
        "items": [item(period="P7D"), item()],
        **extra,
    }


def test_the_run_window_is_the_union_of_the_items_windows_and_each_is_listed(tmp_path: Path) -> None:
    ctx = make_home(tmp_path)
    seed(ctx, utc(2026, 2, 20), utc(2026, 3, 4))
    store = ctx.open_store()
    create(store, parse_request(two_items()), T0)
    [run] = make_scheduler(ctx, store).run_due(utc(2026, 3, 3, 0, 1))
    out = run.as_json()
    assert out["window"] == {"from": "2026-02-24T00:00:00.000Z", "to": "2026-03-03T00:00:00.000Z"}
    assert out["windows"] == [
        {"item": 0, "from": "2026-02-24T00:00:00.000Z", "to": "2026-03-03T00:00:00.000Z"},
        {"item": 1, "from": "2026-03-02T00:00:00.000Z", "to": "2026-03-03T00:00:00.000Z"},
    ]
    assert run.rows == 7 * 144 + 144
    store.close()


def test_a_queued_one_time_run_shows_its_windows_before_it_runs(tmp_path: Path) -> None:
    ctx = make_home(tmp_path)
    store = ctx.open_store()
    body = {
        "type": "oneTime",
        "format": {"extension": "csv"},
        "items": [item(**{"from": T0.timestamp(), "to": utc(2026, 3, 3).timestamp()})],
    }
    sr = create(store, parse_request(body), T0)
    [queued] = store.runs.page(request_id=sr.id).results
    assert queued.as_json()["windows"] == [{"item": 0, "from": "2026-03-02T00:00:00.000Z", "to": "2026-03-03T00:00:00.000Z"}]
    store.close()


def test_runs_stored_before_the_upgrade_get_their_windows(tmp_path: Path) -> None:
    path = tmp_path / "exporter.db"
    store = Store(path)
    sr = store.requests.create(parse_request(two_items()), "tester", now=T0)
    store.runs.claim_interval(sr.id, utc(2026, 3, 3).timestamp(), (T0.timestamp(), utc(2026, 3, 3).timestamp()), "me:1")
    store.close()
    downgrade(path, 2)  # as version 2 stored it: no item_windows
    store = Store(path)
    [run] = store.runs.page().results
    assert json.loads(run.item_windows or "null") == [
        [utc(2026, 2, 24).timestamp(), utc(2026, 3, 3).timestamp()],
        [T0.timestamp(), utc(2026, 3, 3).timestamp()],
    ]
    assert run.as_json()["window"]["from"] == "2026-02-24T00:00:00.000Z"
    store.close()
