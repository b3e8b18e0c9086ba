"""`/events`: the runs' log as Server-Sent Events, read from the store, so the runs of every
process on the database show up (within one poll). The event id is the log entry's id, so a
client that reconnects with `Last-Event-ID` misses nothing and sees nothing twice."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import StreamingResponse

from exporter_tui.api.auth import Identity, caller
from exporter_tui.api.state import ApiState, api_state
from exporter_tui.store.store import Store

router = APIRouter()
POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0
KINDS = {"info": "info", "warning": "warning", "error": "error"}  # run_log levels as event kinds


def event_of(row: dict[str, Any]) -> str:
    kind = KINDS.get(row["level"], "info")
    if kind == "info" and row["status"] == "done":
        kind = "done"
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


@router.get("/events", summary="Server-Sent Events: what the log pane shows, from every process on the database")
async def events(
    request: Request,
    who: Annotated[Identity, Depends(caller)],
    state: Annotated[ApiState, Depends(api_state)],
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
                rows = await asyncio.to_thread(store.query, "SELECT coalesce(max(id), 0) AS n FROM run_log")
                cursor = rows[0]["n"]
            yield ": connected\n\n"
            quiet = 0.0
            while not await request.is_disconnected():
                rows = await asyncio.to_thread(store.run_log_since, cursor, who.owner_filter)
                for row in rows:
                    cursor = row["id"]
                    yield event_of(row)
                if rows:
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
