"""The example request a new user finds next to the demo data."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from exporter_tui.core.validation import parse_request
from exporter_tui.store.requests import StoredRequest
from exporter_tui.store.store import Store

EXAMPLE_NAME = "Demo: hourly climate of D0CF5EFFFE26FDAB1"
EXAMPLE_ZONE = "Europe/Rome"


def example_body(period_start: datetime) -> dict:
    device = "urn:cpt:smartdevice:nid:D0CF5EFFFE26FDAB1"
    return {
        "name": EXAMPLE_NAME,
        "type": "recurring",
        "periodicity": "P1D",
        "periodStart": int(period_start.timestamp()),
        "format": {
            "extension": "csv",
            "timezone": EXAMPLE_ZONE,
            "columns": [
                {"id": "time", "label": "time"},
                {"id": "name", "label": "metric"},
                {"id": "value", "label": "value"},
                {"id": "unit", "label": "unit"},
            ],
        },
        "items": [
            {
                "params": {
                    "target": {"value": f"{device}:temperature,{device}:humidity", "label": "temperature,humidity"},
                    "channelId": "0115c85d-ef3e-4de9-9732-d0c5c4f2c482",
                    "subtopic": "events.data",
                    "decimation": {"ds": "1h", "dsf": "avg"},
                },
                "filename": "climate",
            },
        ],
    }


def ensure_example_request(store: Store, actor: str, data_end: datetime) -> StoredRequest:
    """Store the example request once (found again by its name), daily from local midnight a week before the data ends."""
    for sr in store.requests.active():
        if sr.request.name == EXAMPLE_NAME:
            return sr
    start = (data_end.astimezone(ZoneInfo(EXAMPLE_ZONE)) - timedelta(days=7)).replace(hour=0, minute=0, second=0, microsecond=0)
    return store.requests.create(parse_request(example_body(start)), actor)
