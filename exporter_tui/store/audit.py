"""The audit trail: one event per change to a request or run, who made it and when."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import TYPE_CHECKING, Any

from exporter_tui.core.times import iso, utc_now
from exporter_tui.store.family import Family, Page

if TYPE_CHECKING:
    from exporter_tui.store.store import Store


class Audit(Family):
    def __init__(self, store: Store, conn: sqlite3.Connection) -> None:
        super().__init__(store, conn)
        # Added to the detail of every audit event this connection records (the API's key name).
        self.extra: dict[str, Any] = {}

    def record(self, action: str, actor: str, entity: str, entity_id: str, detail: dict | None = None, now: datetime | None = None) -> None:
        """Add an audit event inside the caller's open `transaction()`, so it commits with the change."""
        self._execute(
            "INSERT INTO audit (action, actor, entity, entity_id, at, detail) VALUES (?, ?, ?, ?, ?, ?)",
            (
                f"exporter:exports:{action}",
                actor,
                entity,
                entity_id,
                iso(now or utc_now()),
                json.dumps({**self.extra, **(detail or {})}, sort_keys=True),
            ),
        )

    def add(self, action: str, actor: str, entity: str, entity_id: str, detail: dict | None = None, now: datetime | None = None) -> None:
        """Add an audit event in a transaction of its own."""
        with self._store.transaction():
            self.record(action, actor, entity, entity_id, detail, now)

    def page(self, page: int = 1, page_size: int = 50, entity_id: str | None = None, action: str | None = None) -> Page:
        where, params = [], []
        if entity_id:
            where.append("entity_id = ?")
            params.append(entity_id)
        if action:
            where.append("action = ?")
            params.append(action if action.startswith("exporter:") else f"exporter:exports:{action}")
        clause = ("WHERE " + " AND ".join(where)) if where else ""
        total = self._query(f"SELECT count(*) AS n FROM audit {clause}", tuple(params))[0]["n"]
        rows = self._query(f"SELECT * FROM audit {clause} ORDER BY id DESC LIMIT ? OFFSET ?", (*params, page_size, (page - 1) * page_size))
        for r in rows:
            r["detail"] = json.loads(r["detail"] or "{}")
        return Page(rows, page, page_size, total)

    # -- what the scheduler's ledger reads (scheduler/ledger.py says what these mean) -----
    def newest_skip_through(self, request_id: str) -> float | None:
        """The `through` of the request's newest skip event, or None when nothing was skipped."""
        return self._query(
            "SELECT max(json_extract(detail, '$.through')) AS t FROM audit WHERE entity_id = ? AND action = 'exporter:exports:skip'",
            (request_id,),
        )[0]["t"]

    def last_pause(self, request_id: str) -> tuple[str, str] | None:
        """(paused at, resumed at) stamps of the request's latest pause, once it has been resumed."""
        rows = self._query(
            "SELECT action, at FROM audit WHERE entity_id = ? AND action IN ('exporter:exports:pause', 'exporter:exports:resume')"
            " ORDER BY id DESC LIMIT 2",
            (request_id,),
        )
        if len(rows) == 2 and rows[0]["action"].endswith(":resume") and rows[1]["action"].endswith(":pause"):
            return rows[1]["at"], rows[0]["at"]
        return None
