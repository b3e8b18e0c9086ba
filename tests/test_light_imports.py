"""Small jobs load only what they use: which heavy libraries each command imports, seen through
the installed `exporter-tui` console script (not timed; the timings are in benchmarks/)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).with_name("exporter-tui")
HEAVY = ("pandas", "numpy", "sqlite_utils", "httpx", "fpdf", "fontTools", "PIL", "xlsxwriter", "openpyxl", "textual", "fastapi", "uvicorn")
WRITERS_AND_FRONT_ENDS = ("fpdf", "fontTools", "PIL", "xlsxwriter", "openpyxl", "textual", "fastapi", "uvicorn")

pytestmark = pytest.mark.slow


def imported(home: Path, *args: str) -> set[str]:
    """The top-level packages `exporter-tui --home HOME ARGS` imported, from `-X importtime`."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", str(SCRIPT), "--home", str(home), *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return {m.group(1).split(".")[0] for m in re.finditer(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)$", done.stderr, re.M)}


@pytest.mark.parametrize("args", [("--help",), ("requests", "list"), ("runs",), ("requests", "list", "--json")])
def test_a_light_command_imports_no_heavy_library(tmp_path: Path, args: tuple[str, ...]) -> None:
    assert SCRIPT.exists(), "the package is installed with its console script"
    home = tmp_path / "home"
    imported(home, "requests", "list")  # the first open creates exporter.db (a migration may load sqlite-utils)
    loaded = imported(home, *args)
    assert "exporter_tui" in loaded  # the parse of -X importtime found the imports at all
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


def test_a_csv_run_of_hourly_averages_loads_no_pandas_no_other_writer_and_no_front_end(tmp_path: Path) -> None:
    """The demo's example request, a day of hourly averages to CSV (what a recurring daily export
    is): its buckets go from the source's arrays to the file without a frame."""
    home = tmp_path / "home"
    demo = subprocess.run([str(SCRIPT), "--home", str(home), "demo", "--days", "1", "--json"], capture_output=True, text=True, timeout=120)
    assert demo.returncode == 0, demo.stderr
    request_id = re.search(r'"requestId":\s*"([0-9a-f-]+)"', demo.stdout) or re.search(r"([0-9a-f]{8}-[0-9a-f-]{27})", demo.stdout)
    assert request_id, demo.stdout
    loaded = imported(home, "run", request_id.group(1))
    assert "numpy" in loaded  # a run reads readings
    assert "pandas" not in loaded
    assert "httpx" not in loaded  # from the embedded source: no HTTP client
    assert loaded.isdisjoint(WRITERS_AND_FRONT_ENDS), sorted(loaded & set(WRITERS_AND_FRONT_ENDS))
