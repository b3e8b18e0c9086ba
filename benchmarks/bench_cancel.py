"""Cancel latency: how long after `exporter-tui runs cancel RUN` a run executed by another
process ends `failed` ("cancelled by ..."), at several source sizes. Prints figures; asserts nothing.

    .venv/bin/python benchmarks/bench_cancel.py [--days 100,400] [--rounds 3]

Each round starts `exporter-tui run ID --from .. --to ..` over the whole demo source in a child
process, waits until the store shows it in progress with readings done, cancels it from a second
process, and times until the store shows it finished. The run's partial file must be gone.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPT = Path(sys.executable).with_name("exporter-tui")


def cli(home: Path, *args: str, stdin: str | None = None) -> str:
    return subprocess.run([str(SCRIPT), "--home", str(home), *args], check=True, capture_output=True, text=True, input=stdin).stdout


def every_reading_request(home: Path, example_id: str) -> str:
    """A copy of the demo's example request over every target of its channel, undecimated: the
    biggest export the source allows. Returns its id."""
    body = json.loads(cli(home, "requests", "export", example_id))
    item = body["items"][0]["params"]
    names = [t["name"] for t in json.loads(cli(home, "sources", "list", "--json")) if t["channel"] == item["channelId"]]
    item["target"] = {"value": ",".join(names), "label": ",".join(n.rsplit(":", 2)[-2] + "-" + n.rsplit(":", 1)[-1] for n in names)}
    item.pop("decimation", None)
    body["name"] = "every reading"
    return json.loads(cli(home, "requests", "create", "-", "--json", stdin=json.dumps(body)))["id"]


def wait_for(query: str, db: Path, deadline: float) -> tuple:
    while time.monotonic() < deadline:
        with sqlite3.connect(db) as conn:
            row = conn.execute(query).fetchone()
        if row:
            return row
        time.sleep(0.01)
    raise TimeoutError(query)


def one_round(home: Path, request_id: str, start: str, end: str) -> float | None:
    """Seconds from the cancel to the run's end; None when the run ended before the cancel reached it."""
    db = home / "exporter.db"
    child = subprocess.Popen(
        [str(SCRIPT), "--home", str(home), "run", request_id, "--from", start, "--to", end, "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        (run_id,) = wait_for("SELECT id FROM runs WHERE status = 'inProgress' AND progress > 0", db, time.monotonic() + 120)
        asked = time.monotonic()
        try:
            cli(home, "runs", "cancel", run_id)
        except subprocess.CalledProcessError as e:
            if e.returncode == 3:  # "run ... is done": it finished first
                return None
            raise
        (error,) = wait_for(f"SELECT error FROM runs WHERE id = '{run_id}' AND status = 'failed'", db, asked + 120)
        latency = time.monotonic() - asked
        assert "cancelled" in (error or ""), error
        return latency
    finally:
        child.wait(timeout=120)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", default="100,400", help="demo sizes, in days of 20 targets at one reading a minute")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}")
    for days in [float(d) for d in args.days.split(",")]:
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp) / "home"
            out = cli(home, "demo", "--days", str(days))
            found = re.search(r"example request: ([0-9a-f-]+)", out)
            readings = re.search(r"^(\d+) readings", out, re.M)
            assert found and readings, out
            request_id = every_reading_request(home, found.group(1))
            end = time.strftime("%Y-%m-%dT%H:00:00Z", time.gmtime())
            start = time.strftime("%Y-%m-%dT%H:00:00Z", time.gmtime(time.time() - (days + 1) * 86400))
            ended = [one_round(home, request_id, start, end) for _ in range(args.rounds)]
            times = [t for t in ended if t is not None] or [float("nan")]
            leftovers = [p.name for p in (home / "exports").rglob("*") if p.is_file() and not p.name.endswith(".json")]
            print(
                f"{int(readings.group(1)):>11,} readings: cancel latency median {statistics.median(times):.2f} s, "
                f"max {max(times):.2f} s over {len(times)} rounds ({ended.count(None)} finished first); files left: {len(leftovers)}"
            )
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
