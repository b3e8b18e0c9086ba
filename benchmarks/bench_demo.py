"""Demo generation speed and a single-target range scan through EmbeddedSource.

    python benchmarks/bench_demo.py [--days 30] [--runs 3]

Prints figures only; nothing is asserted (the goal is 500,000 rows a second).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from exporter_tui.sources.base import ReadQuery
from exporter_tui.sources.demo import DEMO_CHANNEL, DEMO_DEVICE, DEMO_SUBTOPIC, demo_target, generate_demo
from exporter_tui.sources.embedded import EmbeddedSource

END = datetime(2025, 3, 1, tzinfo=UTC)


def scan(path: Path, start: float, end: float, runs: int) -> tuple[int, float]:
    """(rows, median seconds) of reading the main device's temperature over [start, end)."""
    query = ReadQuery(DEMO_CHANNEL, DEMO_SUBTOPIC, demo_target(DEMO_DEVICE, "temperature"), start, end)
    timings, rows = [], 0
    with EmbeddedSource(path) as source:
        for _ in range(runs):
            began = time.perf_counter()
            rows = sum(len(chunk) for chunk in source.read(query))
            timings.append(time.perf_counter() - began)
    return rows, statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        timings, rows = [], 0
        for run in range(args.runs):
            path = Path(tmp) / f"run{run}.db"
            stats = generate_demo(path, days=args.days, end=END)
            rows = stats.rows
            timings.append(stats.seconds)
            print(f"run {run + 1}: {stats.rows:,} rows in {stats.seconds:.2f} s ({stats.rows / stats.seconds:,.0f} rows/s)")
            if run:
                path.unlink()
        seconds = statistics.median(timings)
        print(f"generate {args.days:g} days: {rows:,} rows, median {seconds:.2f} s, {rows / seconds:,.0f} rows/s")

        again = generate_demo(Path(tmp) / "run0.db", days=args.days, end=END)
        print(f"re-run over the same range (insert or replace): {again.seconds:.2f} s, {again.rows / again.seconds:,.0f} rows/s")

        size = (Path(tmp) / "run0.db").stat().st_size
        print(f"file size: {size / 2**20:,.1f} MiB ({size / rows:.0f} bytes a row)")
        end_s = END.timestamp()
        for label, start in (("whole range", end_s - args.days * 86400), ("last day", end_s - 86400)):
            n, secs = scan(Path(tmp) / "run0.db", start, end_s, args.runs)
            print(f"scan one target, {label}: {n:,} rows in {secs * 1000:.1f} ms ({n / secs:,.0f} rows/s, median of {args.runs})")


if __name__ == "__main__":
    main()
