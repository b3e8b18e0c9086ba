"""`/exports`: create, list, read, replace, delete, pause and resume export requests."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from exporter_tui.api.auth import Identity
from exporter_tui.api.bodies import request_body
from exporter_tui.api.schema import REQUEST_BODY
from exporter_tui.api.state import ApiState, Caller, StateDep, StoreDep, base_url
from exporter_tui.api.views import latest_run, request_view
from exporter_tui.core.enums import RunStatus
from exporter_tui.core.validation import parse_request
from exporter_tui.pipeline.pushdown import check_request
from exporter_tui.store.store import Store

router = APIRouter()
Sort = Literal["createdAt", "-createdAt", "updatedAt", "-updatedAt", "name", "-name"]


def _view(request: Request, state: ApiState, store: Store, stored) -> dict[str, Any]:
    return request_view(stored, latest_run(store, stored.id), base_url(request), state.signing_key, state.clock().timestamp())


@router.post("/exports", status_code=201, openapi_extra=REQUEST_BODY, summary="Create export request")
def create_export(
    request: Request,
    body: Annotated[Any, Depends(request_body)],
    who: Caller,
    store: StoreDep,
    state: StateDep,
) -> JSONResponse:
    who.require("create")
    parsed = parse_request(body, max_catchup=state.ctx.settings.scheduler.max_catchup)
    check_request(parsed, state.ctx.settings.source)
    stored = store.requests.create(parsed, who.owner, max_queued=state.ctx.settings.limits.max_queued_runs)
    return JSONResponse(
        _view(request, state, store, stored), status_code=201, headers={"Location": f"{base_url(request)}/exports/{stored.id}"}
    )


@router.get("/exports", summary="List export requests")
def list_exports(
    request: Request,
    who: Caller,
    store: StoreDep,
    state: StateDep,
    ids: Annotated[list[str], Query(alias="ids[]")] = [],  # noqa: B006 (FastAPI copies defaults)
    status: Annotated[list[RunStatus], Query(alias="status[]")] = [],  # noqa: B006
    type: Literal["oneTime", "recurring"] | None = None,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(alias="pageSize", ge=1, le=1000)] = 20,
    sort: Sort = "-createdAt",
) -> dict[str, Any]:
    who.require("list")
    found = store.requests.page(page, page_size, type=type, status=list(status), ids=ids, owner=who.owner_filter, sort=sort)
    return {
        "results": [_view(request, state, store, sr) for sr in found.results],
        "links": page_links(request, found.page, found.page_size, found.has_next, found.has_prev),
        "page": found.page,
        "pageSize": found.page_size,
        "total": found.total,
    }


def page_links(request: Request, page: int, size: int, has_next: bool, has_prev: bool) -> dict[str, str | None]:
    """Connectif's links: absolute, keeping every filter of this request."""

    def link(p: int) -> str:
        return str(request.url.include_query_params(page=p, pageSize=size))

    return {"next": link(page + 1) if has_next else None, "prev": link(page - 1) if has_prev else None}


@router.get("/exports/{request_id}", summary="Read export request")
def get_export(
    request: Request,
    request_id: str,
    who: Caller,
    store: StoreDep,
    state: StateDep,
) -> dict[str, Any]:
    who.require("list")
    return _view(request, state, store, who.check_owns(store.requests.get(request_id)))


@router.put("/exports/{request_id}", openapi_extra=REQUEST_BODY, summary="Replace export request")
def put_export(
    request: Request,
    request_id: str,
    body: Annotated[Any, Depends(request_body)],
    who: Caller,
    store: StoreDep,
    state: StateDep,
) -> dict[str, Any]:
    who.require("update")
    current = who.check_owns(store.requests.get(request_id))
    parsed = parse_request(body, max_catchup=state.ctx.settings.scheduler.max_catchup)
    check_request(parsed, state.ctx.settings.source)
    return _view(request, state, store, store.requests.update(current.id, parsed, who.owner))


@router.delete("/exports/{request_id}", summary="Delete export request (soft: deletedAt is set)")
def delete_export(
    request: Request,
    request_id: str,
    who: Caller,
    store: StoreDep,
    state: StateDep,
) -> dict[str, Any]:
    who.require("delete")
    current = who.check_owns(store.requests.get(request_id))
    return _view(request, state, store, store.requests.delete(current.id, who.owner))


@router.post("/exports/{request_id}/pause", summary="Stop scheduling the request")
def pause_export(
    request: Request,
    request_id: str,
    who: Caller,
    store: StoreDep,
    state: StateDep,
) -> dict[str, Any]:
    return _set_paused(request, request_id, True, who, store, state)


@router.post("/exports/{request_id}/resume", summary="Resume scheduling (the catch-up policy applies)")
def resume_export(
    request: Request,
    request_id: str,
    who: Caller,
    store: StoreDep,
    state: StateDep,
) -> dict[str, Any]:
    return _set_paused(request, request_id, False, who, store, state)


def _set_paused(request: Request, request_id: str, paused: bool, who: Identity, store: Store, state: ApiState) -> dict[str, Any]:
    who.require("update")
    current = who.check_owns(store.requests.get(request_id))
    return _view(request, state, store, store.requests.set_paused(current.id, paused, who.owner))
