"""The monkey suite: seeded random keys across every screen of the real app (monkey.py),
on a home with a big source (big_source.py) while an export is running, and never a crash
(an exception in the app) or a hang (a key not answered within 30 s).

The export is real and kept running: its reads are paced (small chunks, a short pause
after each), and whenever no run is in progress one is started again, its request
re-created if the keys deleted it. The keys may quit through the command palette; a new
app then opens on the same home. The test runs in its own folder with HOME and the
downloads folder pointed inside it, so what the keys write (an exported body, a palette
screenshot) stays there.

Short size: one seed of 300 keys. Full size (`--full` or EXPORTER_TUI_FULL=1): five seeds
of 2,000. EXPORTER_TUI_MONKEY_SEED (and EXPORTER_TUI_MONKEY_KEYS) replay one seed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from big_source import big_body, make_big_home
from monkey import HANG_SECONDS, SIZES, MonkeyFailure, Tally, Watchdog, draw_keys, key_pool, press_keys, quit_app, stuck_state
from reliability_report import report
from snapshot_apps.tui_homes import days_ago, make_app, settle

from exporter_tui.context import Context
from exporter_tui.core.validation import parse_request
from exporter_tui.events import RunEvent
from exporter_tui.pipeline import streams
from exporter_tui.store.errors import NotFound
from exporter_tui.tui.app import ExporterApp

SHORT = (1, 300)  # seeds, keys per seed
FULL = (5, 2_000)
FIRST_SEED = 1201
PACE_CHUNK_ROWS = 2_000
PACE_SECONDS = 0.05
UPKEEP_EVERY = 20  # keys between checks that an export is running


def raw_body() -> dict[str, Any]:
    """The big request without decimation: an export that reads every reading."""
    body = big_body()
    body["name"] = "Raw export"
    del body["items"][0]["params"]["decimation"]
    return body


def paced(read: Any) -> Any:
    """`streams.read_stream` in small chunks with a pause after each: an export that runs for seconds."""

    def reading(source: Any, query: Any, fields: Any, chunk_rows: int) -> Iterator[Any]:
        for chunk in read(source, query, fields, min(chunk_rows, PACE_CHUNK_ROWS)):
            yield chunk
            time.sleep(PACE_SECONDS)

    return reading


class Upkeep:
    """Keeps an export of the raw request running in the app under test."""

    def __init__(self, ctx: Context, request_id: str) -> None:
        self.ctx = ctx
        self.request_id = request_id
        self.started = 0

    def __call__(self, app: ExporterApp, i: int) -> None:
        if i % UPKEEP_EVERY or any(w.group == "run" and w.is_running for w in app.workers):
            return
        try:
            stored = app.store.requests.get(self.request_id)
        except NotFound:
            stored = None
        if stored is None:
            stored = app.store.requests.create(parse_request(raw_body()), "tester", now=days_ago(1))
            self.request_id = stored.id
        app.start_run(stored)
        self.started += 1


def errors_into(tally: Tally, log_event: Callable[[RunEvent], None]) -> Callable[[RunEvent], None]:
    """The app's log_event, also keeping the error lines (a failed worker, a refused action)."""

    def logged(event: RunEvent) -> None:
        if event.kind == "error":
            tally.worker_errors.append(event.message)
        log_event(event)

    return logged


def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the keys write outside the home lands in the test's folder."""
    monkeypatch.chdir(tmp_path)
    for var in ("HOME", "XDG_DOWNLOAD_DIR", "XDG_CONFIG_HOME", "XDG_DATA_HOME"):
        folder = tmp_path / var.lower()
        folder.mkdir(exist_ok=True)
        monkeypatch.setenv(var, str(folder))


async def run_seed(root: Path, seed: int, count: int, tally: Tally, watchdog: Watchdog) -> Upkeep:
    ctx, _ = make_big_home(root)
    with ctx.open_store() as store:
        upkeep = Upkeep(ctx, store.requests.create(parse_request(raw_body()), "tester", now=days_ago(2)).id)
    keys = draw_keys(seed, count)
    tally.seeds.append(seed)
    at, session = 0, 0
    while at < len(keys):
        if session:
            tally.restarts += 1
        app = make_app(ctx, poll_seconds=1.0)
        app.log_event = errors_into(tally, app.log_event)  # type: ignore[method-assign]
        try:
            async with app.run_test(size=SIZES[session % len(SIZES)], notifications=True) as pilot:
                await settle(pilot)
                at = await press_keys(app, seed, keys, at, tally, watchdog, lambda i, app=app: upkeep(app, i))
                if app.is_running:
                    try:
                        quitting = time.monotonic()
                        await quit_app(app, quitting + HANG_SECONDS)
                        tally.quit_seconds.append(time.monotonic() - quitting)
                    except TimeoutError:
                        raise MonkeyFailure(
                            f"hang: the app did not quit within {HANG_SECONDS:.0f} s (seed {seed}); {stuck_state(app)}"
                        ) from None
        except MonkeyFailure:
            raise
        except Exception as e:  # the app raised (run_test re-raises what crashed it)
            raise MonkeyFailure(f"crash at key {at} of seed {seed}: {type(e).__name__}: {e}") from e
        session += 1
    return upkeep


@pytest.mark.asyncio
@pytest.mark.slow  # hundreds of keys, each waited for
@pytest.mark.timeout(0)  # the full size runs for many minutes; hangs are the watchdog's to catch
async def test_random_keys_never_crash_or_hang_the_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, full_size: bool) -> None:
    sandbox(tmp_path, monkeypatch)
    monkeypatch.setattr(streams, "read_stream", paced(streams.read_stream))
    seeds, count = FULL if full_size else SHORT
    chosen = (
        [int(os.environ["EXPORTER_TUI_MONKEY_SEED"])]
        if os.environ.get("EXPORTER_TUI_MONKEY_SEED")
        else list(range(FIRST_SEED, FIRST_SEED + seeds))
    )
    count = int(os.environ.get("EXPORTER_TUI_MONKEY_KEYS", count))
    tally = Tally()
    started = time.monotonic()
    runs = 0
    with Watchdog(HANG_SECONDS + 15) as watchdog:
        for seed in chosen:
            upkeep = await run_seed(tmp_path / f"seed-{seed}", seed, count, tally, watchdog)
            runs += upkeep.started
    bound, plain = key_pool()
    load = os.getloadavg()[0]
    report(
        "monkey",
        full=full_size,
        seeds=len(tally.seeds),
        keys=tally.keys,
        bound_keys=len(bound),
        plain_keys=len(plain),
        screens=len(tally.screens),
        restarts=tally.restarts,
        runs_started=runs,
        crashes=0,
        hangs=0,
        p50_ms=round(tally.quantile(0.50) * 1000, 1),
        p99_ms=round(tally.quantile(0.99) * 1000, 1),
        max_ms=round(max(tally.answer_seconds) * 1000, 1),
        quit_max_ms=round(max(tally.quit_seconds, default=0.0) * 1000, 1),
        seconds=round(time.monotonic() - started, 1),
        load=round(load, 2),
    )
    print("keys per screen:", ", ".join(f"{name} {n}" for name, n in sorted(tally.screens.items(), key=lambda kv: -kv[1])))
    print("slowest keys:", *(f"{t * 1000:.0f} ms {key} ({a} -> {b})" for t, key, a, b in tally.slowest), sep="\n  ")
    print("error lines in the log:", *tally.worker_errors[:20], sep="\n  ")
    assert tally.keys >= 0.9 * count * len(chosen)  # most keys were answered (the rest quit the app)
