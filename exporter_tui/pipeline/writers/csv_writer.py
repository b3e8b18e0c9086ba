"""CSV: RFC 4180 quoting, `\\r\\n` line ends (like Python's csv module), UTF-8, optional BOM.

A chunk is written a slice of lines at a time, each slice turned into one string: every
column becomes an array of finished fields (formatted, guarded against formula injection,
quoted), the fields and separators are laid side by side in one object grid and joined once.
Text columns are formatted per distinct value; timestamps go through the vectorised
TimeFormatter, whose milliseconds are decided by the whole chunk. Memory stays at one chunk.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from exporter_tui.core.models import DateFormat
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
from exporter_tui.pipeline.writers.safety import neutralise
from exporter_tui.pipeline.writers.timefmt import MONTHS, TimeFormatter, WallClock

# Every character a formatted number or timestamp (in each date format) can hold: a delimiter
# among them means those fields must be checked for quoting too (`;` and `,` with ISO need none).
_NUMBER_CHARS = frozenset("0123456789.+-einfa")
_TIME_CHARS: dict[DateFormat, frozenset[str]] = {
    "ISO": frozenset("0123456789-T:+."),
    "L": frozenset("0123456789/"),
    "LL": frozenset("0123456789 ," + "".join(MONTHS)),
    "LLL": frozenset("0123456789 ,:+-AMP" + "".join(MONTHS)),
}


class CsvWriter:
    extension = "csv"
    multi_table = False
    columnar = True

    def write(self, tables: Sequence[Table], path: Path, options: WriteOptions) -> WriteResult:
        table = one_table(tables, "CSV")
        fields = _Fields(options.delimiter, options.date_format, single_column=len(table.columns) == 1)
        formatters: dict[int, TimeFormatter] = {}
        rows = 0
        with HashedFile(path) as out:
            head = options.delimiter.join(fields.text(label) for label in table.columns) + "\r\n"
            out.write((("\ufeff" if options.bom else "") + head).encode("utf-8", "replace"))
            for chunk in table.chunks:
                columns = columns_of(table, chunk, formatters, options.date_format)
                for part in slices(columns):
                    # Each line's fields and separators side by side in one grid, joined in one go.
                    grid = np.empty((len(part), 2 * len(part.kinds)), dtype=object)
                    grid[:, 1::2] = options.delimiter
                    grid[:, -1] = "\r\n"
                    for i, values in enumerate(part.cells):
                        if isinstance(values, WallClock):
                            grid[:, 2 * i] = fields.times(formatters[i].format(values))
                        elif part.kinds[i] == "number":
                            grid[:, 2 * i] = fields.numbers(values)
                        else:
                            grid[:, 2 * i] = fields.others(values)
                    out.write("".join(grid.ravel().tolist()).encode("utf-8", "replace"))
                rows += len(columns)
                report_progress(options, rows)
        return WriteResult(rows=rows, warnings=[], sha256=out.sha256)


class _Fields:
    """Turns column values into finished CSV fields for one delimiter."""

    def __init__(self, delimiter: str, date_format: DateFormat, single_column: bool) -> None:
        if len(delimiter) != 1 or delimiter in '"\r\n':
            raise ValueError(f"a CSV delimiter is one character other than a quote or line break, got {delimiter!r}")
        self.delimiter = delimiter
        self.specials = (delimiter, '"', "\n", "\r")
        self.check_times = delimiter in _TIME_CHARS[date_format]
        # Python's csv module writes an empty lone field as "" so the line is not blank.
        self.empty = '""' if single_column else ""

    def quote(self, text: str) -> str:
        if any(c in text for c in self.specials):
            return '"' + text.replace('"', '""') + '"'
        return text or self.empty

    def text(self, value: str) -> str:
        return self.quote(neutralise(value))

    def times(self, texts: np.ndarray) -> np.ndarray:
        missing = np.equal(texts, None)  # type: ignore[call-overload]  # numpy's stubs refuse a None operand; the elementwise `== None` is meant
        if missing.any():
            texts = texts.copy()
            texts[missing] = self.empty
        return self._quote_all(texts) if self.check_times else texts

    def numbers(self, values: np.ndarray) -> np.ndarray:
        texts = number_texts(values, self.empty)
        return self._quote_all(texts) if self.delimiter in _NUMBER_CHARS else texts

    def others(self, values: np.ndarray) -> np.ndarray:
        codes, uniques = factorize_objects(values)
        return take([self._other(v) for v in uniques], codes, self.empty)

    def _other(self, value: object) -> str:
        if isinstance(value, (bool, np.bool_)):
            return "true" if value else "false"
        if isinstance(value, (np.integer, np.floating)):
            value = value.item()
        if isinstance(value, (int, float)):
            return self.quote(repr(value))
        return self.text(str(value))

    def _quote_all(self, texts: np.ndarray) -> np.ndarray:
        """Quote the fields holding the delimiter (numbers and times hold no quotes or breaks)."""
        hit = np.fromiter((self.delimiter in t for t in texts.tolist()), dtype=bool, count=len(texts))
        if hit.any():
            texts = texts.copy()
            texts[hit] = '"' + texts[hit] + '"'
        return texts
