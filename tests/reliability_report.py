"""Figures of the reliability and security suites: printed, and kept as JSON lines.

Each suite calls `report("fuzz-cli", bodies=500, tracebacks=0, stored=0)` once it has
checked everything. The line `FUZZ-CLI: bodies=500 tracebacks=0 stored=0` is printed
(seen with `pytest -s`) and, when EXPORTER_TUI_REPORT names a file, a JSON object with the
same figures, the size (short or full) and the time is appended to it.

    EXPORTER_TUI_REPORT=/tmp/rel.jsonl pytest tests/test_reliability_*.py tests/test_security.py --full
    python tests/reliability_report.py /tmp/rel.jsonl     # the latest figures of each suite, as a table
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

REPORT_ENV = "EXPORTER_TUI_REPORT"


def report(suite: str, *, full: bool, **figures: Any) -> str:
    """Print one summary line for `suite` and append it to $EXPORTER_TUI_REPORT if set."""
    line = f"{suite.upper()}: " + " ".join(f"{k}={v}" for k, v in figures.items())
    print(line)
    target = os.environ.get(REPORT_ENV)
    if target:
        record = {"suite": suite, "size": "full" if full else "short", "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **figures}
        with open(target, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, sort_keys=False) + "\n")
    return line


def latest(path: Path) -> dict[str, dict[str, Any]]:
    """The last record of each suite in a report file."""
    out: dict[str, dict[str, Any]] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        if raw.strip():
            record = json.loads(raw)
            out[record["suite"]] = record
    return out


def markdown(records: dict[str, dict[str, Any]]) -> str:
    """A Markdown table: suite, size, date, then the figures as `name=value`."""
    lines = ["| suite | size | at | figures |", "| --- | --- | --- | --- |"]
    for suite, r in sorted(records.items()):
        figures = ", ".join(f"{k}={v}" for k, v in r.items() if k not in ("suite", "size", "at"))
        lines.append(f"| {suite} | {r['size']} | {r['at']} | {figures} |")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/reliability_report.py REPORT.jsonl")
    print(markdown(latest(Path(sys.argv[1]))))
