"""What became of each message a run's end sent: medium, target, status, attempts."""

from __future__ import annotations

from exporter_tui.store.family import Family


class Notifications(Family):
    def record(
        self, run_id: str, request_id: str, medium: str, target: str, policy: str, status: str, attempts: int, error: str | None, at: str
    ) -> None:
        with self._store.transaction():
            self._execute(
                "INSERT INTO notifications (run_id, request_id, medium, target, policy, status, attempts, error, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, request_id, medium, target, policy, status, attempts, error, at),
            )

    def of_run(self, run_id: str) -> list[dict]:
        return self._query(
            "SELECT medium, target, policy, status, attempts, error, at FROM notifications WHERE run_id = ? ORDER BY id", (run_id,)
        )

    def failed_count(self) -> int:
        """Messages that failed, of every run (what /metrics counts)."""
        return int(self._query("SELECT count(*) AS n FROM notifications WHERE status = 'failed'")[0]["n"])
