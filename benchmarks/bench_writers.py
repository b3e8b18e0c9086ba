"""Throughput of the export writers; prints median seconds of 3 runs (about 2-3 minutes on 2 cores).

Data: 1M rows (time in Europe/Rome every 30 s, name out of 50, float value) in chunks of
100k. Excel runs on 100k rows (its cost is per cell, so it extrapolates linearly) and
compares the two libraries the writer could use: openpyxl write-only (a declared
dependency) and xlsxwriter constant_memory (what ExcelWriter uses).

    .venv/bin/python benchmarks/bench_writers.py [--rows N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
from openpyxl.cell import WriteOnlyCell

from exporter_tui.pipeline.writers import Table, WriteOptions, get_writer

CHUNK = 100_000
RUNS = 3


def make_chunks(rows: int) -> list[pd.DataFrame]:
    start = pd.Timestamp("2026-01-01", tz="UTC").value
    times = pd.Series(pd.to_datetime(start + np.arange(rows, dtype=np.int64) * 30_000_000_000, utc=True)).dt.tz_convert("Europe/Rome")
    names = np.array([f"sensor-{i % 50}" for i in range(rows)], dtype=object)
    values = np.random.default_rng(1).normal(20, 5, rows).round(3)
    frame = pd.DataFrame({"time": times, "name": pd.Series(names, dtype=object), "value": values})
    return [frame.iloc[i : i + CHUNK].reset_index(drop=True) for i in range(0, rows, CHUNK)]


def table(chunks: list[pd.DataFrame]) -> Table:
    return Table(
        title="data", columns=["time", "name", "value"], time_columns=frozenset({"time"}), chunks=iter(chunks), numeric_columns=("value",)
    )


def median_seconds(run: Callable[[], object]) -> float:
    spans = []
    for _ in range(RUNS):
        started = time.perf_counter()
        run()
        spans.append(time.perf_counter() - started)
    return statistics.median(spans)


def writer_run(extension: str, chunks: list[pd.DataFrame], out: Path) -> Callable[[], object]:
    options = WriteOptions(timezone_name="Europe/Rome")
    return lambda: get_writer(extension).write([table(chunks)], out / f"bench.{extension}", options)


def pandas_csv_run(chunks: list[pd.DataFrame], out: Path) -> Callable[[], object]:
    """The naive baseline: DataFrame.to_csv on the tz-aware frames as they come."""

    def run() -> None:
        with open(out / "naive.csv", "w", encoding="utf-8", newline="") as f:
            for i, chunk in enumerate(chunks):
                chunk.to_csv(f, index=False, header=i == 0, lineterminator="\r\n")

    return run


def openpyxl_run(chunks: list[pd.DataFrame], out: Path) -> Callable[[], object]:
    """openpyxl write-only with the same cells (local naive datetimes with a date format)."""

    def run() -> None:
        workbook = openpyxl.Workbook(write_only=True)
        sheet = workbook.create_sheet("data")
        sheet.append(["time (Europe/Rome)", "name", "value"])
        for chunk in chunks:
            times = chunk["time"].dt.tz_localize(None).dt.to_pydatetime().tolist()
            for t, name, value in zip(times, chunk["name"].tolist(), chunk["value"].tolist()):
                cell = WriteOnlyCell(sheet, t)
                cell.number_format = "yyyy-mm-dd hh:mm:ss"
                sheet.append([cell, name, value])
        workbook.save(out / "openpyxl.xlsx")

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    chunks = make_chunks(args.rows)
    excel_rows = min(args.rows, 100_000)
    excel_chunks = make_chunks(excel_rows)
    scale = args.rows / excel_rows
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        print(f"rows: {args.rows:,} in chunks of {CHUNK:,}; median of {RUNS} runs, seconds")
        cases: list[tuple[str, Callable[[], object], float]] = [
            ("CSV ISO (CsvWriter)", writer_run("csv", chunks, out), 1),
            ("CSV naive pandas to_csv (baseline)", pandas_csv_run(chunks, out), 1),
            ("JSON ISO (JsonWriter)", writer_run("json", chunks, out), 1),
            (f"Excel xlsxwriter constant_memory (ExcelWriter), {excel_rows:,} rows", writer_run("xlsx", excel_chunks, out), scale),
            (f"Excel openpyxl write-only, {excel_rows:,} rows", openpyxl_run(excel_chunks, out), scale),
        ]
        for label, run, factor in cases:
            seconds = median_seconds(run)
            extra = f"  (~{seconds * factor:.2f} s for {args.rows:,} rows)" if factor != 1 else ""
            print(f"{label:<70} {seconds:8.3f}{extra}", flush=True)


if __name__ == "__main__":
    main()
