"""JSON: one array of records, keys = the column labels in order, written as it streams.

Layout: `[`, then one record per line separated by `,\\n`, then `]` (`[]` for no rows).
Times are strings in the request's date format, NaN and missing cells are null, and
non-finite numbers (which JSON cannot hold) are null too. Text is kept as it is
(no formula guard) and written as UTF-8 (ensure_ascii=False).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from exporter_tui.pipeline.writers.base import (
    Table,
    WriteOptions,
    WriteResult,
    columns_of,
    factorize_objects,
    number_texts,
    one_table,
    report_progress,
    slices,
    take,
)
from exporter_tui.pipeline.writers.hashed import HashedFile
from exporter_tui.pipeline.writers.timefmt import TimeFormatter, WallClock


class JsonWriter:
    extension = "json"
    multi_table = False
    columnar = True

    def write(self, tables: Sequence[Table], path: Path, options: WriteOptions) -> WriteResult:
        table = one_table(tables, "JSON")
        # Each record is '{' + key0 + value0 + ', ' + key1 + value1 ... + '}', records joined by ',\n'.
        keys = [("{" if i == 0 else ", ") + json.dumps(label, ensure_ascii=False) + ": " for i, label in enumerate(table.columns)]
        formatters: dict[int, TimeFormatter] = {}
        rows = 0
        with HashedFile(path) as out:
            out.write(b"[")
            for chunk in table.chunks:
                columns = columns_of(table, chunk, formatters, options.date_format)
                for part in slices(columns):
                    # Each record's keys, values and closing laid side by side in one grid, joined in one go.
                    grid = np.empty((len(part), 2 * len(part.kinds) + 1), dtype=object)
                    grid[:, -1] = "},\n"
                    grid[-1, -1] = "}"
                    for i, values in enumerate(part.cells):
                        grid[:, 2 * i] = keys[i]
                        if isinstance(values, WallClock):
                            grid[:, 2 * i + 1] = _times(formatters[i].format(values))
                        elif part.kinds[i] == "number":
                            grid[:, 2 * i + 1] = _numbers(values)
                        else:
                            grid[:, 2 * i + 1] = _others(values)
                    text = "".join(grid.ravel().tolist())
                    out.write((("\n" if rows == 0 else ",\n") + text).encode("utf-8", "replace"))
                    rows += len(part)
                report_progress(options, rows)
            out.write(b"\n]\n" if rows else b"]\n")
        return WriteResult(rows=rows, warnings=[], sha256=out.sha256)


def _times(texts: np.ndarray) -> np.ndarray:
    """Formatted times hold no character JSON must escape, so quoting is a concatenation."""
    missing = np.equal(texts, None)  # type: ignore[call-overload]  # numpy's stubs refuse a None operand; the elementwise `== None` is meant
    out = '"' + np.where(missing, "", texts) + '"'
    if missing.any():
        out[missing] = "null"
    return out


def _numbers(array: np.ndarray) -> np.ndarray:
    texts = number_texts(array, "null")
    if array.dtype.kind == "f":
        infinite = np.isinf(array)
        if infinite.any():
            texts[infinite] = "null"
    return texts


def _others(values: np.ndarray) -> np.ndarray:
    codes, uniques = factorize_objects(values)
    return take([_json_value(v) for v in uniques], codes, "null")


def _json_value(value: object) -> str:
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return "null"
    if isinstance(value, (str, bool, int, float)):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(str(value), ensure_ascii=False)
