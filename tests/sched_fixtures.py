"""Helpers for the scheduler tests: a home with a config, readings, requests, a clock tests move."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from exporter_tui.context import Context, load_context
from exporter_tui.core.models import ExportRequest
from exporter_tui.core.validation import parse_request
from exporter_tui.pipeline.files import manifest_data
from exporter_tui.sources.embedded import write_readings
from exporter_tui.store.requests import StoredRequest
from exporter_tui.store.runs import Run
from exporter_tui.store.store import Store

CHANNEL = "0115c85d-ef3e-4de9-9732-d0c5c4f2c482"
SUBTOPIC = "events.data"
TARGET = "urn:dev:temp"
ACTOR = "tester"

BASE_CONFIG = f"""
[identity]
user = "{ACTOR}"

[scheduler]
tick = 0.2
retry = {{ attempts = 3, backoff = 30.0 }}
"""


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


class FakeClock:
    """A clock the test sets; the scheduler reads it for heartbeats, claims and staleness."""

    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def set(self, when: datetime) -> datetime:
        self.now = when
        return when

    def advance(self, **delta: float) -> datetime:
        self.now = self.now + timedelta(**delta)
        return self.now


def make_home(root: Path, config: str = "", *, base: str = BASE_CONFIG) -> Context:
    """A home folder under `root` with config.toml = base + config; the folders exist."""
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(base + config, encoding="utf-8")
    (home / "config.toml").chmod(0o600)
    ctx = load_context(home, None)
    ctx.ensure_dirs()
    return ctx


def seed(ctx: Context, start: datetime, end: datetime, every: float = 600.0, name: str = TARGET) -> int:
    """Readings of `name` every `every` seconds in [start, end), value = index; returns the count."""
    t0, t1 = start.timestamp(), end.timestamp()
    rows = []
    i = 0
    while t0 + i * every < t1:
        rows.append({"channel": CHANNEL, "subtopic": SUBTOPIC, "name": name, "time": t0 + i * every, "value": float(i), "unit": "Cel"})
        i += 1
    return write_readings(ctx.paths.source_db, rows)


def item(name: str = TARGET, **params: Any) -> dict:
    return {"params": {"target": {"value": name}, "channelId": CHANNEL, "subtopic": SUBTOPIC, **params}}


def recurring(
    periodicity: str, period_start: datetime | None, *, catch_up: str | None = None, zone: str = "utc", **extra: Any
) -> ExportRequest:
    body: dict[str, Any] = {
        "type": "recurring",
        "periodicity": periodicity,
        "format": {"extension": "csv", "timezone": zone},
        "items": [item()],
        **extra,
    }
    if period_start is not None:
        body["periodStart"] = period_start.timestamp()
    if catch_up is not None:
        body["catchUp"] = catch_up
    return parse_request(body)


def one_time(period_start: datetime | None, window: tuple[datetime, datetime]) -> ExportRequest:
    body: dict[str, Any] = {
        "type": "oneTime",
        "format": {"extension": "csv"},
        "items": [item(**{"from": window[0].timestamp(), "to": window[1].timestamp()})],
    }
    if period_start is not None:
        body["periodStart"] = period_start.timestamp()
    return parse_request(body)


def create(store: Store, request: ExportRequest, created: datetime) -> StoredRequest:
    return store.requests.create(request, ACTOR, now=created)


def runs_of(store: Store, request_id: str) -> list[Run]:
    """The request's runs, by nominal time (manual runs last)."""
    runs = store.runs.page(page_size=10_000, request_id=request_id).results
    return sorted(runs, key=lambda r: (r.nominal_time is None, r.nominal_time or 0.0, r.created_at))


def windows(runs: list[Run]) -> list[tuple[datetime, datetime]]:
    return [(_at(r.window_from), _at(r.window_to)) for r in runs]


def _at(ts: float | None) -> datetime:
    assert ts is not None
    return datetime.fromtimestamp(ts, UTC)


def skips(store: Store, request_id: str | None = None) -> list[dict]:
    """Skip decisions (audit details), oldest first."""
    page = store.audit.page(page_size=10_000, entity_id=request_id, action="skip")
    return [e["detail"] for e in reversed(page.results)]


def count(store: Store, table: str) -> int:
    return store.query(f"SELECT count(*) AS n FROM {table}")[0]["n"]


def data_files(exports_dir: Path) -> list[Path]:
    """Published export files (not manifests, not temporaries)."""
    return sorted(p for p in exports_dir.rglob("*") if p.is_file() and not p.name.startswith(".") and manifest_data(p) is None)


def temp_files(exports_dir: Path) -> list[Path]:
    return sorted(p for p in exports_dir.rglob(".*"))


def iso(dt: datetime) -> str:
    """As the store writes times: UTC with milliseconds and a Z."""
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
