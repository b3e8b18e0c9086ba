"""Every running run beats, whoever runs it, and one taken over after its process stalled
records nothing: the run is done once, by the attempt that now holds it, with one file."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sched_fixtures import ACTOR, FakeClock, create, data_files, make_home, one_time, seed, temp_files, utc

from exporter_tui.context import Context
from exporter_tui.core.enums import Origin
from exporter_tui.pipeline.files import manifest_path, sha256_of
from exporter_tui.service.runs import run_now
from exporter_tui.service.scheduling import make_scheduler
from exporter_tui.sources.base import ReadQuery, Source
from exporter_tui.store.runs import Run
from exporter_tui.store.store import Store

T0 = utc(2026, 3, 2)
H = timedelta(hours=1)
TIMEOUT = 2.0  # heartbeat_timeout: a beat every 0.5 s
CONFIG = f'[identity]\nuser = "{ACTOR}"\n[scheduler]\nheartbeat_timeout = {TIMEOUT}\nretry = {{ attempts = 3, backoff = 0 }}\n'


class SlowSource:
    """The embedded source, whose first count (or, with `at = "read"`, first read, when the
    export's temporary file is open) waits until the test lets it go: a readers server slow to
    answer, a retry waiting out a 503. Every later call is the source's own."""

    stalls = 1
    at = "count"

    def __init__(self, inner: Source, entered: threading.Event, gate: threading.Event) -> None:
        self.inner, self.entered, self.gate = inner, entered, gate

    def _stall(self, where: str) -> None:
        if SlowSource.stalls and SlowSource.at == where:
            SlowSource.stalls -= 1
            self.entered.set()
            assert self.gate.wait(30), "the test never let the source go"

    def count(self, query: ReadQuery) -> int:
        self._stall("count")
        return self.inner.count(query)

    def read_columns(self, query: ReadQuery, fields: frozenset[str], chunk_rows: int = 100_000) -> Iterator[Any]:
        self._stall("read")
        yield from self.inner.read_columns(query, fields, chunk_rows)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture
def home(tmp_path, monkeypatch) -> Iterator[tuple[Context, Store, threading.Event, threading.Event]]:
    ctx = make_home(tmp_path, base=CONFIG)
    seed(ctx, T0, T0 + H)
    entered, gate = threading.Event(), threading.Event()
    real = ctx.open_source
    monkeypatch.setattr(SlowSource, "stalls", 1)
    monkeypatch.setattr(SlowSource, "at", "count")
    monkeypatch.setattr(ctx, "open_source", lambda: SlowSource(real(), entered, gate))
    store = ctx.open_store()
    yield ctx, store, entered, gate
    gate.set()
    store.close()


def stalled_run(ctx: Context, store: Store, entered: threading.Event) -> tuple[Run, threading.Thread, list[Run]]:
    """`exporter-tui run` of a new oneTime request, in a thread (its own store, as a process
    has), once it waits on its source: the run, the thread, and the run as it ended (once it has)."""
    sr = create(store, one_time(None, (T0, T0 + H)), T0)
    ended: list[Run] = []
    thread = threading.Thread(target=lambda: ended.append(run_now(ctx, sr.id, origin=Origin.CLI)), daemon=True)
    thread.start()
    assert entered.wait(10)
    [run] = store.runs.page(request_id=sr.id).results
    return run, thread, ended


def test_a_manual_run_waiting_on_its_source_beats_and_no_scheduler_takes_it_for_dead(home) -> None:
    ctx, store, entered, gate = home
    run, thread, ended = stalled_run(ctx, store, entered)
    claimed = store.runs.get(run.id).heartbeat_at
    assert claimed is not None
    deadline = time.monotonic() + 15
    while (store.runs.get(run.id).heartbeat_at or 0) < claimed + TIMEOUT + 0.5:  # beating past the timeout
        assert time.monotonic() < deadline, "the run waiting on its source never beat: any scheduler takes it for dead"
        time.sleep(0.05)
    assert make_scheduler(ctx, store).run_due() == []  # the scheduler of another process: nothing stale, nothing to run
    gate.set()
    thread.join(30)
    assert [(r.id, r.status, r.attempt, r.rows) for r in ended] == [(run.id, "done", 1, 6)]
    assert not any(e["message"].startswith("interrupted") for e in store.run_log.of_run(run.id))
    assert len(data_files(ctx.paths.exports_dir)) == 1


def test_a_run_taken_over_while_its_process_stalled_is_done_once_by_the_new_attempt(home) -> None:
    ctx, store, entered, gate = home
    run, thread, ended = stalled_run(ctx, store, entered)
    # A scheduler whose clock is an hour on finds the stalled attempt's heartbeat stale: it
    # takes the run over, queues it again and runs attempt 2 to the end.
    later = make_scheduler(ctx, store, clock=FakeClock(datetime.now(UTC) + timedelta(hours=1)))
    assert [(r.id, r.status, r.attempt) for r in later.run_due()] == [(run.id, "done", 2)]
    gate.set()  # the stalled attempt wakes up
    thread.join(30)
    assert not thread.is_alive()
    assert [(r.status, r.attempt) for r in ended] == [("done", 2)]  # what it returns is the run as attempt 2 left it
    final = store.runs.get(run.id)
    assert (final.status, final.attempt, final.rows) == ("done", 2, 6)
    assert [p.name for p in data_files(ctx.paths.exports_dir)] == [final.file_path.rsplit("/", 1)[-1]]  # one file: attempt 2's
    assert temp_files(ctx.paths.exports_dir) == []
    assert any("taken over" in e["message"] for e in store.run_log.of_run(run.id) if e["level"] == "warning")


def test_a_stalled_attempt_that_wakes_after_the_new_one_is_done_leaves_the_new_file_alone(home, monkeypatch) -> None:
    ctx, store, entered, gate = home
    monkeypatch.setattr(SlowSource, "at", "read")  # stalled mid-export: its temporary file is open
    run, thread, ended = stalled_run(ctx, store, entered)
    assert temp_files(ctx.paths.exports_dir) != []
    later = make_scheduler(ctx, store, clock=FakeClock(datetime.now(UTC) + timedelta(hours=1)))
    assert [(r.id, r.status, r.attempt) for r in later.run_due()] == [(run.id, "done", 2)]
    done = store.runs.get(run.id)
    published = Path(done.file_path or "")
    assert published.is_file()
    gate.set()  # the stalled attempt wakes up, reads on, finds the run taken over and stops
    thread.join(30)
    assert not thread.is_alive()
    final = store.runs.get(run.id)
    assert (final.status, final.attempt, final.file_path, final.sha256) == ("done", 2, done.file_path, done.sha256)
    assert data_files(ctx.paths.exports_dir) == [published]  # attempt 2's file, still there and whole
    assert sha256_of(published) == final.sha256
    assert json.loads(manifest_path(published).read_text())["sha256"] == final.sha256
    assert temp_files(ctx.paths.exports_dir) == []
    log = store.run_log.of_run(run.id)
    after = log[[e["message"].startswith("wrote ") for e in log].index(True) + 1 :]
    assert [e["level"] for e in after] == ["warning"] and "taken over" in after[0]["message"]  # no error of the stalled attempt's
