"""Small jobs, whole process through the console script: `--help`, `requests list`, a one-day
CSV `run`, against bare Python. Prints the median of N rounds; the rounds interleave the cases,
so all see the same load. Usage: .venv/bin/python benchmarks/bench_small_jobs.py [--rounds 11]
[--baseline DIR]: also time another checkout's exporter_tui (put first on PYTHONPATH), side by side.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPT = Path(sys.executable).with_name("exporter-tui")


def timed(cmd: list[str], env: dict[str, str] | None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--baseline", help="a checkout whose exporter_tui is timed beside this one")
    args = parser.parse_args()
    rounds = args.rounds
    # As a user's install runs: with compiled modules cached (pip writes them; an environment that
    # turns caching off would time the compiler too). The `demo` below writes the cache.
    cached = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    envs: dict[str, dict[str, str] | None] = {"": cached}
    if args.baseline:
        envs[" (baseline)"] = {**cached, "PYTHONPATH": str(Path(args.baseline).absolute())}
    with tempfile.TemporaryDirectory() as tmp:
        cases: dict[str, list[tuple[list[str], dict[str, str] | None]]] = {}
        for i, env in enumerate(envs.values()):  # a home each: a newer build's database is refused by an older one
            home = str(Path(tmp) / f"home{i}")
            demo = subprocess.run([str(SCRIPT), "--home", home, "demo", "--days", "2"], check=True, capture_output=True, text=True, env=env)
            found = re.search(r"example request: ([0-9a-f-]+)", demo.stdout)
            assert found, demo.stdout
            for name, cmd in {
                "python -c pass": [sys.executable, "-c", "pass"],
                "--help": [str(SCRIPT), "--help"],
                "requests list": [str(SCRIPT), "--home", home, "requests", "list"],
                "run (one day, CSV)": [str(SCRIPT), "--home", home, "run", found.group(1)],
            }.items():
                cases.setdefault(name, []).append((cmd, env))
        times: dict[str, list[float]] = {name + tag: [] for name in cases for tag in envs}
        for _ in range(rounds):
            for name, variants in cases.items():
                for tag, (cmd, env) in zip(envs, variants):
                    times[name + tag].append(timed(cmd, env))
    print(f"load average {os.getloadavg()[0]:.2f}, {rounds} rounds, median s")
    for name, values in times.items():
        print(f"{name:<34} {statistics.median(values):6.3f}")


if __name__ == "__main__":
    main()
