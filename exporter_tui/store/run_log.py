"""Each run's log: what it reported as it ran, read by the TUI, `runs show` and the API's event stream."""

from __future__ import annotations

from datetime import datetime

from exporter_tui.core.times import iso, utc_now
from exporter_tui.store.family import Family


class RunLog(Family):
    def add(self, run_id: str, level: str, message: str, now: datetime | None = None) -> None:
        with self._store.transaction():
            self._execute(
                "INSERT INTO run_log (run_id, at, level, message) VALUES (?, ?, ?, ?)", (run_id, iso(now or utc_now()), level, message)
            )

    def of_run(self, run_id: str) -> list[dict]:
        return self._query("SELECT at, level, message FROM run_log WHERE run_id = ? ORDER BY id", (run_id,))

    def since(self, after_id: int, owner: str | None = None, limit: int = 200) -> list[dict]:
        """Log entries of every process's runs after `after_id`, oldest first, with each run's request and progress."""
        mine = "" if owner is None else " AND q.owner = ?"
        return self._query(
            "SELECT l.id, l.run_id, l.at, l.level, l.message, r.request_id, r.status, r.progress, r.total"
            " FROM run_log l JOIN runs r ON r.id = l.run_id JOIN requests q ON q.id = r.request_id"
            f" WHERE l.id > ?{mine} ORDER BY l.id LIMIT ?",
            (after_id, *(() if owner is None else (owner,)), limit),
        )

    def last_id(self) -> int:
        """The newest log entry's id (0 when there is none): where a new event stream starts."""
        return int(self._query("SELECT coalesce(max(id), 0) AS n FROM run_log")[0]["n"])
