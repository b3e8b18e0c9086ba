"""What every route shares: the context, the clock, the signing key and the scheduler's state."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request

from exporter_tui.api.auth import Identity, caller
from exporter_tui.context import Context
from exporter_tui.core.times import utc_now
from exporter_tui.store.store import Store

Clock = Callable[[], datetime]


@dataclass
class ApiState:
    ctx: Context
    signing_key: bytes
    clock: Clock = utc_now
    scheduler: str = "not started"  # what /health says: "running in this process", "served by ...", ...
    extra: dict = field(default_factory=dict)


def api_state(request: Request) -> ApiState:
    return request.app.state.api


def open_store(request: Request) -> Iterator[Store]:
    """FastAPI dependency: a Store for this request whose audit events name the caller's key."""
    state = api_state(request)
    who: Identity = caller(request)
    with state.ctx.open_store() as store:
        if who.key is not None:
            store.audit.extra = {"key": who.key}
        yield store


# The dependencies the routes take, written once (FastAPI's reusable Annotated form).
Caller = Annotated[Identity, Depends(caller)]
StoreDep = Annotated[Store, Depends(open_store)]
StateDep = Annotated[ApiState, Depends(api_state)]


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")
