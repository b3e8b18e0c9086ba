"""Requests and runs as the API shows them: the CLI's JSON, without file paths, with signed links."""

from __future__ import annotations

from typing import Any

from exporter_tui.api.signing import signed_query
from exporter_tui.core.enums import RunStatus
from exporter_tui.store.requests import StoredRequest
from exporter_tui.store.runs import Run
from exporter_tui.store.store import Store


def run_view(run: Run, base: str, key: bytes, now: float) -> dict[str, Any]:
    data = run.as_json()
    data.pop("filePath", None)
    data["fileUrl"] = f"{base}/files/{run.id}?{signed_query(key, run.id, now)}" if run.status == RunStatus.DONE else None
    return data


def request_view(stored: StoredRequest, latest: Run | None, base: str, key: bytes, now: float) -> dict[str, Any]:
    """The stored body with its server fields, and Connectif's fields of the latest run (null without one)."""
    run = run_view(latest, base, key, now) if latest else {}
    return {
        **stored.as_json(),
        "owner": stored.owner,
        "paused": stored.paused,
        **{k: run.get(k) for k in ("status", "progress", "total", "fileName", "fileExtension", "fileUrl", "finishedAt", "origin")},
        "lastRunId": run.get("id"),
    }


def latest_run(store: Store, request_id: str) -> Run | None:
    page = store.runs.page(1, 1, request_id=request_id)
    return page.results[0] if page.results else None
