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

Pushdown: N readings (default 1M) of one target, one a minute, in the Timescale reader's
schema (nanoseconds, BIGINT, indexed), served with aggregation (time_bucket as date_bin);
a 15-minute average in Europe/Rome read and decimated here (`pushdown = "off"`) and asked of
the server (`auto`: the probe, then COUNT and AVG per slice of 1000 buckets, then the total).
Printed: seconds, requests, response body bytes, buckets, and the largest difference between
the two as a fraction of the bucket's sum of |value|.

    .venv/bin/python benchmarks/bench_readers.py [--readings N] [--pushdown-readings N] [--cases raw,pushdown]
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
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from pg import PgCluster  # noqa: E402
from readers_server import ReadersServer  # noqa: E402

from exporter_tui.config import ReadersSettings  # noqa: E402
from exporter_tui.pipeline.decimate import as_frames  # noqa: E402
from exporter_tui.pipeline.streams import Stages, target_stream  # noqa: E402
from exporter_tui.sources.base import ReadQuery  # noqa: E402
from exporter_tui.sources.readers.source import ReadersSource  # noqa: E402

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


def minute_rows(n: int) -> Any:
    for i in range(n):
        value = 1000.0 * np.sin(i / 97.0) + (i % 13)
        yield {"channel": CH, "subtopic": "s", "publisher": "dev-0", "protocol": "mqtt", "name": "temp", "unit": "kW",
               "time": int((T0 + 60 * i) * 10**9) + (i * 7919) % 60_000_000_000, "value": value}  # fmt: skip


def pushdown(pg: PgCluster, n: int) -> dict[str, Any]:
    """A 15-minute average of n one-minute readings, computed here and by the server."""
    start, end = T0, T0 + 60.0 * n
    t = time.perf_counter()
    server = ReadersServer.from_pg(minute_rows(n), pg.new_schema(), nanoseconds=True, index=True, token="t", aggregates=True)
    print(f"loaded {n} one-minute readings (nanoseconds) into PostgreSQL in {time.perf_counter() - t:.1f} s")
    out: dict[str, Any] = {}
    frames: dict[str, pd.DataFrame] = {}
    query = ReadQuery(CH, "s", "temp", start, end)
    with server:
        for case, pushed in (("here", False), ("pushed", True)):
            source = ReadersSource(ReadersSettings(url=server.url, token="t", api="magistrala", page_size=LIMIT, timeout=600))
            stages = Stages(100_000, None, "Europe/Rome", None, "15m", "avg", pushed)
            server.requests.clear()
            server.bytes_sent = 0
            t = time.perf_counter()
            try:
                if pushed:
                    refused = source.aggregation_refusal(query)
                    assert refused is None, refused
                frames[case] = pd.concat(list(as_frames(target_stream(source, stages, query, lambda chunks: chunks))), ignore_index=True)
            finally:
                source.close()
            out[case] = {"seconds": time.perf_counter() - t, "requests": server.request_count, "bytes": server.bytes_sent}
        raw = pd.DataFrame(list(minute_rows(n)))
    here, pushed_frame = frames["here"], frames["pushed"]
    assert list(here["time"]) == list(pushed_frame["time"])
    starts = np.searchsorted(here["time"].to_numpy(), raw["time"].to_numpy() / 1e9, side="right") - 1
    scale = np.bincount(starts, weights=raw["value"].abs().to_numpy(), minlength=len(here))
    worst = float(np.max(np.abs(here["value"].to_numpy() - pushed_frame["value"].to_numpy()) / scale))
    return {"cases": out, "buckets": len(here), "worst": worst}


def per_page(pages: list[float], k: int = 20) -> tuple[float, float]:
    return statistics.median(pages[:k]), statistics.median(pages[-k:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--readings", type=int, default=1_000_000)
    ap.add_argument("--pushdown-readings", type=int, default=1_000_000)
    ap.add_argument("--cases", default="raw,pushdown", help="raw (ours vs the plain pager), pushdown, or both")
    args = ap.parse_args()
    cases = set(args.cases.split(","))
    n = args.readings
    end = T0 + ((n - 1) // PUBLISHERS + 1) * STEP
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs")
    with PgCluster() as pg:
        if "pushdown" in cases:
            p = pushdown(pg, args.pushdown_readings)
            print(f"{'15m avg':8} {'seconds':>8} {'requests':>9} {'bytes':>12}")
            for name, r in p["cases"].items():
                print(f"{name:8} {r['seconds']:8.1f} {r['requests']:9d} {r['bytes']:12,d}")
            here, pushed = p["cases"]["here"], p["cases"]["pushed"]
            print(
                f"{p['buckets']} buckets; pushdown: {here['bytes'] / pushed['bytes']:.1f}x fewer bytes, "
                f"{here['seconds'] / pushed['seconds']:.1f}x faster; largest |here - pushed| / sum|x| of the bucket: {p['worst']:.1e}"
            )
            print(f"load average after pushdown: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        if "raw" not in cases:
            return
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
