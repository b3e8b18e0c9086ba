"""Reading a JSON body the way the API documents answer: 415 without application/json, 413 past
`api.max_body`, 400 for bytes that are not JSON; the decoded value then goes to the CLI's validation."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from exporter_tui.api.errors import ApiError


async def json_body(request: Request, *, optional: bool = False) -> Any:
    limit = request.app.state.api.ctx.settings.api.max_body
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"the body is larger than api.max_body ({limit} bytes)")
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise ApiError(413, f"the body is larger than api.max_body ({limit} bytes)")
    if optional and not raw.strip():
        return {}
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise ApiError(
            415, "the body must be sent with Content-Type: application/json", [{"path": "Content-Type", "reason": kind or "missing"}]
        )
    try:
        return json.loads(raw.decode("utf-8-sig"), parse_constant=_refuse_constant)
    except UnicodeDecodeError as e:
        raise ApiError(400, "Bad request: the body is not UTF-8", [{"path": "", "reason": f"not UTF-8 text (byte {e.start})"}]) from None
    except json.JSONDecodeError as e:
        raise ApiError(400, "Bad request: invalid json", [{"path": "", "reason": f"{e.msg} at line {e.lineno} column {e.colno}"}]) from None
    except (ValueError, RecursionError) as e:
        raise ApiError(400, "Bad request: invalid json", [{"path": "", "reason": str(e) or "nested too deeply"}]) from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


async def request_body(request: Request) -> Any:
    """FastAPI dependency: the decoded body of a create or an update."""
    return await json_body(request)


async def optional_body(request: Request) -> Any:
    """FastAPI dependency: a body that may be left out (`POST /exports/{id}/run`)."""
    return await json_body(request, optional=True)
