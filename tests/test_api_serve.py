"""`exporter-tui serve` as a process: its own scheduler runs what is queued; keyless only on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from api_server import free_port, wait_until
from sched_fixtures import CHANNEL, SUBTOPIC, TARGET, make_home, seed, utc

pytestmark = pytest.mark.slow  # serve as a process

START, END = utc(2024, 1, 1), utc(2024, 1, 2)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXPORTER_TUI_")}
    return env


def test_a_public_host_without_keys_is_refused(tmp_path: Path) -> None:
    ctx = make_home(tmp_path)
    out = subprocess.run(
        [sys.executable, "-m", "exporter_tui", "--home", str(ctx.paths.home), "serve", "--host", "0.0.0.0", "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(),
    )
    assert out.returncode == 2 and "not a loopback address" in out.stderr


def test_serve_runs_the_scheduler_and_a_request_created_over_http_is_exported_once(tmp_path: Path) -> None:
    ctx = make_home(tmp_path)
    seed(ctx, START, END)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "exporter_tui", "--home", str(ctx.paths.home), "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        url = f"http://127.0.0.1:{port}"

        def health():
            try:
                return httpx.get(f"{url}/health", timeout=2).json()
            except httpx.HTTPError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                return None

        wait_until(lambda: (h := health()) and h["scheduler"] == "running in this process", timeout=60, what="serve to answer")
        body = {
            "type": "oneTime",
            "format": {"extension": "csv"},
            "items": [
                {
                    "params": {
                        "target": {"value": TARGET},
                        "channelId": CHANNEL,
                        "subtopic": SUBTOPIC,
                        "from": START.timestamp(),
                        "to": END.timestamp(),
                    }
                }
            ],
        }
        with httpx.Client(base_url=url, timeout=10) as c:
            rid = c.post("/exports", json=body).json()["id"]
            run = wait_until(lambda: (r := c.get(f"/exports/{rid}").json())["status"] == "done" and r, timeout=60, what="the run")
            assert c.get(f"/exports/{rid}/runs").json()["total"] == 1
            assert c.get(run["fileUrl"]).status_code == 200
            assert c.get("/exports").json()["results"][0]["owner"] == "tester"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "no [api.keys] in config" in err
