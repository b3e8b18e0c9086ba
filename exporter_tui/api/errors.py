"""Every error answer in Connectif's body, `{"detail", "validationErrors": [{"path", "reason"}]}`, never a traceback."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from exporter_tui.core.errors import RequestInvalid, json_path
from exporter_tui.store.store import QUEUE_FULL, LimitReached, NotFound, StoreError

RETRY_AFTER_SECONDS = 30  # how long a client told "queue full" waits before trying again
log = logging.getLogger("exporter_tui.api")


class ApiError(Exception):
    """An answer other than success: status, detail and the fields it concerns."""

    def __init__(self, status: int, detail: str, errors: list[dict[str, str]] | None = None, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors or []
        self.headers = headers


def error_body(detail: str, errors: list[dict[str, str]] | None = None) -> dict:
    return {"detail": detail, "validationErrors": errors or []}


def respond(status: int, detail: str, errors: list[dict[str, str]] | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(detail, errors), status_code=status, headers=headers)


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_: Request, e: ApiError) -> JSONResponse:
        return respond(e.status, e.detail, e.errors, e.headers)

    @app.exception_handler(RequestInvalid)
    async def _invalid(_: Request, e: RequestInvalid) -> JSONResponse:
        return JSONResponse(e.body(), status_code=422)

    @app.exception_handler(NotFound)
    async def _missing(_: Request, e: NotFound) -> JSONResponse:
        return respond(404, str(e))

    @app.exception_handler(LimitReached)
    async def _limit(_: Request, e: LimitReached) -> JSONResponse:
        if str(e) == QUEUE_FULL:
            return respond(429, str(e), headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        return respond(409, str(e))

    @app.exception_handler(StoreError)
    async def _store(_: Request, e: StoreError) -> JSONResponse:
        return respond(503, str(e))

    @app.exception_handler(RequestValidationError)
    async def _params(_: Request, e: RequestValidationError) -> JSONResponse:
        errors = [{"path": json_path(tuple(err["loc"][1:])) or str(err["loc"][0]), "reason": err["msg"]} for err in e.errors()]
        return respond(422, "The request's parameters are not valid", errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, e: StarletteHTTPException) -> JSONResponse:
        return respond(e.status_code, str(e.detail), headers=dict(e.headers or {}))

    @app.exception_handler(Exception)
    async def _crash(_: Request, e: Exception) -> JSONResponse:
        log.error("request failed: %s: %s", type(e).__name__, e)
        return respond(500, "internal error; the server log says more")
