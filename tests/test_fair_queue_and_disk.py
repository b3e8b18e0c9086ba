"""The fair queue between owners, `max_queued_runs` per owner, and the disk budget, on a real SQLite file and real export files."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from api_server import wait_until
from sched_fixtures import FakeClock, make_home, one_time, seed, utc

from exporter_tui.events import RunEvent
from exporter_tui.pipeline.files import manifest_path
from exporter_tui.service.scheduling import ExportRuns, make_scheduler
from exporter_tui.store.errors import QUEUE_FULL, LimitReached
from exporter_tui.store.store import Store

T0 = utc(2026, 3, 2)
MB = 1024 * 1024


@pytest.fixture
def store_of():
    opened: list[Store] = []

    def open_(ctx) -> Store:
        opened.append(ctx.open_store())
        return opened[-1]

    yield open_
    for s in opened:
        s.close()


def at(minutes: int):
    return utc(2026, 3, 2, 12, minutes)


def test_one_owners_queue_does_not_hold_back_another_owners_run(tmp_path, store_of):
    ctx = make_home(tmp_path, "max_parallel = 1\n")
    store = store_of(ctx)
    seed(ctx, T0, utc(2026, 3, 2, 6))
    a = [store.requests.create(one_time(None, (T0, utc(2026, 3, 2, 1))), "alice", now=at(i)).id for i in range(5)]
    b = store.requests.create(one_time(None, (T0, utc(2026, 3, 2, 1))), "bob", now=at(5)).id
    lock = threading.Lock()
    started: list[str] = []

    def sink(event: RunEvent) -> None:
        if event.kind == "started":
            with lock:
                started.append(event.request_id or "")

    runs = make_scheduler(ctx, store, clock=FakeClock(at(10)), sink=sink).run_due()
    assert [r.status for r in runs] == ["done"] * 6
    # bob's one run is started second, not sixth; alice's keep their FIFO order
    assert started == [a[0], b, *a[1:]]


def test_max_queued_runs_counts_per_owner(tmp_path, store_of):
    ctx = make_home(tmp_path, "[limits]\nmax_queued_runs = 2\n")
    store = store_of(ctx)
    later = one_time(utc(2026, 4, 1), (T0, utc(2026, 3, 2, 1)))  # waits for its periodStart: stays queued
    for i in range(2):
        store.requests.create(later, "alice", max_queued=2, now=at(i))
    with pytest.raises(LimitReached, match=QUEUE_FULL):
        store.requests.create(later, "alice", max_queued=2, now=at(3))
    bobs = store.requests.create(later, "bob", max_queued=2, now=at(4))
    assert store.runs.page(request_id=bobs.id).results[0].status == "notProcessed"
    assert store.requests.page(owner="alice").total == 2


def test_over_the_disk_budget_the_oldest_files_go_first_and_never_the_newest(tmp_path, store_of):
    ctx = make_home(tmp_path)
    store = store_of(ctx)
    seed(ctx, T0, utc(2026, 3, 2, 6), every=10.0)
    done = []
    for i in range(3):  # one after the other: finished in this order
        store.requests.create(one_time(None, (T0, utc(2026, 3, 2, 2))), "alice", now=at(i))
        [run] = make_scheduler(ctx, store, clock=FakeClock(at(i))).run_due()
        done.append(run)
    sizes = [ExportRuns(ctx).disk_usage(r) for r in done]
    assert all(s > 1000 for s in sizes)
    files = [Path(r.file_path or "") for r in done]
    assert all(f.exists() for f in files)

    # room for the two newest and half the oldest: the oldest expires, file and manifest gone
    budget = (sizes[1] + sizes[2] + sizes[0] / 2) / MB
    ctx = make_home(tmp_path, f"[exports]\nmax_disk_mb = {budget}\n")
    scheduler = make_scheduler(ctx, store, clock=FakeClock(at(10)))
    assert scheduler.run_due() == []
    assert [store.runs.get(r.id).status for r in done] == ["expired", "done", "done"]
    assert [f.exists() for f in files] == [False, True, True]
    assert not manifest_path(files[0]).exists()
    assert store.audit.page(entity_id=done[0].id, action="expire").total == 1

    # a budget smaller than one file: everything but the newest goes
    ctx = make_home(tmp_path, "[exports]\nmax_disk_mb = 0.000001\n")
    make_scheduler(ctx, store, clock=FakeClock(at(11))).run_due()
    assert [store.runs.get(r.id).status for r in done] == ["expired", "expired", "done"]
    assert [f.exists() for f in files] == [False, False, True]


def test_a_slot_that_frees_takes_the_run_another_owner_queued_meanwhile(tmp_path, store_of):
    ctx = make_home(tmp_path, "max_parallel = 1\n")
    store, watch = store_of(ctx), store_of(ctx)
    seed(ctx, T0, utc(2026, 3, 2, 6))
    window = (T0, utc(2026, 3, 2, 1))
    a = [store.requests.create(one_time(None, window), "alice").id for _ in range(5)]
    release = threading.Event()
    lock = threading.Lock()
    started: list[str] = []

    def sink(event: RunEvent) -> None:
        if event.kind == "started":
            with lock:
                started.append(event.request_id or "")
                first = len(started) == 1
            if first:  # alice's first run holds the only slot while the others wait
                release.wait(30)

    scheduler = make_scheduler(ctx, store, sink=sink)
    stop = threading.Event()
    thread = threading.Thread(target=scheduler.serve, args=(stop,))
    thread.start()
    try:
        wait_until(lambda: started, what="alice's first run to start")
        b = watch.requests.create(one_time(None, window), "bob").id
        renewals: set[float] = set()

        def two_ticks() -> bool:  # each tick renews the lease first: after two, a whole tick saw bob's request
            lease = watch.lease.holder("scheduler")
            renewals.add(lease["expires_at"] if lease else 0.0)
            return len(renewals) > 2

        wait_until(two_ticks, what="two scheduler ticks")
        release.set()
        wait_until(lambda: watch.runs.page(status="done").total == 6, what="the six runs")
    finally:
        release.set()
        stop.set()
        thread.join(30)
    assert started == [a[0], b, *a[1:]]
