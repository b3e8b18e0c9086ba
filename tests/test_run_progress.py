"""`progress` and `total` count source readings; `rows` counts the rows written."""

from __future__ import annotations

from pathlib import Path

from sched_fixtures import create, item, make_home, seed, utc

from exporter_tui.core.validation import parse_request
from exporter_tui.events import RunEvent
from exporter_tui.service.runs import run_now

T0 = utc(2026, 3, 2)


def test_a_decimated_run_counts_readings_in_progress_and_total_and_rows_in_rows(tmp_path: Path) -> None:
    ctx = make_home(tmp_path)
    seed(ctx, T0, utc(2026, 3, 3), every=30.0)  # 2880 readings
    store = ctx.open_store()
    window = {"from": T0.timestamp(), "to": utc(2026, 3, 3).timestamp()}
    body = {"type": "oneTime", "format": {"extension": "csv"}, "items": [item(decimation={"ds": "1h", "dsf": "avg"}, **window)]}
    sr = create(store, parse_request(body), T0)
    seen: list[tuple[str, int | None, int | None]] = []

    def sink(event: RunEvent) -> None:
        if event.kind == "progress" and not seen:  # the first step: what the database holds then
            stored = store.runs.get(event.run_id or "")
            seen.append((stored.status, stored.progress, stored.total))

    run = run_now(ctx, sr.id, origin="cli", store=store, sink=sink)
    assert seen == [("inProgress", 0, 2880)]  # the total is known before any reading is read
    assert (run.status, run.progress, run.total, run.rows) == ("done", 2880, 2880, 24)
    out = run.as_json()
    assert (out["progress"], out["total"], out["rows"]) == (2880, 2880, 24)
    store.close()
