"""Building blocks for end-to-end export tests: readings in a real source.db and a stored request."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from exporter_tui.sources.embedded import write_readings

CH = "0115c85d-ef3e-4de9-9732-d0c5c4f2c482"
SUB = "events.data"
T0 = 1_780_308_000  # 2026-06-01T10:00:00Z = 12:00 in Europe/Rome


def reading(name: str, t: float, value: float | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "channel": CH,
        "subtopic": SUB,
        "publisher": "dev-1",
        "protocol": "mqtt",
        "name": name,
        "unit": extra.pop("unit", "Cel"),
        "time": t,
        "value": value,
        **extra,
    }


def fill(home: Path, rows: list[dict[str, Any]]) -> None:
    write_readings(home / "source.db", rows)


def item(value: str, label: str | None = None, **params: Any) -> dict[str, Any]:
    target = {"value": value} if label is None else {"value": value, "label": label}
    filename = params.pop("filename", None)
    out: dict[str, Any] = {"params": {"target": target, "channelId": CH, "subtopic": SUB, **params}}
    if filename:
        out["filename"] = filename
    return out


def body(items: list[dict[str, Any]], extension: str = "csv", columns: list[tuple[str, str]] | None = None, **fmt: Any) -> dict[str, Any]:
    f: dict[str, Any] = {"extension": extension, "timezone": fmt.pop("timezone", "Europe/Rome"), **fmt}
    if columns:
        f["columns"] = [{"id": i, "label": lab} for i, lab in columns]
    return {"type": "oneTime", "format": f, "items": items}


def create(cli, tmp_path: Path, b: dict[str, Any]) -> str:
    p = tmp_path / "req.json"
    p.write_text(json.dumps(b))
    r = cli("requests", "create", str(p))
    assert r.code == 0, r.err
    return r.json()["id"]


def run(cli, rid: str, *extra: str) -> dict[str, Any]:
    r = cli("run", rid, "--json", *extra)
    assert r.out, r.err
    out = r.json()
    out["_code"] = r.code
    return out
