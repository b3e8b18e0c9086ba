"""The ASGI app: routes, error answers, the OpenAPI document with the core model's schema."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from exporter_tui import __version__
from exporter_tui.api import events, exports, files, health, runs
from exporter_tui.api.errors import install_handlers
from exporter_tui.api.schema import COMPONENTS
from exporter_tui.api.signing import signing_key
from exporter_tui.api.state import ApiState, Clock
from exporter_tui.context import Context
from exporter_tui.core.times import utc_now


def create_app(ctx: Context, *, clock: Clock = utc_now, key: bytes | None = None) -> FastAPI:
    """The API over `ctx`'s store; `clock` stamps and checks signed links (tests move it)."""
    ctx.ensure_dirs()
    app = FastAPI(title="exporter-tui", version=__version__, description="Connhex Exporter's export requests, served by exporter-tui.")
    app.state.api = ApiState(ctx=ctx, signing_key=key or signing_key(ctx.settings.api.signing_key, ctx.paths.data_dir), clock=clock)
    install_handlers(app)
    for module in (exports, runs, files, health, events):
        app.include_router(module.router)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schema.setdefault("components", {}).setdefault("schemas", {}).update(COMPONENTS)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
