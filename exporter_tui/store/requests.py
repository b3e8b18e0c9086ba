"""Export requests: create, read, list, update, pause and soft-delete them.

A request's runs are the runs family's: a oneTime request's one run is queued there, and a
change that ends queued runs asks it to."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from exporter_tui.core.models import ExportRequest
from exporter_tui.core.times import iso, utc_now
from exporter_tui.store.errors import MISSING_IDENTITY, IdentityMissing, NotFound
from exporter_tui.store.family import Family, Page, new_id

REQUEST_SORTS = {"createdAt": "r.created_at", "updatedAt": "r.updated_at", "name": "r.name"}


@dataclass
class StoredRequest:
    id: str
    request: ExportRequest
    owner: str
    paused: bool
    created_at: str
    updated_at: str
    deleted_at: str | None

    def as_json(self) -> dict[str, Any]:
        """The normalised body plus the server-set fields, as `requests show --json` prints it."""
        return {
            **self.request.to_body(),
            "id": self.id,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "deletedAt": self.deleted_at,
        }

    @property
    def short_id(self) -> str:
        return self.id[:8]


class Requests(Family):
    def create(self, request: ExportRequest, actor: str, max_queued: int | None = None, now: datetime | None = None) -> StoredRequest:
        if not actor:
            raise IdentityMissing(MISSING_IDENTITY)
        now = now or utc_now()
        rid = new_id()
        stamp = iso(now)
        runs = self._store.runs
        with self._store.transaction():
            if request.type == "oneTime" and max_queued is not None:
                runs.check_queue(actor, max_queued)
            self._execute(
                "INSERT INTO requests (id, name, type, extension, targets, periodicity, period_start, body, owner, paused, created_at, updated_at, deleted_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, NULL)",
                (rid, *_columns(request), actor, stamp, stamp),
            )
            self._store.audit.record("create", actor, "request", rid, {"type": request.type}, now)
            if request.type == "oneTime":
                runs.queue_one_time(rid, request, now)
        return self.get(rid)

    def get(self, rid: str, include_deleted: bool = False) -> StoredRequest:
        row = self._by_id("requests", "request", rid, prefix_filter=" AND deleted_at IS NULL")
        if row is None or (row["deleted_at"] and not include_deleted):
            raise NotFound(f"no export request with id '{rid}'")
        return self._to_request(row)

    @staticmethod
    def _to_request(row: dict) -> StoredRequest:
        return StoredRequest(
            id=row["id"],
            request=ExportRequest.model_validate(json.loads(row["body"])),
            owner=row["owner"],
            paused=bool(row["paused"]),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            deleted_at=row["deleted_at"],
        )

    def page(
        self,
        page: int = 1,
        page_size: int = 20,
        type: str | None = None,
        status: str | list[str] | None = None,
        include_deleted: bool = False,
        *,
        ids: list[str] | None = None,
        owner: str | None = None,
        sort: str = "-createdAt",
    ) -> Page:
        """Requests, newest first unless `sort` (a REQUEST_SORTS key, `-` for descending) says;
        `status` filters by the status of each request's latest run (any of a list)."""
        where: list[str] = []
        params: list[Any] = []
        if not include_deleted:
            where.append("r.deleted_at IS NULL")
        if type:
            where.append("r.type = ?")
            params.append(type)
        if owner is not None:
            where.append("r.owner = ?")
            params.append(owner)
        if ids:
            where.append(f"r.id IN ({', '.join('?' * len(ids))})")
            params.extend(ids)
        last = "(SELECT status FROM runs WHERE request_id = r.id ORDER BY created_at DESC, rowid DESC LIMIT 1)"
        statuses = [status] if isinstance(status, str) else (status or [])
        if statuses:
            where.append(f"{last} IN ({', '.join('?' * len(statuses))})")
            params.extend(statuses)
        clause = ("WHERE " + " AND ".join(where)) if where else ""
        column = REQUEST_SORTS[sort.lstrip("-")]
        order = "DESC" if sort.startswith("-") else "ASC"
        total = self._query(f"SELECT count(*) AS n FROM requests r {clause}", tuple(params))[0]["n"]
        rows = self._query(
            f"SELECT r.*, {last} AS last_status FROM requests r {clause} ORDER BY {column} {order}, r.rowid {order} LIMIT ? OFFSET ?",
            (*params, page_size, (page - 1) * page_size),
        )
        page_obj = Page([self._to_request(r) for r in rows], page, page_size, total)
        page_obj.extra["last_status"] = {r["id"]: r["last_status"] for r in rows}
        return page_obj

    def active(self) -> list[StoredRequest]:
        """Every request not deleted, the oldest first."""
        return [self._to_request(r) for r in self._query("SELECT * FROM requests WHERE deleted_at IS NULL ORDER BY created_at")]

    def channels(self) -> list[str]:
        """The channel ids the active requests read, each once, in the order they were first used."""
        return list(dict.fromkeys(item.params.channel_id for r in self.active() for item in r.request.items))

    def update(
        self, rid: str, request: ExportRequest, actor: str, max_queued: int | None = None, now: datetime | None = None
    ) -> StoredRequest:
        """Replace a request's body. recurring -> oneTime queues the oneTime run as a create does
        (LimitReached and nothing changed when the queue is full); oneTime -> recurring cancels
        its queued run ("cancelled by update") and forgets its runs' oneTime run times, so the
        catch-up policy decides about the intervals already ended, as for a past periodStart."""
        if not actor:
            raise IdentityMissing(MISSING_IDENTITY)
        current = self.get(rid)
        now = now or utc_now()
        was = current.request.type
        detail: dict[str, Any] = {} if was == request.type else {"type": f"{was} -> {request.type}"}
        runs = self._store.runs
        with self._store.transaction():
            if was == "recurring" and request.type == "oneTime" and max_queued is not None:
                runs.check_queue(current.owner, max_queued)
            self._execute(
                "UPDATE requests SET name = ?, type = ?, extension = ?, targets = ?, periodicity = ?, period_start = ?, body = ?, updated_at = ?"
                " WHERE id = ? AND deleted_at IS NULL",
                (*_columns(request), iso(now), current.id),
            )
            if was == "recurring" and request.type == "oneTime":
                runs.queue_one_time(current.id, request, now)
            elif was == "oneTime" and request.type == "recurring":
                detail["cancelledRuns"] = runs.fail_queued(current.id, "cancelled by update", now)
                runs.forget_nominal_times(current.id)
            self._store.audit.record("update", actor, "request", current.id, detail, now)
        return self.get(current.id)

    def delete(self, rid: str, actor: str, now: datetime | None = None) -> StoredRequest:
        """Soft delete: set deletedAt; the request leaves the lists and its queued runs are cancelled."""
        current = self.get(rid)
        now = now or utc_now()
        with self._store.transaction():
            self._execute("UPDATE requests SET deleted_at = ?, updated_at = ? WHERE id = ?", (iso(now), iso(now), current.id))
            cancelled = self._store.runs.fail_queued(current.id, "cancelled: request deleted", now)
            self._store.audit.record("delete", actor, "request", current.id, {"cancelledRuns": cancelled}, now)
        return self.get(current.id, include_deleted=True)

    def set_paused(self, rid: str, paused: bool, actor: str, now: datetime | None = None) -> StoredRequest:
        current = self.get(rid)
        with self._store.transaction():
            self._execute("UPDATE requests SET paused = ? WHERE id = ?", (int(paused), current.id))
            self._store.audit.record("pause" if paused else "resume", actor, "request", current.id, {}, now)
        return self.get(current.id)

    # -- inside an open transaction, for the runs family --------------------------------
    def owner_of(self, request_id: str) -> str:
        """The request's owner ("" when there is no such request)."""
        row = self._execute("SELECT owner FROM requests WHERE id = ?", (request_id,)).fetchone()
        return row[0] if row else ""

    def body_of(self, request_id: str) -> str | None:
        """The request's stored JSON body (None when there is no such request)."""
        row = self._execute("SELECT body FROM requests WHERE id = ?", (request_id,)).fetchone()
        return row[0] if row else None


def _columns(request: ExportRequest) -> tuple[Any, ...]:
    """What the requests table keeps of a body beside the body itself, then the body:
    name, type, extension, targets, periodicity, period_start, body."""
    return (
        request.name,
        request.type,
        request.format.extension,
        ",".join(request.target_names()),
        request.periodicity,
        request.period_start,
        json.dumps(request.to_body(), sort_keys=True),
    )
