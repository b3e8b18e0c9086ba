"""Runs: queued, claimed, running, ended; retried, rerun, cancelled; counted again for late data.

A run belongs to a request (the requests family reads its owner and body); every change a
user or the scheduler makes records its audit event in the same transaction."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from exporter_tui.core.enums import Origin, RunStatus
from exporter_tui.core.models import ExportRequest
from exporter_tui.core.schedule import one_time_run
from exporter_tui.core.times import iso, iso_from_unix, unix_from_iso, utc_now
from exporter_tui.store.errors import QUEUE_FULL, LimitReached, NotFound, TakenOver
from exporter_tui.store.family import Family, Page, new_id
from exporter_tui.store.schema import windows_json


@dataclass
class Run:
    id: str
    request_id: str
    status: RunStatus
    origin: Origin
    attempt: int
    nominal_time: float | None
    run_at: float | None
    window_from: float | None
    window_to: float | None
    window_override: int | None
    progress: int
    total: int | None
    rows: int | None
    file_name: str | None
    file_extension: str | None
    file_path: str | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    heartbeat_at: float | None
    next_attempt_at: float | None
    claimed_by: str | None
    error: str | None
    cancel_requested: str | None = None  # "cancelled by <user>" while a cancel of a running run is pending
    item_windows: str | None = None  # JSON [[from, to], ...]: each item's data window
    notify: int | None = None  # 0: the request's messages are not sent for this run (a backfill without --notify)
    target_counts: str | None = None  # JSON [{item, channel, subtopic, name, from, to, count}, ...] as exported
    counted_at: float | None = None  # when target_counts were last counted (the export, then each late check)
    late_readings: int | None = None  # readings counted after the export beyond target_counts (None: no counts)
    sha256: str | None = None  # of the file written
    supersedes: str | None = None  # a rerun: the id of the run whose file it corrects

    def data_windows(self) -> list[tuple[float, float]]:
        return [(w[0], w[1]) for w in json.loads(self.item_windows)] if self.item_windows else []

    def as_json(self) -> dict[str, Any]:
        """`window` is the union of the items' data windows (the interval when they are not
        known), and `windows` each item's, by its index in `items`."""
        windows = self.data_windows()
        start, end = (min(w[0] for w in windows), max(w[1] for w in windows)) if windows else (self.window_from, self.window_to)
        return {
            "id": self.id,
            "requestId": self.request_id,
            "status": self.status,
            "origin": self.origin,
            "attempt": self.attempt,
            "window": {"from": iso_from_unix(start), "to": iso_from_unix(end)},
            "windows": [{"item": i, "from": iso_from_unix(w[0]), "to": iso_from_unix(w[1])} for i, w in enumerate(windows)],
            "nominalTime": iso_from_unix(self.nominal_time),
            "progress": self.progress,
            "total": self.total,
            "rows": self.rows,
            "fileName": self.file_name,
            "fileExtension": self.file_extension,
            "filePath": self.file_path,
            "createdAt": self.created_at,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "error": self.error,
            "lateReadings": self.late_readings,
            "supersedes": self.supersedes,
        }


_RUN_FIELDS = tuple(Run.__dataclass_fields__)


def _held(holder: str | None) -> str:
    """The condition that the run is still `holder`'s claim (none without a holder)."""
    return "" if holder is None else " AND status = 'inProgress' AND claimed_by = ?"


def _holder_param(holder: str | None) -> tuple[str, ...]:
    return () if holder is None else (holder,)


def _taken_over(run_id: str) -> str:
    return f"run {run_id[:8]} was taken over by another scheduler (its heartbeat had stopped); this attempt's end is not recorded"


# A failed attempt back to notProcessed in the same row (parameters: error, next_attempt_at).
_REQUEUED = (
    "status = 'notProcessed', attempt = attempt + 1, error = ?, next_attempt_at = ?, progress = 0,"
    " started_at = NULL, heartbeat_at = NULL, claimed_by = NULL, finished_at = NULL, cancel_requested = NULL"
)


class Runs(Family):
    # -- reading -------------------------------------------------------------------------
    def get(self, run_id: str) -> Run:
        row = self._by_id("runs", "run", run_id)
        if row is None:
            raise NotFound(f"no run with id '{run_id}'")
        return self._to_run(row)

    @staticmethod
    def _to_run(row: dict) -> Run:
        run = Run(**{k: row[k] for k in _RUN_FIELDS})
        run.status, run.origin = RunStatus(run.status), Origin(run.origin)
        return run

    def page(
        self,
        page: int = 1,
        page_size: int = 20,
        request_id: str | None = None,
        status: str | list[str] | None = None,
        *,
        owner: str | None = None,
    ) -> Page:
        """Runs, newest first; `owner` keeps the runs of that owner's requests."""
        where: list[str] = []
        params: list[Any] = []
        if request_id:
            where.append("request_id = ?")
            params.append(request_id)
        statuses = [status] if isinstance(status, str) else (status or [])
        if statuses:
            where.append(f"status IN ({', '.join('?' * len(statuses))})")
            params.extend(statuses)
        if owner is not None:
            where.append("request_id IN (SELECT id FROM requests WHERE owner = ?)")
            params.append(owner)
        clause = ("WHERE " + " AND ".join(where)) if where else ""
        total = self._query(f"SELECT count(*) AS n FROM runs {clause}", tuple(params))[0]["n"]
        rows = self._query(
            f"SELECT * FROM runs {clause} ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?",
            (*params, page_size, (page - 1) * page_size),
        )
        return Page([self._to_run(r) for r in rows], page, page_size, total)

    def running(self, request_id: str) -> Run | None:
        """The request's run in progress, if one is."""
        rows = self._query("SELECT * FROM runs WHERE request_id = ? AND status = 'inProgress' LIMIT 1", (request_id,))
        return self._to_run(rows[0]) if rows else None

    def unfinished(self, request_id: str) -> list[Run]:
        """The request's runs that have not ended: inProgress first, then queued ones oldest first."""
        rows = self._query(
            "SELECT * FROM runs WHERE request_id = ? AND status IN ('inProgress', 'notProcessed')"
            " ORDER BY status = 'notProcessed', created_at, rowid",
            (request_id,),
        )
        return [self._to_run(r) for r in rows]

    def queued(self, now: datetime | None = None, limit: int = 50) -> list[Run]:
        """Queued runs of live requests that may start at `now`, the oldest first."""
        ts = (now or utc_now()).timestamp()
        rows = self._query(
            "SELECT runs.* FROM runs JOIN requests ON requests.id = runs.request_id"
            " WHERE runs.status = 'notProcessed' AND requests.deleted_at IS NULL AND (runs.next_attempt_at IS NULL OR runs.next_attempt_at <= ?)"
            " ORDER BY runs.created_at, runs.rowid LIMIT ?",
            (ts, limit),
        )
        return [self._to_run(r) for r in rows]

    def last_starts(self) -> dict[str, float]:
        """Owner -> when a run of theirs last started (Unix seconds), for the fair queue."""
        rows = self._query(
            "SELECT requests.owner AS owner, max(runs.started_at) AS at FROM runs JOIN requests ON requests.id = runs.request_id"
            " WHERE runs.started_at IS NOT NULL GROUP BY requests.owner"
        )
        return {r["owner"]: unix_from_iso(r["at"]) for r in rows}

    def cancel_requested(self, run_id: str) -> str | None:
        """A running run's pending cancel request ("cancelled by <user>"), if any."""
        rows = self._query("SELECT cancel_requested FROM runs WHERE id = ?", (run_id,))
        return rows[0]["cancel_requested"] if rows else None

    def stale(self, older_than: float) -> list[Run]:
        """Runs inProgress whose heartbeat stopped before `older_than` (Unix seconds)."""
        rows = self._query("SELECT * FROM runs WHERE status = 'inProgress' AND coalesce(heartbeat_at, 0) < ?", (older_than,))
        return [self._to_run(r) for r in rows]

    def running_progress(self, owner: str | None = None) -> list[dict]:
        """Every running run's progress (of every process), with its request and the time of its last update."""
        mine = "" if owner is None else " AND q.owner = ?"
        return self._query(
            "SELECT r.id AS run_id, r.request_id, r.progress, r.total, r.heartbeat_at FROM runs r"
            f" JOIN requests q ON q.id = r.request_id WHERE r.status = 'inProgress'{mine} ORDER BY r.id",
            () if owner is None else (owner,),
        )

    def figures(self) -> dict[str, Any]:
        """What /metrics shows of the runs: how many per status, and done runs' durations."""
        by_status = {r["status"]: r["n"] for r in self._query("SELECT status, count(*) AS n FROM runs GROUP BY status")}
        durations = [
            r["s"]
            for r in self._query(
                "SELECT (julianday(finished_at) - julianday(started_at)) * 86400.0 AS s FROM runs"
                " WHERE status IN ('done', 'expired') AND started_at IS NOT NULL AND finished_at IS NOT NULL"
            )
            if r["s"] is not None
        ]
        return {"by_status": by_status, "durations": durations}

    # -- queueing ------------------------------------------------------------------------
    def insert(
        self,
        request_id: str,
        origin: Origin,
        window: tuple[float, float] | None,
        nominal: float | None,
        status: RunStatus,
        now: datetime,
        override: bool = False,
        run_at: float | None = None,
        notify: bool | None = None,
    ) -> str:
        """Insert a run inside the caller's open `transaction()`, with its items' data windows; returns its id.
        `notify` False keeps the request's messages from going for this run."""
        run_id = new_id()
        anchor = run_at if run_at is not None else nominal
        body = self._store.requests.body_of(request_id)
        self._execute(
            "INSERT INTO runs (id, request_id, status, origin, attempt, nominal_time, run_at, window_from, window_to, window_override, progress,"
            " created_at, item_windows, notify) VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, ?, 0, ?, ?, ?)",
            (
                run_id,
                request_id,
                status,
                origin,
                nominal,
                anchor,
                window[0] if window else None,
                window[1] if window else None,
                int(override),
                iso(now),
                windows_json(body, anchor, window[0] if window else None, window[1] if window else None, int(override)),
                None if notify is None else int(notify),
            ),
        )
        return run_id

    def queue_one_time(self, request_id: str, request: ExportRequest, now: datetime) -> None:
        """Inside an open transaction: the one run of a oneTime request, queued (at periodStart when that is in the future)."""
        planned = one_time_run(request, now)
        run_id = self.insert(request_id, Origin.SCHEDULE, planned.window, planned.nominal, RunStatus.NOT_PROCESSED, now)
        self._execute("UPDATE runs SET next_attempt_at = ? WHERE id = ?", (planned.not_before, run_id))

    def fail_queued(self, request_id: str, error: str, now: datetime) -> int:
        """Inside an open transaction: end the request's queued runs failed with `error`; how many there were."""
        return self._execute(
            "UPDATE runs SET status = 'failed', error = ?, finished_at = ? WHERE request_id = ? AND status = 'notProcessed'",
            (error, iso(now), request_id),
        ).rowcount

    def forget_nominal_times(self, request_id: str) -> None:
        """Inside an open transaction: the request's runs belong to no scheduled interval any more."""
        self._execute("UPDATE runs SET nominal_time = NULL WHERE request_id = ?", (request_id,))

    def check_queue(self, owner: str, max_queued: int) -> None:
        """Inside an open transaction: LimitReached when the owner's queue is full."""
        if self._queue_full(owner, max_queued):
            raise LimitReached(QUEUE_FULL)

    def _queue_full(self, owner: str, max_queued: int) -> bool:
        """`limits.max_queued_runs` counts per owner: one owner's full queue never refuses another's runs."""
        return self._queued_of(owner) >= max_queued

    def _queued_of(self, owner: str) -> int:
        return int(
            self._execute(
                "SELECT count(*) FROM runs JOIN requests ON requests.id = runs.request_id WHERE runs.status = 'notProcessed' AND requests.owner = ?",
                (owner,),
            ).fetchone()[0]
        )

    def queued_count(self, request_id: str) -> int:
        """Inside an open transaction: the queued runs of the request's owner (what `limits.max_queued_runs` counts)."""
        return self._queued_of(self._store.requests.owner_of(request_id))

    def _busy(self, request_id: str) -> bool:
        """Inside an open transaction: whether the request has a run in progress."""
        return self._execute("SELECT 1 FROM runs WHERE request_id = ? AND status = 'inProgress'", (request_id,)).fetchone() is not None

    def create(
        self,
        request_id: str,
        origin: Origin,
        window: tuple[float, float] | None,
        actor: str,
        *,
        run_at: float,
        override: bool = False,
        max_queued: int | None = None,
        now: datetime | None = None,
    ) -> Run:
        """A queued manual run (notProcessed); manual runs have no nominal time, so they are never deduplicated.

        `run_at` is the instant an item's `period` ends at; `window` is the run's interval, and
        with `override` it is the data window of every item.
        """
        if origin not in set(Origin):
            raise ValueError(f"origin must be one of {', '.join(Origin)}")
        now = now or utc_now()
        with self._store.transaction():
            if max_queued is not None:
                self.check_queue(self._store.requests.owner_of(request_id), max_queued)
            if self._busy(request_id) and origin != Origin.SCHEDULE:
                raise LimitReached("the request is already running; wait for its run to finish")
            run_id = self.insert(request_id, origin, window, None, RunStatus.NOT_PROCESSED, now, override, run_at)
            self._store.audit.record("run", actor, "run", run_id, {"requestId": request_id, "origin": origin}, now)
        return self.get(run_id)

    def rerun(
        self, run_id: str, actor: str, *, once: bool = False, max_queued: int | None = None, now: datetime | None = None
    ) -> Run | None:
        """Queue a rerun of a done (or expired) run: origin `rerun`, the same interval, anchor and
        windows, `supersedes` set to it. It has no nominal time, so exactly-once never counts it and
        the interval's own run stays the interval's run. With `once` (the request's `rerunLate`),
        None when that interval already has a rerun; the check and the insert are one transaction,
        so two schedulers never both rerun it. A run not yet ended or failed is refused (LimitReached)."""
        run = self.get(run_id)
        if run.status == RunStatus.FAILED:
            raise LimitReached(f"run {run.id} failed; it wrote no file to correct: use runs retry")
        if run.status not in (RunStatus.DONE, RunStatus.EXPIRED):
            raise LimitReached(f"run {run.id} is {run.status}; only a done or expired run can be rerun")
        self._store.requests.get(run.request_id)  # a deleted request's runs stay as they are
        now = now or utc_now()
        window = (run.window_from, run.window_to) if run.window_from is not None and run.window_to is not None else None
        with self._store.transaction():
            if (
                once
                and self._execute(
                    "SELECT 1 FROM runs WHERE request_id = ? AND origin = ? AND window_from IS ? AND window_to IS ?",
                    (run.request_id, Origin.RERUN, run.window_from, run.window_to),
                ).fetchone()
            ):
                return None
            if max_queued is not None:
                self.check_queue(self._store.requests.owner_of(run.request_id), max_queued)
            if self._busy(run.request_id):
                raise LimitReached("the request is already running; wait for its run to finish")
            anchor = run.run_at if run.run_at is not None else run.nominal_time
            rerun_id = self.insert(
                run.request_id, Origin.RERUN, window, None, RunStatus.NOT_PROCESSED, now, bool(run.window_override), anchor
            )
            self._execute("UPDATE runs SET supersedes = ? WHERE id = ?", (run.id, rerun_id))
            self._store.audit.record("rerun", actor, "run", rerun_id, {"requestId": run.request_id, "supersedes": run.id}, now)
        return self.get(rerun_id)

    # -- claiming and running ------------------------------------------------------------
    def claim_interval(
        self,
        request_id: str,
        nominal: float,
        window: tuple[float, float],
        holder: str,
        now: datetime | None = None,
        max_queued: int | None = None,
    ) -> Run | None:
        """Create and claim the scheduled run of one interval, in one transaction (see claim_interval_in)."""
        with self._store.transaction():
            run_id = self.claim_interval_in(request_id, nominal, window, holder, now or utc_now(), max_queued)
        return None if run_id is None else self.get(run_id)

    def claim_interval_in(
        self,
        request_id: str,
        nominal: float,
        window: tuple[float, float],
        holder: str,
        now: datetime,
        max_queued: int | None,
        origin: Origin = Origin.SCHEDULE,
    ) -> str | None:
        """Inside an open transaction: create the interval's run inProgress, claimed by `holder`.

        None when that interval already has a run (another scheduler got it first; the unique
        (request, nominal time) index backs this up), the queue is full (the interval waits), or
        the request is running now. `origin` is `schedule`, or `cli`/`tui` when `run ID` takes
        the interval before the scheduler does.
        """
        if max_queued is not None and self._queue_full(self._store.requests.owner_of(request_id), max_queued):
            return None
        if self._execute("SELECT 1 FROM runs WHERE request_id = ? AND nominal_time = ?", (request_id, nominal)).fetchone():
            return None
        if self._busy(request_id):
            return None
        run_id = self.insert(request_id, origin, window, nominal, RunStatus.IN_PROGRESS, now)
        self._execute(
            "UPDATE runs SET started_at = ?, heartbeat_at = ?, claimed_by = ? WHERE id = ?", (iso(now), now.timestamp(), holder, run_id)
        )
        return run_id

    def claim(self, run_id: str, holder: str, now: datetime | None = None) -> Run | None:
        """Move a queued run to inProgress; None if someone else claimed it or its request is running."""
        now = now or utc_now()
        with self._store.transaction():
            row = self._execute("SELECT request_id FROM runs WHERE id = ? AND status = 'notProcessed'", (run_id,)).fetchone()
            if not row:
                return None
            if self._busy(row[0]):
                return None
            self._execute(
                "UPDATE runs SET status = 'inProgress', started_at = ?, heartbeat_at = ?, claimed_by = ?, progress = 0 WHERE id = ?",
                (iso(now), now.timestamp(), holder, run_id),
            )
        return self.get(run_id)

    def update_progress(
        self, run_id: str, progress: int, total: int | None, holder: str | None = None, now: datetime | None = None
    ) -> str | None:
        """Record a running run's progress (with `holder`, only while it is that claimant's);
        returns its pending cancel request, if any."""
        ts = (now or utc_now()).timestamp()
        with self._store.transaction():
            self._execute(
                "UPDATE runs SET progress = ?, total = ?, heartbeat_at = ? WHERE id = ? AND status = 'inProgress'" + _held(holder),
                (progress, total, ts, run_id, *_holder_param(holder)),
            )
            row = self._execute("SELECT cancel_requested FROM runs WHERE id = ?", (run_id,)).fetchone()
        return row[0] if row else None

    def set_item_windows(self, run_id: str, windows: list[tuple[float, float]]) -> None:
        """The items' data windows a run exports, as it starts."""
        with self._store.transaction():
            self._execute("UPDATE runs SET item_windows = ? WHERE id = ?", (json.dumps([list(w) for w in windows]), run_id))

    def heartbeat(self, run_id: str, holder: str | None, now: datetime | None = None) -> bool:
        """Stamp a running run's heartbeat; False once the run is not `holder`'s any more."""
        with self._store.transaction():
            changed = self._execute(
                "UPDATE runs SET heartbeat_at = ? WHERE id = ?" + _held(holder),
                ((now or utc_now()).timestamp(), run_id, *_holder_param(holder)),
            ).rowcount
        return changed == 1

    # -- ending ---------------------------------------------------------------------------
    def finish(
        self,
        run_id: str,
        status: RunStatus,
        *,
        rows: int | None = None,
        file_name: str | None = None,
        file_extension: str | None = None,
        file_path: str | None = None,
        error: str | None = None,
        progress: int | None = None,
        sha256: str | None = None,
        counts: list[dict[str, Any]] | None = None,
        now: datetime | None = None,
        holder: str | None = None,
    ) -> Run:
        """End a run. `rows` counts the rows written; `progress`, the source readings processed
        (like `total`, readings, never rows); `counts`, each target's readings in its window as
        the export counted them, what the late-data check compares with. With `holder`, only
        while the run is still that claimant's: else TakenOver, and nothing is written."""
        if status not in (RunStatus.DONE, RunStatus.FAILED):
            raise ValueError("a run finishes done or failed")
        now = now or utc_now()
        counted = None if counts is None else json.dumps(counts)
        with self._store.transaction():
            changed = self._execute(
                "UPDATE runs SET status = ?, rows = ?, progress = coalesce(?, progress),"
                " file_name = ?, file_extension = ?, file_path = ?, error = ?, finished_at = ?, sha256 = ?,"
                " target_counts = ?, counted_at = ?, late_readings = ? WHERE id = ?" + _held(holder),
                (
                    status,
                    rows,
                    progress,
                    file_name,
                    file_extension,
                    file_path,
                    error,
                    iso(now),
                    sha256,
                    counted,
                    None if counted is None else now.timestamp(),
                    None if counted is None else 0,
                    run_id,
                    *_holder_param(holder),
                ),
            ).rowcount
            if not changed:
                raise TakenOver(_taken_over(run_id))
        return self.get(run_id)

    def requeue(self, run_id: str, error: str, next_attempt_at: float, holder: str | None = None) -> Run:
        """A failed attempt that will be retried: back to notProcessed in the same row, attempt
        counting up. With `holder`, only while the run is still that claimant's (else TakenOver)."""
        with self._store.transaction():
            changed = self._execute(
                f"UPDATE runs SET {_REQUEUED} WHERE id = ?" + _held(holder), (error, next_attempt_at, run_id, *_holder_param(holder))
            ).rowcount
            if not changed:
                raise TakenOver(_taken_over(run_id))
        return self.get(run_id)

    def cancel(self, run_id: str, actor: str, now: datetime | None = None) -> Run:
        """A queued run ends failed "cancelled by <actor>" at once; a running one gets the cancel
        request, which its runner reads at its next progress step (then it ends the same way).
        A run that has ended is refused (LimitReached)."""
        run = self.get(run_id)
        now = now or utc_now()
        reason = f"cancelled by {actor}"
        with self._store.transaction():
            queued = self._execute(
                "UPDATE runs SET status = 'failed', error = ?, finished_at = ? WHERE id = ? AND status = 'notProcessed'",
                (reason, iso(now), run.id),
            ).rowcount
            running = self._execute(
                "UPDATE runs SET cancel_requested = coalesce(cancel_requested, ?) WHERE id = ? AND status = 'inProgress'", (reason, run.id)
            ).rowcount
            if not (queued or running):
                raise LimitReached(f"run {run.id} is {run.status}; only a queued or running run can be cancelled")
            self._store.audit.record("cancel", actor, "run", run.id, {"requestId": run.request_id, "running": bool(running)}, now)
        return self.get(run.id)

    def retry(self, run_id: str, actor: str, now: datetime | None = None) -> Run:
        run = self.get(run_id)
        if run.status not in (RunStatus.FAILED, RunStatus.EXPIRED):
            raise LimitReached(f"run {run.id} is {run.status}; only a failed or expired run can be retried")
        self._store.requests.get(run.request_id)  # a deleted request's runs stay as they are
        now = now or utc_now()
        with self._store.transaction():
            self._execute(
                "UPDATE runs SET status = 'notProcessed', attempt = attempt + 1, next_attempt_at = NULL, progress = 0, error = NULL,"
                " started_at = NULL, finished_at = NULL, heartbeat_at = NULL, claimed_by = NULL, cancel_requested = NULL,"
                " target_counts = NULL, counted_at = NULL, late_readings = NULL WHERE id = ?",
                (run.id,),
            )
            self._store.audit.record("retry", actor, "run", run.id, {"requestId": run.request_id}, now)
        return self.get(run.id)

    # -- done runs: retention, the disk budget, late data ----------------------------------
    def done_before(self, before: float) -> list[Run]:
        """Done runs finished before `before` (Unix seconds): the retention candidates."""
        rows = self._query("SELECT * FROM runs WHERE status = 'done' AND finished_at < ?", (iso_from_unix(before),))
        return [self._to_run(r) for r in rows]

    def done_oldest_first(self) -> list[Run]:
        """Done runs, the longest finished first: the disk budget's candidates."""
        rows = self._query("SELECT * FROM runs WHERE status = 'done' ORDER BY finished_at, rowid")
        return [self._to_run(r) for r in rows]

    def late_check_due(self, counted_before: float, ended_after: float, limit: int = 100) -> list[Run]:
        """Done runs of live requests to count again: counted at or before `counted_before`, interval
        ended after `ended_after` (Unix seconds), not yet superseded by a done rerun; the
        longest uncounted first."""
        rows = self._query(
            "SELECT runs.* FROM runs JOIN requests ON requests.id = runs.request_id"
            " WHERE runs.status = 'done' AND requests.deleted_at IS NULL AND runs.target_counts IS NOT NULL"
            " AND runs.counted_at <= ? AND runs.window_to > ?"
            " AND NOT EXISTS (SELECT 1 FROM runs AS r WHERE r.supersedes = runs.id AND r.status = 'done')"
            " ORDER BY runs.counted_at, runs.rowid LIMIT ?",
            (counted_before, ended_after, limit),
        )
        return [self._to_run(r) for r in rows]

    def take_late_check(self, run_id: str, counted_at: float, now: float) -> bool:
        """Claim one late check of a run (its `counted_at` moves to `now`); True for the one
        scheduler whose write did it, so a run is counted once per `late_check_every`."""
        with self._store.transaction():
            changed = self._execute(
                "UPDATE runs SET counted_at = ? WHERE id = ? AND counted_at = ? AND status = 'done'", (now, run_id, counted_at)
            ).rowcount
        return changed == 1

    def record_late(self, run_id: str, late: int) -> bool:
        """How many readings arrived after the export; True when that is more than was known."""
        with self._store.transaction():
            changed = self._execute(
                "UPDATE runs SET late_readings = ? WHERE id = ? AND coalesce(late_readings, 0) < ?", (late, run_id, late)
            ).rowcount
        return changed == 1

    # -- the scheduler's ledger (scheduler/ledger.py says what these mean) ----------------
    def newest_nominal_time(self, request_id: str) -> float | None:
        """The newest scheduled instant among the request's runs, or None when it has none."""
        return self._query("SELECT max(nominal_time) AS t FROM runs WHERE request_id = ?", (request_id,))[0]["t"]

    def of_interval(self, request_id: str, nominal: float) -> Run | None:
        """The run of one interval (by its nominal time), if it has one."""
        rows = self._query("SELECT * FROM runs WHERE request_id = ? AND nominal_time = ?", (request_id, nominal))
        return self._to_run(rows[0]) if rows else None

    def of_intervals(self, request_id: str, first: float, last: float) -> dict[float, Run]:
        """Nominal time -> the run of that interval, for the intervals ending in [first, last]."""
        rows = self._query(
            "SELECT * FROM runs WHERE request_id = ? AND nominal_time BETWEEN ? AND ? ORDER BY created_at, rowid", (request_id, first, last)
        )
        found: dict[float, Run] = {}
        for r in rows:
            found.setdefault(r["nominal_time"], self._to_run(r))
        return found

    def take_stale(self, run_id: str, older_than: float, holder: str, now: datetime) -> bool:
        """Take a run still inProgress with no heartbeat since `older_than` over for its recovery:
        it stays inProgress, claimed by `holder` with a fresh heartbeat, until `end_recovery`.
        So a recoverer that dies halfway leaves a run that goes stale again and is recovered
        by the next one, never a run failed "interrupted" that nobody queues again.
        True for the one caller whose write did it."""
        with self._store.transaction():
            changed = self._execute(
                "UPDATE runs SET claimed_by = ?, heartbeat_at = ? WHERE id = ? AND status = 'inProgress' AND coalesce(heartbeat_at, 0) < ?",
                (holder, now.timestamp(), run_id, older_than),
            ).rowcount
        return changed == 1

    def end_recovery(self, run_id: str, holder: str, error: str, retry_at: float | None, now: datetime) -> Run | None:
        """The one write that ends a recovery `take_stale` began: queued again for `retry_at`
        (attempt counting up), or, when None, failed for good with `error`. None if the run
        is no longer `holder`'s (another recoverer took it over after this one stalled)."""
        held = "id = ?" + _held(holder)
        with self._store.transaction():
            if retry_at is None:
                changed = self._execute(
                    f"UPDATE runs SET status = 'failed', error = ?, finished_at = ? WHERE {held}", (error, iso(now), run_id, holder)
                ).rowcount
            else:
                changed = self._execute(f"UPDATE runs SET {_REQUEUED} WHERE {held}", (error, retry_at, run_id, holder)).rowcount
        return self.get(run_id) if changed else None

    def expire_done(self, run_id: str, now: datetime) -> bool:
        """Mark a done run expired, with its audit event; True for the one caller whose write did it."""
        with self._store.transaction():
            changed = self._execute("UPDATE runs SET status = 'expired' WHERE id = ? AND status = 'done'", (run_id,)).rowcount
            if changed:
                self._store.audit.record("expire", "retention", "run", run_id, {}, now)
        return changed == 1
