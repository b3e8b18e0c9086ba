"""How long the README's test command takes on a fresh clone, and whether the TUI tests hold
under load. Prints figures; asserts nothing.

    .venv/bin/python benchmarks/bench_suite.py                 # 3 runs idle, 3 with a core busy, then 20 TUI runs busy
    .venv/bin/python benchmarks/bench_suite.py --runs 1 --tui-runs 3 --phases busy   # a quick look

Each suite run clones the repository (`git clone` of this checkout's HEAD) into a new temporary
folder and runs the README's test command there, verbatim: venv, install, the whole suite. The
busy phase keeps one core busy with a spinning process (`while True: pass`, one core's worth,
like `stress-ng --cpu 1`). The TUI runs reuse one clone's venv (already installed) and run
`pytest -q -n auto tests/test_tui_*.py` back to back. The load average (1 minute) is printed
before and after every run: the machine may have other users.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TUI_TESTS = "tests/test_tui_*.py"


def readme_test_command() -> str:
    """The line under '# 2. Set up and run the tests' in the README: what a newcomer runs."""
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip().startswith("# 2. Set up and run the tests"))
    return lines[at + 1].strip()


def load() -> float:
    return os.getloadavg()[0]


@contextlib.contextmanager
def busy_core(on: bool) -> Iterator[None]:
    """One process spinning on one core while the block runs (nothing when `on` is false)."""
    if not on:
        yield
        return
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        spinner.kill()
        spinner.wait()


@dataclass
class Timed:
    seconds: float
    cpu: float  # user + system seconds of the command and every process it waited for
    code: int
    summary: str
    load_before: float
    load_after: float


def timed(command: str, cwd: Path) -> Timed:
    before = load()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    done = subprocess.run(["bash", "-c", command], cwd=cwd, capture_output=True, text=True, env=clean_env())
    seconds = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime
    lines = [line for line in (done.stdout + done.stderr).splitlines() if re.search(r"\d+ (passed|failed|error)", line)]
    summary = lines[-1].strip("= ") if lines else (done.stdout + done.stderr).strip()[-300:]
    return Timed(seconds, cpu, done.returncode, summary, before, load())


def clean_env() -> dict[str, str]:
    """This process's environment without the venv it runs in and without the app's own settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EXPORTER_TUI_", "PYTEST_", "VIRTUAL_ENV"))}
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    return env


def fresh_clone(into: Path) -> Path:
    clone = into / "exporter-tui"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    return clone


def suite_runs(phase: str, runs: int, work: Path, command: str) -> tuple[list[Timed], Path | None]:
    """`runs` fresh-clone runs of the README command; returns them and the last clone (for the TUI runs)."""
    results: list[Timed] = []
    last: Path | None = None
    with busy_core(phase == "busy"):
        for i in range(runs):
            folder = Path(tempfile.mkdtemp(prefix=f"suite-{phase}-{i}-", dir=work))
            clone = fresh_clone(folder)
            result = timed(command, clone)
            results.append(result)
            print(
                f"  {phase} run {i + 1}: {result.seconds:6.1f} s (CPU {result.cpu:6.1f} s)  exit {result.code}  load {result.load_before:.2f} -> "
                f"{result.load_after:.2f}  {result.summary}",
                flush=True,
            )
            if last is not None:
                shutil.rmtree(last.parent, ignore_errors=True)
            last = clone
    return results, last


def tui_runs(clone: Path, runs: int, busy: bool) -> list[Timed]:
    command = f".venv/bin/python -m pytest -q -p no:cacheprovider -n auto {TUI_TESTS}"
    results = []
    with busy_core(busy):
        for i in range(runs):
            result = timed(command, clone)
            results.append(result)
            print(
                f"  TUI run {i + 1:2d}: {result.seconds:6.1f} s (CPU {result.cpu:6.1f} s)  exit {result.code}  load {result.load_before:.2f} -> "
                f"{result.load_after:.2f}  {result.summary}",
                flush=True,
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="fresh-clone runs of the README test command per phase")
    parser.add_argument("--tui-runs", type=int, default=20, help="consecutive runs of the TUI tests, after the suite runs of --tui-phase")
    parser.add_argument("--tui-phase", default="busy", help="the phase whose load the TUI runs share (default: busy)")
    parser.add_argument("--phases", default="idle,busy", help="comma-separated: idle (nothing added) and/or busy (one core spinning)")
    parser.add_argument("--work", default=None, help="where the clones go (default: a new temporary folder, removed after)")
    args = parser.parse_args()

    command = readme_test_command()
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="bench-suite-"))
    work.mkdir(parents=True, exist_ok=True)
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"commit {head}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, load average {load():.2f}")
    print(f"command: {command}")
    table: list[tuple[str, list[Timed]]] = []
    tui: list[Timed] = []
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    try:
        for phase in phases:
            print(f"{phase}: {args.runs} fresh clone(s)", flush=True)
            results, clone = suite_runs(phase, args.runs, work, command)
            table.append((phase, results))
            if phase == args.tui_phase and args.tui_runs and clone is not None:
                print(f"TUI tests, {args.tui_runs} consecutive runs, {phase}", flush=True)
                tui = tui_runs(clone, args.tui_runs, phase == "busy")
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)

    print()
    print("| phase | runs | median | min | max | CPU (median) | failed runs | load average (1 min) during |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for phase, results in table:
        secs = [r.seconds for r in results]
        loads = [x for r in results for x in (r.load_before, r.load_after)]
        failed = sum(r.code != 0 for r in results)
        print(
            f"| {phase} | {len(secs)} | {statistics.median(secs) / 60:.1f} min | {min(secs) / 60:.1f} min | {max(secs) / 60:.1f} min "
            f"| {statistics.median(r.cpu for r in results) / 60:.1f} min | {failed} | {min(loads):.1f}-{max(loads):.1f} |"
        )
    if tui:
        secs = [r.seconds for r in tui]
        loads = [x for r in tui for x in (r.load_before, r.load_after)]
        green = sum(r.code == 0 for r in tui)
        print(
            f"| TUI tests ({args.tui_phase}) | {len(tui)} | {statistics.median(secs):.0f} s | {min(secs):.0f} s | {max(secs):.0f} s "
            f"| {statistics.median(r.cpu for r in tui):.0f} s | {len(tui) - green} ({green}/{len(tui)} green) | {min(loads):.1f}-{max(loads):.1f} |"
        )


if __name__ == "__main__":
    main()
