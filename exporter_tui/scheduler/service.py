"""The scheduler: every due interval runs exactly once, at the right instant or when caught up.

One tick (`run_due` does one and waits for it; `serve` ticks every `scheduler.tick` until
stopped):
1. recover: a run inProgress whose heartbeat stopped (its process died) is taken over, its
   partial files are removed, and it is retried in the same row under the retry policy (or
   fails as "interrupted" when no attempt is left);
2. retention: done runs older than `exports.retention_days`, then the oldest ones past the
   disk budget `exports.max_disk_mb` (never the newest), lose their file and manifest and
   become expired;
3. late data: done runs whose interval ended less than `scheduler.late_check_for` ago are
   counted again every `scheduler.late_check_every` (the `RunLife`'s `recount` says what a count finds);
4. work: every request with queued runs due (oneTime, manual, retries) or due intervals (t_k + delay
   passed) not yet decided waits for a slot on a pool of `scheduler.max_parallel` threads. A job has its own
   Store connection and Source; it runs the request's queued runs, then decides and claims the
   request's intervals one at a time (so `all` catches up oldest first) until none is left.

The fair queue: when a slot frees, it takes the waiting request of the owner whose last start
is oldest (an owner who never started a run first), and of that owner's the one waiting
longest; so one owner's many runs never hold back another's single one, and each owner's runs
keep their FIFO order. Last starts are read from the database (every process's runs count)
and from this scheduler's own picks not yet claimed.

What a run does (its export, its files, its messages) is not the scheduler's business: the
service layer hands it a `RunLife` (service/scheduling.py), as a job function is handed to a
scheduler, and the scheduler decides only when each run happens and who runs it.

Correctness never rests on this process being alone or on the lease: every claim, skip
decision, recovery and expiry is a conditional write in one transaction (see ledger.py).
Two clocks matter: the schedule instant (`now`, which `run-due --now` may set) decides what is
due; the injectable `clock` stamps heartbeats and claims and judges which runs are stale.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from exporter_tui.config import SchedulerSettings
from exporter_tui.context import Context
from exporter_tui.core.durations import parse_duration, shift_back
from exporter_tui.core.enums import FINISHED, EventKind, Origin, RunStatus
from exporter_tui.core.times import iso_from_unix, unix_from_iso, utc_now
from exporter_tui.events import EventSink, RunEvent, ignore
from exporter_tui.scheduler import ledger
from exporter_tui.scheduler.planner import PlannedInterval, Rules, decisions, interval_bounds, pending, skip_detail, watermark
from exporter_tui.scheduler.schedules import schedule_of
from exporter_tui.store.errors import NotFound, StoreError
from exporter_tui.store.requests import StoredRequest
from exporter_tui.store.runs import Run
from exporter_tui.store.store import Store

Clock = Callable[[], datetime]
RetryAt = Callable[[Run], float | None]
LEASE = "scheduler"
QUEUED_LIMIT = 1000  # queued runs looked at per tick
PLAN_LIMIT = 1000  # intervals `plan` lists per request (catch-up `all` over a long gap)
LATE_LIMIT = 100  # done runs counted again per tick (the longest uncounted first)


def utc_clock() -> datetime:
    return utc_now()


def holder_id() -> str:
    """Who claims runs: host and process, so a stale claim can be told from a live one."""
    return f"{socket.gethostname()}:{os.getpid()}"


class RunLife(Protocol):
    """What happens to a run the scheduler claimed, found dead or let expire."""

    def execute(self, store: Store, run: Run, *, sink: EventSink, should_stop: Callable[[], bool], retry_at: RetryAt) -> Run:
        """Export a claimed (inProgress) run, keeping its heartbeat while it runs, and record how it
        ended; `retry_at` says when a failed attempt runs again."""
        ...

    def interrupted(self, run: Run) -> int:
        """Remove what a run whose process died left behind; the number of partial files removed."""
        ...

    def failed_for_good(self, store: Store, run: Run, sink: EventSink) -> None:
        """A run that ended failed with no attempt left (its onFailure messages go)."""
        ...

    def expired(self, run: Run) -> str:
        """Delete the file of a run past the retention; a note saying what was done."""
        ...

    def disk_usage(self, run: Run) -> int:
        """Bytes the done run's files take on disk (what the disk budget counts)."""
        ...

    def recount(self, store: Store, runs: list[Run], sink: EventSink) -> None:
        """Count the done runs' targets again and note late readings (never raises for a source that cannot be read)."""
        ...


def _takes_runs(stored: StoredRequest | None, run: Run) -> bool:
    """Queued runs of a paused request wait, unless someone asked for them by hand."""
    return stored is not None and (not stored.paused or run.origin != Origin.SCHEDULE)


@dataclass
class Waiting:
    """A request with work, waiting for a slot."""

    request_id: str
    owner: str
    since: float  # when its oldest queued run was queued, or its oldest undecided interval ended
    queued: list[str]  # its queued runs due, oldest first
    now: datetime | None = None  # the tick's schedule instant (None: the clock)


class Scheduler:
    def __init__(
        self,
        ctx: Context,
        store: Store,
        runs: RunLife,
        *,
        sink: EventSink = ignore,
        clock: Clock | None = None,
        holder: str | None = None,
    ):
        """`store` serves the calling thread; `sink` is called from worker threads too."""
        self.ctx = ctx
        self.store = store
        self.runs = runs
        self.sink = sink
        self.clock: Clock = clock or utc_clock
        self.holder = holder or f"{holder_id()}:{uuid.uuid4().hex[:6]}"
        self._stopping = threading.Event()
        self._futures: list[Future[list[Run]]] = []
        self._queue_lock = threading.Lock()  # guards the three below
        self._waiting: dict[str, Waiting] = {}  # request id -> its work, until a slot takes it
        self._active: set[str] = set()  # request ids a slot is working on
        self._picked: dict[str, float] = {}  # owner -> when a slot last took work of theirs
        self._running: set[str] = set()  # run ids executing in this scheduler
        self._running_lock = threading.Lock()
        self._shared_told = False

    @property
    def settings(self) -> SchedulerSettings:
        return self.ctx.settings.scheduler

    @property
    def busy(self) -> bool:
        """Whether jobs are still running (after `serve` returned, the ones that did not stop in time)."""
        return any(not f.done() for f in self._futures)

    # -- what is due ---------------------------------------------------------------------
    def plan(self, now: datetime) -> list[PlannedInterval]:
        """The runs `run_due(now)` would start, oldest first per request; writes nothing."""
        active = {sr.id: sr for sr in self.store.requests.active()}
        out = [
            PlannedInterval(
                run.request_id,
                None,
                _instant(run.nominal_time if run.nominal_time is not None else run.run_at),
                (run.window_from, run.window_to),
                f"queued {run.origin} run, attempt {run.attempt}",
                run.id,
                _instant(run.run_at),
            )
            for run in self.store.runs.queued(self._queue_instant(now), limit=QUEUED_LIMIT)
            if _takes_runs(active.get(run.request_id), run)
        ]
        for sr in active.values():
            if sr.request.type != "recurring" or sr.paused:
                continue
            schedule = schedule_of(sr, self.settings.delay)
            through = ledger.considered_through(self.store, sr.id)
            rules = Rules.of(sr.request, self.settings)
            planned = 0
            for decision in decisions(schedule, watermark(schedule, through), now, rules, ledger.last_pause(self.store, sr.id)):
                for skip in decision.skips:
                    detail = skip_detail(schedule, skip, through)
                    out.append(
                        PlannedInterval(
                            sr.id,
                            skip.first,
                            schedule.at(skip.last),
                            (interval_bounds(schedule, skip.first, through)[0], detail["through"]),
                            skip.reason,
                            run_at=schedule.due(skip.last),
                            skipped=skip.count,
                        )
                    )
                    through = detail["through"]
                for k in decision.runs:
                    if planned >= PLAN_LIMIT:
                        break
                    out.append(
                        PlannedInterval(
                            sr.id, k, schedule.at(k), interval_bounds(schedule, k, through), decision.reason(k), run_at=schedule.due(k)
                        )
                    )
                    through = schedule.at(k).timestamp()
                    planned += 1
        return out

    def _queue_instant(self, now: datetime) -> datetime:
        """Queued runs (retries, oneTime and manual runs) are due by the later of the schedule
        instant and the clock, so a retry requeued during this tick (by the clock) runs in it."""
        return max(now, self.clock())

    def _work(self, now: datetime) -> dict[str, Waiting]:
        """Request id -> its work, for every request that has something to do now."""
        active = {sr.id: sr for sr in self.store.requests.active()}
        work: dict[str, Waiting] = {}
        for run in self.store.runs.queued(self._queue_instant(now), limit=QUEUED_LIMIT):
            stored = active.get(run.request_id)
            if stored is not None and _takes_runs(stored, run):
                work.setdefault(run.request_id, Waiting(run.request_id, stored.owner, unix_from_iso(run.created_at), [])).queued.append(
                    run.id
                )
        for sr in active.values():
            if sr.request.type == "recurring" and not sr.paused and sr.id not in work:
                schedule = schedule_of(sr, self.settings.delay)
                considered = watermark(schedule, ledger.considered_through(self.store, sr.id))
                if pending(schedule, considered, now):
                    work[sr.id] = Waiting(sr.id, sr.owner, schedule.due(considered + 1).timestamp(), [])
        return work

    # -- running -------------------------------------------------------------------------
    def run_due(self, now: datetime | None = None) -> list[Run]:
        """One tick at `now` (default: the clock), waiting for every run it starts; the runs as they ended."""
        self._stopping.clear()
        with ThreadPoolExecutor(self.settings.max_parallel, thread_name_prefix="exporter-run") as pool:
            futures = self._tick(pool, now)
        return [run for f in futures for run in f.result()]

    def serve(self, stop: threading.Event, *, grace: float = 10.0) -> None:
        """Tick every `scheduler.tick` seconds until `stop` is set.

        Then the runs in hand are asked to stop (they end as interrupted and are queued again)
        and are waited for up to `grace` seconds; `busy` tells whether some did not end."""
        self._stopping.clear()
        pool = ThreadPoolExecutor(self.settings.max_parallel, thread_name_prefix="exporter-run")
        self.sink(RunEvent(EventKind.INFO, f"scheduler {self.holder} serves {self.store.path} every {self.settings.tick:g} s"))
        try:
            while not stop.is_set():
                try:
                    self._renew_lease()
                    for future in self._tick(pool, None):
                        future.add_done_callback(self._report_crash)
                except (StoreError, sqlite3.Error) as e:  # a locked or briefly unreadable database: next tick
                    self.sink(RunEvent(EventKind.WARNING, f"scheduler tick failed: {e}"))
                stop.wait(self.settings.tick)
        finally:
            self._stopping.set()
            wait_futures(list(self._futures), timeout=grace)
            pool.shutdown(wait=False, cancel_futures=True)
            try:
                self.store.lease.release(LEASE, self.holder)
            except (StoreError, sqlite3.Error):
                pass  # it expires by itself

    def _tick(self, pool: ThreadPoolExecutor, now: datetime | None) -> list[Future[list[Run]]]:
        """Recover, expire, and put each request with work in the fair queue (once: not while
        waiting or worked on), with one slot task on the pool for it."""
        at = now or self.clock()
        self._recover()
        self._expire(at)
        self._check_late()
        work = self._work(at)
        submitted = []
        with self._queue_lock:
            self._futures = [f for f in self._futures if not f.done()]
            for request_id, waiting in work.items():
                if request_id in self._waiting or request_id in self._active:
                    continue
                waiting.now = now
                self._waiting[request_id] = waiting
                future = pool.submit(self._slot)
                self._futures.append(future)
                submitted.append(future)
        return submitted

    def _slot(self) -> list[Run]:
        """A slot freed: take the fairest waiting request and do its work, with a Store of this worker thread."""
        with self.ctx.open_store() as store:
            with self._queue_lock:
                waiting = self._fairest(store.runs.last_starts())
                if waiting is None:
                    return []
                self._picked[waiting.owner] = self.clock().timestamp()
                self._active.add(waiting.request_id)
            try:
                return self._job(store, waiting)
            finally:
                with self._queue_lock:
                    self._active.discard(waiting.request_id)

    def _fairest(self, last_starts: dict[str, float]) -> Waiting | None:
        """Under the queue lock: the waiting request of the owner whose last start is oldest,
        the longest waiting of theirs; it leaves the queue."""
        if not self._waiting:
            return None

        def last_start(owner: str) -> float:
            return max(last_starts.get(owner, float("-inf")), self._picked.get(owner, float("-inf")))

        chosen = min(self._waiting.values(), key=lambda w: (last_start(w.owner), w.since))
        return self._waiting.pop(chosen.request_id)

    def _job(self, store: Store, waiting: Waiting) -> list[Run]:
        """All the work of one request (each run opens its Source)."""
        request_id, now = waiting.request_id, waiting.now
        ran: list[Run] = []
        for run_id in waiting.queued:
            if self._stopping.is_set():
                return ran
            claimed = store.runs.claim(run_id, self.holder, now=self.clock())
            if claimed is not None:
                ran.append(self._execute(store, claimed))
        while not self._stopping.is_set():
            claimed = self._claim_next(store, request_id, now or self.clock())
            if claimed is None:
                break
            ran.append(self._execute(store, claimed))
        return ran

    def _claim_next(self, store: Store, request_id: str, now: datetime) -> Run | None:
        try:
            stored = store.requests.get(request_id)
        except NotFound:  # deleted meanwhile
            return None
        if stored.request.type != "recurring" or stored.paused:
            return None
        run, skips = ledger.decide_and_claim(
            store,
            stored,
            schedule_of(stored, self.settings.delay),
            now,
            Rules.of(stored.request, self.settings),
            holder=self.holder,
            stamp=self.clock(),
            max_queued=self.ctx.settings.limits.max_queued_runs,
        )
        for s in skips:
            self.sink(
                RunEvent(
                    EventKind.SKIP,
                    f"request {stored.short_id}: {s['count']} interval(s) {s['from']} .. {s['to']} not run ({s['reason']})",
                    request_id=stored.id,
                )
            )
        return run

    def _execute(self, store: Store, run: Run, should_stop: Callable[[], bool] | None = None, retry_at: RetryAt | None = None) -> Run:
        with self._running_lock:
            self._running.add(run.id)
        try:  # the run's heartbeat is its RunLife's, as every way of running one beats
            return self.runs.execute(
                store, run, sink=self.sink, should_stop=should_stop or self._stopping.is_set, retry_at=retry_at or self._retry_at
            )
        finally:
            with self._running_lock:
                self._running.discard(run.id)

    def finish(self, run_ids: list[str], stop: threading.Event, on_ended: Callable[[Run], None] = lambda run: None) -> list[Run]:
        """Run these runs (a backfill's, oldest first) in this thread until each has ended, or `stop` is set.

        A queued run is claimed and exported at once, with one attempt: a failure ends it failed
        (`runs retry` queues it again). A run another process is running is waited for; one whose
        process died is taken over as every scheduler does (recovered, queued again, then run
        here). A request runs one run at a time, so this never takes more than one slot of
        `max_parallel`. `on_ended` hears of each run as it ends; the runs as they ended, in order.
        Runs still open when `stop` is set stay queued for any scheduler."""
        left = list(run_ids)
        ended: dict[str, Run] = {}
        while left and not stop.is_set():
            self._recover()
            moved = False
            for run_id in list(left):
                run = self.store.runs.get(run_id)
                if run.status == RunStatus.NOT_PROCESSED:
                    claimed = self.store.runs.claim(run_id, self.holder, now=self.clock())
                    if claimed is None:
                        continue  # its request is running another run
                    run = self._execute(self.store, claimed, should_stop=stop.is_set, retry_at=lambda _run: None)
                    moved = True
                if run.status in FINISHED:
                    left.remove(run_id)
                    ended[run_id] = run
                    on_ended(run)
                    moved = True
                if moved:
                    break  # from the oldest again: what others did meanwhile counts
            if not moved:
                stop.wait(min(self.settings.tick, 1.0))
        return [ended[i] for i in run_ids if i in ended]

    def _retry_at(self, run: Run) -> float | None:
        """When a failed attempt runs again: backoff * 2^(attempt-1) from now, or None after the last attempt."""
        retry = self.settings.retry
        if run.attempt >= retry.attempts:
            return None
        return self.clock().timestamp() + retry.backoff * 2 ** (run.attempt - 1)

    def _report_crash(self, future: Future[list[Run]]) -> None:
        if not future.cancelled() and future.exception() is not None:
            self.sink(RunEvent(EventKind.WARNING, f"scheduler job failed: {type(future.exception()).__name__}: {future.exception()}"))

    # -- recovery and retention ----------------------------------------------------------
    def _recover(self) -> None:
        """Runs whose process died: taken over, partial files removed, then retried or finally failed.

        Each recovery ends in one write (`end_recovery`): a recoverer killed before it leaves the
        run inProgress under its own heartbeat, which goes stale and is recovered again."""
        now = self.clock()
        older_than = now.timestamp() - self.settings.heartbeat_timeout
        with self._running_lock:
            mine = set(self._running)
        for run in self.store.runs.stale(older_than):
            if run.id in mine or not self.store.runs.take_stale(run.id, older_than, self.holder, now):
                continue
            removed = self.runs.interrupted(run)
            self.store.run_log.add(
                run.id,
                "error",
                f"interrupted: no heartbeat since {iso_from_unix(run.heartbeat_at)} from {run.claimed_by}; "
                f"{removed} partial file(s) removed",
                now,
            )
            when = None if run.cancel_requested else self._retry_at(run)  # a cancelled run is never retried
            ended = self.store.runs.end_recovery(run.id, self.holder, run.cancel_requested or "interrupted", when, now)
            if ended is None:  # this recovery stalled past the heartbeat timeout and another one took over
                continue
            if when is not None:
                self.sink(
                    RunEvent(
                        EventKind.RECOVERED,
                        f"run {run.id[:8]} was interrupted; attempt {ended.attempt} queued for {iso_from_unix(when)}",
                        run.id,
                        run.request_id,
                    )
                )
                continue
            self.sink(
                RunEvent(
                    EventKind.RECOVERED,
                    f"run {run.id[:8]} was interrupted; {run.cancel_requested or 'no attempts left'}",
                    run.id,
                    run.request_id,
                )
            )
            self.runs.failed_for_good(self.store, ended, self.sink)

    def _expire(self, now: datetime) -> None:
        """Done runs older than the retention, then the oldest past the disk budget: delete the
        file and its manifest, mark the run expired."""
        cutoff = now.timestamp() - self.ctx.settings.exports.retention_days * 86400
        for run in self.store.runs.done_before(cutoff):
            self._expire_run(run, f"finished {run.finished_at}")
        self._keep_disk_budget()

    def _keep_disk_budget(self) -> None:
        """While the done runs' files take more than `exports.max_disk_mb`, the longest finished
        expires; the newest (the run that just finished) never does."""
        budget = self.ctx.settings.exports.max_disk_mb * 1024 * 1024
        if not budget:
            return
        done = self.store.runs.done_oldest_first()
        sizes = [self.runs.disk_usage(run) for run in done]
        used = sum(sizes)
        for run, size in zip(done[:-1], sizes, strict=False):
            if used <= budget:
                break
            self._expire_run(run, f"the exports take {used / 1048576:.1f} MB, over the budget of {budget / 1048576:g} MB")
            used -= size  # expired here or by another scheduler meanwhile: its file goes either way

    def _expire_run(self, run: Run, why: str) -> None:
        if not self.store.runs.expire_done(run.id, self.clock()):
            return
        note = self.runs.expired(run)
        self.sink(RunEvent(EventKind.INFO, f"run {run.id[:8]} expired ({why}); {note}", run.id, run.request_id))

    # -- late data -----------------------------------------------------------------------
    def _check_late(self) -> None:
        """Done runs last counted `late_check_every` ago whose interval ended less than
        `late_check_for` ago are counted again (by the clock: late data arrives in real time).
        Each check is claimed by a conditional write first, so two schedulers never both count a run."""
        now = self.clock()
        due = self.store.runs.late_check_due(
            shift_back(now, parse_duration(self.settings.late_check_every), UTC).timestamp(),
            shift_back(now, parse_duration(self.settings.late_check_for, allow_zero=True), UTC).timestamp(),
            LATE_LIMIT,
        )
        taken = [
            run for run in due if run.counted_at is not None and self.store.runs.take_late_check(run.id, run.counted_at, now.timestamp())
        ]
        if taken:
            self.runs.recount(self.store, taken, self.sink)

    # -- lease ---------------------------------------------------------------------------
    def _renew_lease(self) -> None:
        now = self.clock().timestamp()
        if self.store.lease.acquire(LEASE, self.holder, 3 * self.settings.tick, now=now) or self._shared_told:
            return
        self._shared_told = True
        other = self.store.lease.holder(LEASE, now=now) or {}
        self.sink(
            RunEvent(
                EventKind.INFO, f"another scheduler ({other.get('holder', '?')}) also serves this database; each interval still runs once"
            )
        )

    @staticmethod
    def served_by_other(store: Store, now: float | None = None) -> dict[str, Any] | None:
        """The live lease of a scheduler in another process (the TUI need not schedule then), else None."""
        row = store.lease.holder(LEASE, now=now)
        if row is None or (row["pid"] == os.getpid() and row["host"] == os.uname().nodename):
            return None
        return row


def _instant(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)
