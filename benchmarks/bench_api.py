"""`exporter-tui serve` under load: 16 clients creating, listing and reading requests for 30 s.

Prints requests/s, p50/p99 latency per kind, and checks after it that every created request is
listed exactly once (none lost, none doubled). The server is a real uvicorn on 127.0.0.1 in a
subprocess (`exporter-tui serve --no-scheduler`), recurring requests starting in 2100 so no run is queued.

    .venv/bin/python benchmarks/bench_api.py [--clients 16] [--seconds 30]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

BODY = {
    "type": "recurring",
    "periodicity": "P1D",
    "periodStart": 4102444800,  # 2100-01-01: nothing is due, the scheduler stays idle
    "format": {"extension": "csv"},
    "items": [{"params": {"target": {"value": "urn:dev:temp"}, "channelId": "c", "subtopic": "events.data"}}],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def client(url: str, until: float, out: dict, created: list, lock: threading.Lock, n: int) -> None:
    lat: dict[str, list[float]] = {"create": [], "list": [], "read": []}
    mine: list[str] = []
    errors = 0
    with httpx.Client(base_url=url, timeout=30) as c:
        i = 0
        while time.monotonic() < until:
            kind = ("create", "list", "read")[i % 3] if mine else "create"
            t = time.perf_counter()
            if kind == "create":
                r = c.post("/exports", json={**BODY, "name": f"c{n}-{i}"})
                if r.status_code == 201:
                    mine.append(r.json()["id"])
            elif kind == "list":
                r = c.get("/exports", params={"pageSize": 20})
            else:
                r = c.get(f"/exports/{mine[-1]}")
            lat[kind].append(time.perf_counter() - t)
            errors += r.status_code >= 400
            i += 1
    with lock:
        for k, v in lat.items():
            out.setdefault(k, []).extend(v)
        out.setdefault("errors", []).append(errors)
        created.extend(mine)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=30.0)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-api-"))
    (home / "config.toml").write_text('[identity]\nuser = "bench"\n[limits]\nmax_queued_runs = 1000000\n')
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXPORTER_TUI_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "exporter_tui", "--home", str(home), "serve", "--port", str(port), "--no-scheduler"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/health", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit("serve did not start") from None
                time.sleep(0.1)
        out: dict[str, list] = {}
        created: list[str] = []
        lock = threading.Lock()
        until = time.monotonic() + args.seconds
        threads = [threading.Thread(target=client, args=(url, until, out, created, lock, n)) for n in range(args.clients)]
        start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - start
        listed: list[str] = []
        page = 1
        with httpx.Client(base_url=url, timeout=60) as c:
            while True:
                body = c.get("/exports", params={"page": page, "pageSize": 1000}).json()
                listed += [r["id"] for r in body["results"]]
                if not body["links"]["next"]:
                    break
                page += 1
    finally:
        proc.terminate()
        proc.wait(30)
    total = sum(len(out[k]) for k in ("create", "list", "read"))
    print(f"{args.clients} clients, {elapsed:.1f} s, {total} requests, {total / elapsed:.0f} requests/s, {sum(out['errors'])} errors")
    print("| kind | requests | p50 ms | p99 ms |")
    print("|---|---|---|---|")
    for k in ("create", "list", "read"):
        v = sorted(out[k])
        p99 = v[min(len(v) - 1, int(len(v) * 0.99))] if v else 0.0
        print(f"| {k} | {len(v)} | {statistics.median(v) * 1000:.1f} | {p99 * 1000:.1f} |")
    lost = set(created) - set(listed)
    doubled = len(listed) - len(set(listed))
    print(f"created {len(created)}, listed {len(listed)}, lost {len(lost)}, listed twice {doubled}")
    return 0 if not lost and not doubled else 1


if __name__ == "__main__":
    raise SystemExit(main())
