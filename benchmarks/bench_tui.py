"""TUI speed: cold start to the first drawn screen, key latency during a big export, 10,000 requests.

    python benchmarks/bench_tui.py [--days 30] [--requests 10000] [--presses 200] [--starts 3]

Prints figures only; nothing is asserted.

- cold start: a fresh interpreter runs the real app headless on a home with data and prints a
  marker from the first refresh after the main screen is mounted; measured from just before
  the process is spawned (so it includes Python start-up and imports).
- key latency: while a run exports `--days` days of 12 targets in its thread worker, cursor keys
  go to the requests table one at a time; the latency is from posting the key to the table
  having moved its cursor (the event loop waits on nothing else meanwhile).
- 10,000 requests: time from app start to the table holding every row, then to jump to the end
  and page back up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from textual import events

from exporter_tui.context import Context, load_context
from exporter_tui.core.validation import parse_request
from exporter_tui.sources.demo import (
    DEMO_CHANNEL,
    DEMO_DEVICES,
    DEMO_METRICS,
    DEMO_SUBTOPIC,
    demo_target,
    generate_demo,
)
from exporter_tui.tui.app import AppOptions, ExporterApp
from exporter_tui.tui.widgets.tables import CHUNK

END = datetime(2025, 3, 10, tzinfo=UTC)
NOW = END + timedelta(hours=12)
CONFIG = '[identity]\nuser = "bench"\n'


def options(**changes) -> AppOptions:
    base = {"clock": lambda: NOW, "scheduler": False, "first_start_demo": False, "poll_seconds": 3600.0}
    base.update(changes)
    return AppOptions(**base)


def home(root: Path, days: float) -> Context:
    root.mkdir(parents=True)
    (root / "config.toml").write_text(CONFIG, encoding="utf-8")
    ctx = load_context(str(root), None)
    ctx.ensure_dirs()
    generate_demo(ctx.paths.source_db, days=days, end=END)
    return ctx


def big_body(days: float) -> dict:
    """Every metric of the three devices on the main channel, `days` of raw readings, as CSV."""
    names = [demo_target(device, metric) for channel, device in DEMO_DEVICES if channel == DEMO_CHANNEL for metric in DEMO_METRICS]
    return {
        "name": "big export",
        "type": "recurring",
        "periodicity": "P1D",
        "periodStart": (END - timedelta(days=days + 1)).timestamp(),
        "format": {"extension": "csv"},
        "items": [
            {
                "params": {
                    "target": {"value": ",".join(names)},
                    "channelId": DEMO_CHANNEL,
                    "subtopic": DEMO_SUBTOPIC,
                    "from": (END - timedelta(days=days)).timestamp(),
                    "to": END.timestamp(),
                }
            }
        ],
    }


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


# -- cold start ---------------------------------------------------------------------------
CHILD = """
import sys, time
from exporter_tui.context import load_context
from exporter_tui.tui.app import ExporterApp, AppOptions
ctx = load_context(sys.argv[1], None)

class Timed(ExporterApp):
    def after_first_draw(self):
        print("FIRST-DRAW", flush=True)
        self.exit(0)

Timed(ctx, options=AppOptions(scheduler=False, first_start_demo=False)).run(headless=True, size=(80, 24))
"""


def cold_start(root: Path, starts: int) -> None:
    timings = []
    for _ in range(starts):
        began = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(root)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            if "FIRST-DRAW" in line:
                timings.append(time.perf_counter() - began)
                break
        proc.wait(timeout=60)
    print(
        f"cold start to the first drawn screen: median {statistics.median(timings) * 1000:.0f} ms "
        f"(min {min(timings) * 1000:.0f}, max {max(timings) * 1000:.0f}; {starts} starts, includes interpreter start-up)"
    )


# -- key latency during an export -----------------------------------------------------------------
async def key_latency(ctx: Context, days: float, presses: int) -> None:
    store = ctx.open_store()
    big = store.requests.create(parse_request(big_body(days)), "bench")
    for i in range(20):
        store.requests.create(parse_request({**big_body(days), "name": f"filler {i}"}), "bench")
    store.close()
    app = ExporterApp(ctx, options=options())
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        table = app.main_screen.requests_table
        table.move_cursor(row=[k for k, _ in table.rows_data].index(big.id))
        table.focus()
        stored = next(r.stored for r in app.main_screen.all_rows if r.stored.id == big.id)
        began = time.perf_counter()
        app.start_run(stored)
        run_workers = [w for w in app.workers if w.group == "run"]
        await asyncio.sleep(0.5)  # the export is under way
        latencies: list[float] = []
        for i in range(presses):
            if not any(w.is_running for w in run_workers):
                break
            before = table.cursor_row
            key = "down" if before == 0 or (i % 2 == 0 and before < table.row_count - 1) else "up"
            sent = time.perf_counter()
            app.post_message(events.Key(key, None))  # as the terminal driver does: bindings, then the focused table
            while table.cursor_row == before and time.perf_counter() - sent < 5:
                await asyncio.sleep(0)
            latencies.append(time.perf_counter() - sent)
            await asyncio.sleep(0.01)  # a fast typist: 100 keys a second
        await app.workers.wait_for_complete(run_workers)
        export_seconds = time.perf_counter() - began
        await pilot.pause()
        run = app.store.runs.page(request_id=big.id).results[0]
    if latencies:
        print(
            f"key latency during a {run.rows:,}-row export ({export_seconds:.1f} s, {run.status}): "
            f"p50 {percentile(latencies, 50) * 1000:.1f} ms, p95 {percentile(latencies, 95) * 1000:.1f} ms, "
            f"max {max(latencies) * 1000:.1f} ms over {len(latencies)} keys"
        )
    else:
        print(f"the export ({run.status}, {run.rows} rows) ended in {export_seconds:.1f} s, before any key was sent; raise --days")


# -- many requests ----------------------------------------------------------------------------------
def small_body() -> dict:
    """A typical request: two targets of one device, a day at a time."""
    body = big_body(1)
    body["items"][0]["params"]["target"] = {
        "value": ",".join(demo_target(DEMO_DEVICES[0][1], m) for m in ("temperature", "humidity")),
        "label": "temperature,humidity",
    }
    return body


def insert_requests(ctx: Context, count: int) -> None:
    """`count` copies of one typical request under new ids, inserted in one transaction (set-up, not measured)."""
    store = ctx.open_store()
    template = store.requests.create(parse_request(small_body()), "bench")
    store.close()
    conn = sqlite3.connect(ctx.paths.database)
    row = conn.execute("SELECT * FROM requests WHERE id = ?", (template.id,)).fetchone()
    columns = [d[0] for d in conn.execute("SELECT * FROM requests LIMIT 0").description]
    body = json.loads(row[columns.index("body")])
    base = datetime(2025, 1, 1, tzinfo=UTC)
    rows = []
    for i in range(count - 1):
        values = list(row)
        values[columns.index("id")] = str(uuid.uuid4())
        values[columns.index("name")] = f"request {i:05d}"
        values[columns.index("body")] = json.dumps({**body, "name": f"request {i:05d}"}, sort_keys=True)
        stamp = (base + timedelta(seconds=i)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        values[columns.index("created_at")] = values[columns.index("updated_at")] = stamp
        rows.append(values)
    with conn:
        conn.executemany(f"INSERT INTO requests ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", rows)
    conn.close()


async def many_requests(ctx: Context, count: int) -> None:
    insert_requests(ctx, count)
    app = ExporterApp(ctx, options=options())
    populate = app.main_screen.populate
    ui_seconds: list[float] = []

    def timed_populate(*args, **kwargs) -> None:  # the part that runs on the UI thread
        began_ui = time.perf_counter()
        populate(*args, **kwargs)
        ui_seconds.append(time.perf_counter() - began_ui)

    app.main_screen.populate = timed_populate  # type: ignore[method-assign]
    began = time.perf_counter()
    async with app.run_test(size=(80, 24)) as pilot:
        while len(app.main_screen.requests_table.rows_data) < count:
            await asyncio.sleep(0.005)
        loaded = time.perf_counter() - began
        table = app.main_screen.requests_table
        await pilot.pause()
        jump = time.perf_counter()
        await pilot.press("ctrl+end")
        at_end = table.cursor_row
        jumped = time.perf_counter() - jump
        page = time.perf_counter()
        for _ in range(20):
            await pilot.press("pageup")
        paged = (time.perf_counter() - page) / 20
        reload = time.perf_counter()
        app.load_requests()
        await app.workers.wait_for_complete()
        await pilot.pause()
        reloaded = time.perf_counter() - reload
    print(
        f"{count:,} requests: table filled {loaded:.2f} s after start (loaded in a worker; on the UI thread "
        f"{ui_seconds[0]:.2f} s for the first {CHUNK} rows, the rest added {CHUNK} at a time between events); "
        f"ctrl+end {jumped * 1000:.0f} ms (to row {at_end:,}); "
        f"page up {paged * 1000:.0f} ms each (pilot's idle waits included); "
        f"reload with no change {reloaded:.2f} s ({ui_seconds[-1]:.3f} s on the UI thread)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=30.0, help="days exported in the latency run")
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--presses", type=int, default=200)
    parser.add_argument("--starts", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ctx = home(root / "latency", args.days)
        cold_start(root / "latency", args.starts)
        asyncio.run(key_latency(ctx, args.days, args.presses))
        asyncio.run(many_requests(home(root / "many", 1), args.requests))


if __name__ == "__main__":
    main()
