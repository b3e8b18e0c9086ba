"""Runs: list and read them, start one (`POST /exports/{id}/run`), cancel and retry."""

from __future__ import annotations

from datetime import UTC
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from exporter_tui.api.auth import Identity
from exporter_tui.api.bodies import optional_body
from exporter_tui.api.errors import ApiError
from exporter_tui.api.exports import page_links
from exporter_tui.api.state import ApiState, Caller, StateDep, StoreDep, base_url
from exporter_tui.api.views import run_view
from exporter_tui.core.enums import Origin, RunStatus
from exporter_tui.core.times import parse_iso
from exporter_tui.service.runs import cancel_run as cancel
from exporter_tui.service.runs import start_manual
from exporter_tui.store.errors import NotFound
from exporter_tui.store.runs import Run
from exporter_tui.store.store import Store

router = APIRouter()


def _view(request: Request, state: ApiState, run: Run) -> dict[str, Any]:
    return run_view(run, base_url(request), state.signing_key, state.clock().timestamp())


def owned_run(store: Store, who: Identity, run_id: str) -> Run:
    """The run, if its request belongs to the caller; another owner's is not found."""
    run = store.runs.get(run_id)
    try:
        who.check_owns(store.requests.get(run.request_id, include_deleted=True))
    except NotFound:
        raise NotFound(f"no run with id '{run_id}'") from None
    return run


def _runs_page(request: Request, state: ApiState, store: Store, who: Identity, page: int, size: int, request_id, status) -> dict:
    found = store.runs.page(page, size, request_id=request_id, status=list(status), owner=who.owner_filter)
    return {
        "results": [_view(request, state, r) for r in found.results],
        "links": page_links(request, found.page, found.page_size, found.has_next, found.has_prev),
        "page": found.page,
        "pageSize": found.page_size,
        "total": found.total,
    }


@router.get("/runs", summary="List runs, newest first")
def list_runs(
    request: Request,
    who: Caller,
    store: StoreDep,
    state: StateDep,
    status: Annotated[list[RunStatus], Query(alias="status[]")] = [],  # noqa: B006 (FastAPI copies defaults)
    request_id: Annotated[str | None, Query(alias="requestId")] = None,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(alias="pageSize", ge=1, le=1000)] = 20,
) -> dict[str, Any]:
    who.require("list")
    rid = who.check_owns(store.requests.get(request_id, include_deleted=True)).id if request_id else None
    return _runs_page(request, state, store, who, page, page_size, rid, status)


@router.get("/exports/{request_id}/runs", summary="The runs of one request, newest first")
def request_runs(
    request: Request,
    request_id: str,
    who: Caller,
    store: StoreDep,
    state: StateDep,
    status: Annotated[list[RunStatus], Query(alias="status[]")] = [],  # noqa: B006
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(alias="pageSize", ge=1, le=1000)] = 20,
) -> dict[str, Any]:
    who.require("list")
    rid = who.check_owns(store.requests.get(request_id, include_deleted=True)).id
    return _runs_page(request, state, store, who, page, page_size, rid, status)


@router.get("/runs/{run_id}", summary="One run")
def get_run(
    request: Request,
    run_id: str,
    who: Caller,
    store: StoreDep,
    state: StateDep,
) -> dict[str, Any]:
    who.require("list")
    return _view(request, state, owned_run(store, who, run_id))


def _instant(value: Any, name: str) -> float:
    """Unix seconds or an ISO 8601 date-time (naive means UTC)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return parse_iso(value, UTC).timestamp()
        except ValueError:
            pass
    raise ApiError(422, "The run's window is not valid", [{"path": name, "reason": "must be Unix seconds or an ISO 8601 date-time"}])


@router.post("/exports/{request_id}/run", status_code=202, summary="Queue a run of the request now")
def run_export(
    request: Request,
    request_id: str,
    body: Annotated[Any, Depends(optional_body)],
    who: Caller,
    store: StoreDep,
    state: StateDep,
) -> JSONResponse:
    """`{}` runs the last ended interval (oneTime: its queued run), by the CLI's `run ID` rules, so it never
    duplicates scheduled work; `{"from", "to"}` an extra run over a window of your own. It runs in this server."""
    who.require("update")
    stored = who.check_owns(store.requests.get(request_id))
    if not isinstance(body, dict) or set(body) - {"from", "to"}:
        raise ApiError(422, "The run body is not valid", [{"path": "", "reason": 'must be {} or {"from": T, "to": T}'}])
    if ("from" in body) != ("to" in body):
        raise ApiError(422, "The run body is not valid", [{"path": "from" if "to" in body else "to", "reason": "from and to go together"}])
    window = None
    if "from" in body:
        start, end = _instant(body["from"], "from"), _instant(body["to"], "to")
        if start >= end:
            raise ApiError(422, "The run body is not valid", [{"path": "to", "reason": "must be after from"}])
        window = (start, end)
    run = start_manual(state.ctx, store, stored, Origin.API, who.owner, state.clock(), window)
    return JSONResponse(_view(request, state, run), status_code=202, headers={"Location": f"{base_url(request)}/runs/{run.id}"})


@router.post("/runs/{run_id}/cancel", summary="Cancel a queued or running run")
def cancel_run(
    request: Request,
    run_id: str,
    who: Caller,
    store: StoreDep,
    state: StateDep,
) -> dict[str, Any]:
    who.require("update")
    run = owned_run(store, who, run_id)
    return _view(request, state, cancel(store, run.id, who.owner))


@router.post("/runs/{run_id}/retry", summary="Queue a failed or expired run again")
def retry_run(
    request: Request,
    run_id: str,
    who: Caller,
    store: StoreDep,
    state: StateDep,
) -> dict[str, Any]:
    who.require("update")
    run = owned_run(store, who, run_id)
    return _view(request, state, store.runs.retry(run.id, who.owner))
