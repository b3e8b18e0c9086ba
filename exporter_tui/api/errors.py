"""Every error answer in Connectif's body, `{"detail", "validationErrors": [{"path", "reason"}]}`, never a traceback."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from exporter_tui.core.errors import ExporterError, json_path

log = logging.getLogger("exporter_tui.api")


class ApiError(ExporterError):
    """An answer other than success: status, detail and the fields it concerns."""

    def __init__(self, status: int, detail: str, errors: list[dict[str, str]] | None = None, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.http_status = status
        self.errors = errors or []
        self._headers = headers

    def body(self) -> dict:
        return error_body(str(self), self.errors)

    def headers(self) -> dict[str, str] | None:
        return self._headers


def error_body(detail: str, errors: list[dict[str, str]] | None = None) -> dict:
    return {"detail": detail, "validationErrors": errors or []}


def respond(status: int, detail: str, errors: list[dict[str, str]] | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(detail, errors), status_code=status, headers=headers)


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ExporterError)
    async def _known(_: Request, e: ExporterError) -> JSONResponse:
        return JSONResponse(e.body(), status_code=e.http_status, headers=e.headers())

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
