"""Files: Connhex's `GET /exports/{id}/download` (with a key) and the signed `fileUrl` (without one)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from exporter_tui.api.errors import ApiError
from exporter_tui.api.runs import owned_run
from exporter_tui.api.signing import verify
from exporter_tui.api.state import Caller, StateDep
from exporter_tui.core.enums import RunStatus
from exporter_tui.store.errors import NotFound
from exporter_tui.store.runs import Run

router = APIRouter()


def _file_of(run: Run) -> FileResponse:
    if run.status == RunStatus.EXPIRED:
        raise ApiError(410, f"run {run.id} expired: its file was removed by the retention policy")
    if run.status != RunStatus.DONE or not run.file_path:
        raise ApiError(409, f"run {run.id} is {run.status}; only a done run has a file")
    path = Path(run.file_path)
    if not path.is_file():
        raise ApiError(410, f"run {run.id}: its file is gone from the exports folder")
    return FileResponse(path, filename=path.name)


@router.get("/exports/{request_id}/download", summary="The file of the latest done run, or of ?run=ID")
def download(
    request_id: str,
    who: Caller,
    state: StateDep,
    run: str | None = None,
) -> FileResponse:
    who.require("download")
    with state.ctx.open_store() as store:
        stored = who.check_owns(store.requests.get(request_id, include_deleted=True))
        if run is not None:
            found = owned_run(store, who, run)
            if found.request_id != stored.id:
                raise NotFound(f"no run with id '{run}' of request {stored.id}")
        else:
            done = store.runs.page(1, 1, request_id=stored.id, status=RunStatus.DONE).results
            if not done:
                raise NotFound(f"request {stored.id} has no done run")
            found = done[0]
        return _file_of(found)


@router.get("/files/{run_id}", summary="A run's file through its signed link (fileUrl); no key needed")
def signed_file(run_id: str, state: StateDep, expires: str = "", signature: str = "") -> FileResponse:
    problem = verify(state.signing_key, run_id, expires, signature, state.clock().timestamp())
    if problem:
        raise ApiError(403, problem)
    with state.ctx.open_store() as store:
        return _file_of(store.runs.get(run_id))
