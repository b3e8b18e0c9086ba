"""`/events`: the runs' log as Server-Sent Events, read from the store, so the runs of every
process on the database show up (within one poll). The event id is the log entry's id, so a
client that reconnects with `Last-Event-ID` misses nothing and sees nothing twice.

Progress is state, not history: a `progress` event (with no id) goes out whenever a running
run's stored progress has changed since the last poll, whichever process runs it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import StreamingResponse

from exporter_tui.api.state import Caller, StateDep
from exporter_tui.core.enums import EventKind, RunStatus
from exporter_tui.core.times import iso_from_unix
from exporter_tui.store.store import Store

router = APIRouter()
POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0
KINDS = {"info": EventKind.INFO, "warning": EventKind.WARNING, "error": EventKind.ERROR}  # run_log levels as event kinds


def event_of(row: dict[str, Any]) -> str:
    kind = KINDS.get(row["level"], EventKind.INFO)
    if kind == EventKind.INFO and row["status"] == RunStatus.DONE:
        kind = EventKind.DONE
    elif kind == EventKind.ERROR and row["status"] == RunStatus.FAILED:
        kind = EventKind.FAILED
    data = {
        "runId": row["run_id"],
        "requestId": row["request_id"],
        "kind": kind,
        "message": row["message"],
        "progress": row["progress"],
        "total": row["total"],
        "at": row["at"],
    }
    return f"id: {row['id']}\nevent: {kind}\ndata: {json.dumps(data)}\n\n"


def progress_event(row: dict[str, Any]) -> str:
    total = row["total"]
    data = {
        "runId": row["run_id"],
        "requestId": row["request_id"],
        "kind": "progress",
        "message": f"{row['progress'] or 0}/{total if total is not None else '?'} readings",
        "progress": row["progress"],
        "total": total,
        "at": iso_from_unix(row["heartbeat_at"]),
    }
    return f"event: progress\ndata: {json.dumps(data)}\n\n"


@router.get("/events", summary="Server-Sent Events: what the log pane shows, from every process on the database")
async def events(
    request: Request,
    who: Caller,
    state: StateDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    after: int | None = None,
) -> StreamingResponse:
    """`after=ID` (or the Last-Event-ID header) starts after that entry; with neither, only new entries come."""
    who.require("list")
    start = after if after is not None else (int(last_event_id) if last_event_id and last_event_id.isdigit() else None)

    async def stream() -> AsyncIterator[str]:
        store: Store = await asyncio.to_thread(state.ctx.open_store)
        try:
            cursor = start
            if cursor is None:
                cursor = await asyncio.to_thread(store.run_log.last_id)
            yield ": connected\n\n"
            quiet = 0.0
            shown: dict[str, tuple[Any, Any]] = {}  # run id -> the (progress, total) last sent
            while not await request.is_disconnected():
                rows = await asyncio.to_thread(store.run_log.since, cursor, who.owner_filter)
                for row in rows:
                    cursor = row["id"]
                    yield event_of(row)
                running = await asyncio.to_thread(store.runs.running_progress, who.owner_filter)
                moved = [r for r in running if shown.get(r["run_id"]) != (r["progress"], r["total"])]
                shown = {r["run_id"]: (r["progress"], r["total"]) for r in running}
                for row in moved:
                    yield progress_event(row)
                if rows or moved:
                    quiet = 0.0
                    continue
                await asyncio.sleep(POLL_SECONDS)
                quiet += POLL_SECONDS
                if quiet >= KEEPALIVE_SECONDS:
                    quiet = 0.0
                    yield ": keepalive\n\n"
        finally:
            await asyncio.to_thread(store.close)

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
