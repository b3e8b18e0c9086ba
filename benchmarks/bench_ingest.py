"""Ingest speed from a generated SenML JSON pack: parse only, and end to end through the CLI.

    python benchmarks/bench_ingest.py [N] [--runs 3]

The pack is N readings of 5 devices x 4 metrics, one base name and base time per device
block (as a device's pack has), times relative to the base time. Parse only: every batch of
`FileReader` (JSON decoding, base fields resolved, every field checked, the frames built).
End to end: `exporter-tui ingest FILE --json` in this process into a new source, and once
more into the same source (every reading a duplicate). Prints medians; nothing is asserted
(the goal is 1,000,000 readings a second).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from exporter_tui.cli.main import main as cli
from exporter_tui.sources.ingest import Defaults, FileReader

METRICS = (("temperature", "Cel"), ("humidity", "%RH"), ("energy", "kWh"), ("pressure", "Pa"))
DEVICES = 5
BLOCK = 1000  # records per device block: its first record carries bn, bt and bu


def generate(path: Path, n: int) -> None:
    """A pack of n records, written a block at a time."""
    start = 1_767_225_600.0  # 2026-01-01
    with open(path, "w") as f:
        f.write("[")
        written = 0
        block = 0
        while written < n:
            device = block % DEVICES
            metric, unit = METRICS[(block // DEVICES) % len(METRICS)]
            base = {"bn": f"urn:dev:mac:0024befffe80{device:04x}:", "bt": start + (block // DEVICES) * BLOCK * 10, "bu": unit}
            records = []
            for i in range(min(BLOCK, n - written)):
                record = {"n": metric, "t": i * 10, "v": round(20 + (i % 97) / 7, 2)}
                records.append(base | record if i == 0 else record)
            f.write(("," if written else "") + ",".join(json.dumps(r, separators=(",", ":")) for r in records))
            written += len(records)
            block += 1
        f.write("]")


def timed(f: Callable[[], object]) -> float:
    began = time.perf_counter()
    f()
    return time.perf_counter() - began


def parse_only(path: Path) -> int:
    with open(path, "rb") as stream:
        return sum(len(batch.frame) for batch in FileReader(stream, path.name, "auto", Defaults(channel="bench", subtopic="data")))


def ingest(home: Path, path: Path) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli(["--home", str(home), "ingest", str(path), "--channel", "bench", "--subtopic", "data", "--json", "--quiet"])
    if code:
        raise SystemExit(f"ingest failed with exit code {code}")
    return json.loads(out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=1_000_000, help="readings in the file (default 1,000,000)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pack.json"
        generate(path, args.n)
        size = path.stat().st_size
        print(f"{args.n:,} readings, {size / 2**20:,.1f} MiB ({size / args.n:.0f} bytes a record)")

        parsed = [timed(lambda: parse_only(path)) for _ in range(args.runs)]
        p = statistics.median(parsed)
        print(f"parse only:       median {p:.2f} s, {args.n / p:,.0f} readings/s  (runs: {', '.join(f'{t:.2f}' for t in parsed)})")

        fresh, again = [], []
        for run in range(args.runs):
            home = Path(tmp) / f"home{run}"
            home.mkdir()
            (home / "config.toml").write_text('[identity]\nuser = "bench"\n')
            (home / "config.toml").chmod(0o600)
            fresh.append(timed(lambda home=home: ingest(home, path)))
            began = time.perf_counter()
            summary = ingest(home, path)
            again.append(time.perf_counter() - began)
            assert summary["new"] == 0 and summary["duplicate"] == args.n, summary
        e, d = statistics.median(fresh), statistics.median(again)
        print(f"end to end, new:  median {e:.2f} s, {args.n / e:,.0f} readings/s  (runs: {', '.join(f'{t:.2f}' for t in fresh)})")
        print(f"again, all dups:  median {d:.2f} s, {args.n / d:,.0f} readings/s  (runs: {', '.join(f'{t:.2f}' for t in again)})")
        print(f"the write's share of a new ingest: {max(e - p, 0):.2f} s ({max(e - p, 0) / e:.0%})")


if __name__ == "__main__":
    main()
