"""`/health` (no key) and `/metrics` in Prometheus' text format."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse

from exporter_tui import __version__
from exporter_tui.api.state import Caller, StateDep
from exporter_tui.core.enums import RunStatus
from exporter_tui.store.errors import StoreError

router = APIRouter()
BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0)  # seconds, for exporter_run_duration_seconds


@router.get("/health", summary="Version, whether the store answers, and who schedules")
def health(state: StateDep) -> JSONResponse:
    body: dict[str, Any] = {"version": __version__, "scheduler": state.scheduler}
    try:
        with state.ctx.open_store() as store:
            store.ping()
        body["store"] = "ok"
    except (StoreError, OSError) as e:
        body["store"] = f"unusable: {e}"
        return JSONResponse(body, status_code=503)
    return JSONResponse(body)


@router.get("/metrics", response_class=PlainTextResponse, summary="Prometheus text format")
def metrics(who: Caller, state: StateDep) -> PlainTextResponse:
    who.require("list")
    with state.ctx.open_store() as store:
        figures = {**store.runs.figures(), "notification_failures": store.notifications.failed_count()}
    return PlainTextResponse(prometheus_text(figures), media_type="text/plain; version=0.0.4")


def prometheus_text(figures: dict[str, Any]) -> str:
    by_status: dict[str, int] = figures["by_status"]
    durations: list[float] = figures["durations"]
    lines = ["# HELP exporter_runs Runs in the store by status.", "# TYPE exporter_runs gauge"]
    lines += [f'exporter_runs{{status="{s}"}} {by_status.get(s, 0)}' for s in RunStatus]
    lines += ["# HELP exporter_run_duration_seconds How long finished runs took.", "# TYPE exporter_run_duration_seconds histogram"]
    for bound in BUCKETS:
        lines.append(f'exporter_run_duration_seconds_bucket{{le="{bound:g}"}} {sum(1 for d in durations if d <= bound)}')
    lines.append(f'exporter_run_duration_seconds_bucket{{le="+Inf"}} {len(durations)}')
    lines.append(f"exporter_run_duration_seconds_sum {sum(durations):.3f}")
    lines.append(f"exporter_run_duration_seconds_count {len(durations)}")
    lines += ["# HELP exporter_queue_length Runs waiting to start.", "# TYPE exporter_queue_length gauge"]
    lines.append(f"exporter_queue_length {by_status.get('notProcessed', 0)}")
    lines += [
        "# HELP exporter_notification_failures_total Notifications that failed.",
        "# TYPE exporter_notification_failures_total counter",
    ]
    lines.append(f"exporter_notification_failures_total {figures['notification_failures']}")
    return "\n".join(lines) + "\n"
