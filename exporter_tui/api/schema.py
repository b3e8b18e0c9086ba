"""/openapi.json describes request bodies with the core model's own schema and wire field names."""

from __future__ import annotations

from typing import Any

from exporter_tui.core.models import ExportRequest

_SCHEMA = ExportRequest.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
COMPONENTS: dict[str, Any] = _SCHEMA.pop("$defs", {})
COMPONENTS["ExportRequest"] = _SCHEMA
REQUEST_BODY: dict[str, Any] = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ExportRequest"}}}}
}
