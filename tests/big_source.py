"""A home with a big demo source, and the seams TUI tests use on it.

`make_big_home` fills the embedded source with DEMO_DAYS of demo data (288,000 readings of
20 targets) and stores `big_body`, a request over every target of DEMO_CHANNEL at 15
minutes, whose preview takes a while. `HeldCompute` holds that preview until the test says
go, so "still loading" is a fact of the test, not a race it hopes to win.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from snapshot_apps.tui_homes import CONFIG, days_ago, hourly_body, make_home

from exporter_tui.context import Context
from exporter_tui.core.validation import parse_request
from exporter_tui.sources.demo import DEMO_CHANNEL, DEMO_DEVICES, DEMO_METRICS, demo_target
from exporter_tui.tui.screens import preview as preview_module

DEMO_DAYS = 10.0  # 288,000 readings; 12 of its 20 targets are on DEMO_CHANNEL


def big_body() -> dict[str, Any]:
    """Every target of DEMO_CHANNEL over the whole demo, at 15 minutes: a preview that takes a while."""
    names = [demo_target(device, metric) for channel, device in DEMO_DEVICES if channel == DEMO_CHANNEL for metric in DEMO_METRICS]
    body = hourly_body("Every target")
    params = body["items"][0]["params"]
    params["target"] = {"value": ",".join(names)}
    params["decimation"] = {"ds": "15m", "dsf": "avg"}
    params["period"] = f"P{int(DEMO_DAYS)}D"
    return body


def make_big_home(root: Path, config: str = CONFIG) -> tuple[Context, str]:
    """A home with DEMO_DAYS of demo data and `big_body` stored; the context and the request's id."""
    ctx = make_home(root, days=DEMO_DAYS, config=config)
    with ctx.open_store() as store:
        stored = store.requests.create(parse_request(big_body()), "tester", now=days_ago(1))
    return ctx, stored.id


class HeldCompute:
    """Wraps the preview's compute step: says when it started, waits for `release`, runs the
    real thing and says when it returned. Install it with
    `monkeypatch.setattr(preview_module, "compute", HeldCompute())`."""

    def __init__(self) -> None:
        self.real = preview_module.compute
        self.started = threading.Event()
        self.release = threading.Event()
        self.finished = threading.Event()
        self.result: Any = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.started.set()
        self.release.wait(60)
        try:
            self.result = self.real(*args, **kwargs)
            return self.result
        finally:
            self.finished.set()
