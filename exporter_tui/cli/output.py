"""Printing for the CLI: JSON for scripts, aligned text for people."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from exporter_tui.core.enums import RunStatus
from exporter_tui.store.family import Page
from exporter_tui.store.requests import StoredRequest
from exporter_tui.store.runs import Run


def print_json(data: Any, stream: TextIO | None = None) -> None:
    (stream or sys.stdout).write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def answer(args: Any, data: Any, *lines: str) -> None:
    """What a command prints: `data` as JSON under --json, else the lines of text."""
    if getattr(args, "json", False):
        print_json(data)
    else:
        for line in lines:
            print(line)


def page_json(page: Page, items: list[dict], base: str) -> dict:
    return {"results": items, "links": page.links(base), "page": page.page, "pageSize": page.page_size, "total": page.total}


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[("" if v is None else str(v)) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    line = lambda vals: "  ".join(v.ljust(w) for v, w in zip(vals, widths)).rstrip()  # noqa: E731
    return "\n".join([line(list(headers))] + [line(r) for r in cells])


def request_row(sr: StoredRequest, last_status: str | None = None) -> list[Any]:
    r = sr.request
    targets = ",".join(r.target_names())
    return [
        sr.short_id,
        r.name or "",
        r.type,
        targets if len(targets) <= 48 else targets[:45] + "...",
        r.format.extension,
        r.periodicity or "-",
        ("paused" if sr.paused else (last_status or "-")),
    ]


REQUEST_HEADERS = ("ID", "NAME", "TYPE", "TARGETS", "EXT", "PERIODICITY", "LAST")


def run_row(run: Run) -> list[Any]:
    w = run.as_json()["window"]
    window = f"{w['from'] or '?'} .. {w['to'] or '?'}" if run.window_from is not None else "-"
    if run.rows is not None:
        rows = str(run.rows)
    elif run.status == RunStatus.IN_PROGRESS:
        rows = f"{run.progress}/{run.total if run.total is not None else '?'} readings"
    else:
        rows = "-"
    return [run.id[:8], run.request_id[:8], run.status, run.origin, run.attempt, window, rows, run.file_path or run.error or ""]


RUN_HEADERS = ("RUN", "REQUEST", "STATUS", "ORIGIN", "TRY", "WINDOW (UTC)", "ROWS", "FILE / ERROR")


def paging_footer(page: Page) -> str:
    pages = max(1, -(-page.total // page.page_size))
    nav = []
    if page.has_prev:
        nav.append(f"prev: --page {page.page - 1}")
    if page.has_next:
        nav.append(f"next: --page {page.page + 1}")
    return f"page {page.page}/{pages}, {page.total} in all" + (f" ({', '.join(nav)})" if nav else "")
