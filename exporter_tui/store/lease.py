"""The scheduler lease: which process schedules, so two never serve the same database at once."""

from __future__ import annotations

import os
import time

from exporter_tui.store.family import Family


class Lease(Family):
    def acquire(self, name: str, holder: str, ttl: float, now: float | None = None) -> bool:
        """Take or renew a named lease; False when another live holder has it."""
        ts = time.time() if now is None else now
        with self._store.transaction():
            row = self._execute("SELECT holder, expires_at FROM scheduler_lease WHERE name = ?", (name,)).fetchone()
            if row and row[0] != holder and row[1] > ts:
                return False
            self._execute(
                "INSERT INTO scheduler_lease (name, holder, expires_at, pid, host) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at, pid = excluded.pid, host = excluded.host",
                (name, holder, ts + ttl, os.getpid(), os.uname().nodename),
            )
        return True

    def holder(self, name: str, now: float | None = None) -> dict | None:
        ts = time.time() if now is None else now
        rows = self._query("SELECT * FROM scheduler_lease WHERE name = ? AND expires_at > ?", (name, ts))
        return rows[0] if rows else None

    def release(self, name: str, holder: str) -> None:
        with self._store.transaction():
            self._execute("DELETE FROM scheduler_lease WHERE name = ? AND holder = ?", (name, holder))
