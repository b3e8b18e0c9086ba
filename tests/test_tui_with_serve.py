"""The TUI and `exporter-tui serve` on one database: what is created over HTTP shows in the TUI, and runs once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from api_server import free_port
from snapshot_apps.tui_homes import CONFIG, make_app, make_home, settle
from test_tui_scheduler import one_time_body, wait_until

from exporter_tui.core.times import utc_now
from exporter_tui.pipeline.files import manifest_data

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]  # slow: serve as a process
FAST = CONFIG.replace('catch_up = "skip"', 'catch_up = "skip"\ntick = 0.2')


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("EXPORTER_TUI_")}


def _health(url: str, proc: subprocess.Popen) -> dict | None:
    try:
        return httpx.get(f"{url}/health", timeout=2).json()
    except httpx.HTTPError:
        assert proc.poll() is None, proc.communicate(timeout=5)
        return None


async def test_a_request_created_over_http_appears_in_the_tui_and_runs_once(tmp_path: Path) -> None:
    ctx = make_home(tmp_path / "home", config=FAST)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    serve = subprocess.Popen(
        [sys.executable, "-m", "exporter_tui", "--home", str(ctx.paths.home), "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        app = make_app(ctx, scheduler=True, clock=utc_now, poll_seconds=0.2)
        async with app.run_test() as pilot:
            await settle(pilot)
            await wait_until(pilot, lambda: (h := _health(url, serve)) is not None and h["store"] == "ok", seconds=60)
            async with httpx.AsyncClient(base_url=url, timeout=10) as client:
                created = await client.post("/exports", json=one_time_body())
                assert created.status_code == 201, created.text
                rid = created.json()["id"]
                table = app.main_screen.requests_table
                await wait_until(pilot, lambda: rid in dict(table.rows_data), seconds=20)
                await wait_until(pilot, lambda: dict(table.rows_data)[rid]["last"] == "done", seconds=60)
                runs = (await client.get(f"/exports/{rid}/runs")).json()
            assert runs["total"] == 1 and runs["results"][0]["status"] == "done"
    finally:
        serve.terminate()
        _, err = serve.communicate(timeout=30)
    assert serve.returncode == 0, err
    with ctx.open_store() as store:
        [run] = store.runs.page(request_id=rid).results
        assert run.attempt == 1 and store.audit.page(action="run").total == 0
    folder = ctx.paths.exports_dir
    files = [p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".") and manifest_data(p) is None]
    assert [str(p) for p in files] == [run.file_path]
