"""The readers source against the tests' PostgreSQL-backed readers server, vs a plain offset pager.

Data: N readings (default 1M) of one target, one every 10 s, 3 publishers sharing each
time, in the readers' `messages` table (the postgres reader's schema, float seconds, with
an index on (channel, time) as a real deployment has). Both clients read the whole window
through the same HTTP server (tests/readers_server.py, the upstream readers' SQL) with
limit 1000:
  - ours:  ReadersSource.read (time slices, no offsets; every reading once);
  - plain: offset 0, 1000, 2000, ... with httpx, the script a user would write.
Printed: readings/s, requests, readings got (plain loses/repeats ties), and the seconds
per page at the start and at the end of the window.

    .venv/bin/python benchmarks/bench_readers.py [--readings N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from pg import PgCluster  # noqa: E402
from readers_server import ReadersServer  # noqa: E402

from exporter_tui.config import ReadersSettings  # noqa: E402
from exporter_tui.sources.base import ReadQuery  # noqa: E402
from exporter_tui.sources.readers import ReadersSource  # noqa: E402

CH = "bench-channel"
T0 = 1_780_308_000.0
STEP = 10.0
PUBLISHERS = 3
LIMIT = 1000


def rows(n: int) -> Any:
    for i in range(n):
        yield {
            "channel": CH,
            "subtopic": "s",
            "publisher": f"dev-{i % PUBLISHERS}",
            "protocol": "mqtt",
            "name": "temp",
            "unit": "Cel",
            "time": T0 + (i // PUBLISHERS) * STEP,
            "value": float(i),
        }


class Timed(httpx.HTTPTransport):
    """Records each request's seconds, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        t = time.perf_counter()
        resp = super().handle_request(request)
        resp.read()
        self.seconds.append(time.perf_counter() - t)
        return resp


def ours(server: ReadersServer, end: float) -> dict[str, Any]:
    transport = Timed()
    source = ReadersSource(
        ReadersSettings(url=server.url, token="t", api="magistrala-0.14", page_size=LIMIT, timeout=600), transport=transport
    )
    server.requests.clear()
    t = time.perf_counter()
    seen: Counter[tuple[float, str]] = Counter()
    try:
        for chunk in source.read(ReadQuery(CH, "s", "temp", T0, end)):
            seen.update(zip(chunk["time"], chunk["publisher"]))
    finally:
        source.close()
    seconds = time.perf_counter() - t
    pages = [s for s, q in zip(transport.seconds, server.query_params()) if q.get("limit") == str(LIMIT)]
    return {"seconds": seconds, "requests": server.request_count, "got": sum(seen.values()), "distinct": len(seen), "pages": pages}


def plain(server: ReadersServer, end: float) -> dict[str, Any]:
    server.requests.clear()
    seen: Counter[tuple[float, str]] = Counter()
    pages: list[float] = []
    t = time.perf_counter()
    offset, total = 0, None
    with httpx.Client(base_url=server.url, headers={"Authorization": "Bearer t"}, timeout=600) as client:
        while total is None or offset < total:
            params = {"name": "temp", "from": repr(T0), "to": repr(end), "offset": str(offset), "limit": str(LIMIT)}
            p0 = time.perf_counter()
            body = client.get(f"/channels/{CH}/messages", params=params).json()
            pages.append(time.perf_counter() - p0)
            total = body["total"]
            seen.update((m["time"], m["publisher"]) for m in body["messages"])
            offset += LIMIT
    seconds = time.perf_counter() - t
    return {"seconds": seconds, "requests": server.request_count, "got": sum(seen.values()), "distinct": len(seen), "pages": pages}


def per_page(pages: list[float], k: int = 20) -> tuple[float, float]:
    return statistics.median(pages[:k]), statistics.median(pages[-k:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--readings", type=int, default=1_000_000)
    args = ap.parse_args()
    n = args.readings
    end = T0 + ((n - 1) // PUBLISHERS + 1) * STEP
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs")
    with PgCluster() as pg:
        t = time.perf_counter()
        server = ReadersServer.from_pg(rows(n), pg.new_schema(), index=True, token="t", schemes=("Bearer",))
        print(f"loaded {n} readings into PostgreSQL in {time.perf_counter() - t:.1f} s")
        with server:
            results = {"ours": ours(server, end), "plain": plain(server, end)}
    print(
        f"{'client':8} {'seconds':>8} {'readings/s':>11} {'requests':>9} {'got':>9} {'distinct':>9} {'s/page first':>13} {'s/page last':>12}"
    )
    for name, r in results.items():
        first, last = per_page(r["pages"])
        print(
            f"{name:8} {r['seconds']:8.1f} {r['got'] / r['seconds']:11.0f} {r['requests']:9d} {r['got']:9d} {r['distinct']:9d} "
            f"{first:13.4f} {last:12.4f}"
        )
    print(f"speed-up: {results['plain']['seconds'] / results['ours']['seconds']:.2f}x")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
