"""Excel (.xlsx, also for `xls` requests), written with xlsxwriter in constant_memory mode.

xlsxwriter was chosen by measurement: 100k rows x 3 columns take about 1.2 s against
3.8 s for openpyxl's write-only mode (benchmarks/bench_writers.py), and its zip entries
carry fixed timestamps, so with a fixed `created` property the file is byte-identical
for the same input.

- One sheet per Table, named from its title by Excel's rules (at most 31 characters,
  none of `[]:*?/\\`, no apostrophe at either end, unique ignoring case). Past
  `excel_max_rows` rows (header included) a table goes on in `<title> (2)`, `(3)`...
  with the header repeated: nothing is cut silently.
- Timestamps are real date cells holding the local wall clock (Excel has no zones);
  the header names the zone, e.g. `time (Europe/Rome)`. In any zone but UTC a text column
  `<label> offset` (`+01:00`) follows each time column, so the two rows of a repeated hour
  never look the same (a column beyond the selected ones). `L` and `LL` cells hold the
  whole local datetime under a date-only number format, as the dates of CSV and JSON.
- Text over 32,767 characters (Excel's cell limit) is cut, with a warning naming the
  sheet, row and column. Text that could run as a formula gets a leading apostrophe.
- NaN leaves the cell empty; an infinite number (which Excel cannot hold) is the text
  `inf` / `-inf`, as in the CSV.
- Numbers are stored as Python's round-trip repr (17 significant digits when needed):
  xlsxwriter's own `%.16G` would change values such as 0.1 + 0.2 on the way.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xlsxwriter
from xlsxwriter.exceptions import FileCreateError
from xlsxwriter.format import Format
from xlsxwriter.utility import xl_col_to_name
from xlsxwriter.worksheet import Worksheet

from exporter_tui.pipeline.writers.base import (
    ColumnKind,
    Table,
    WriteOptions,
    WriteResult,
    column_kind,
    factorize_objects,
    frames,
    report_progress,
    take,
)
from exporter_tui.pipeline.writers.safety import neutralise
from exporter_tui.pipeline.writers.timefmt import MONTHS, WallClock, offset_texts, wall_clock, zone_display, zone_header

CELL_MAX = 32_767  # characters (UTF-16 units) in one cell
SHEET_NAME_MAX = 31
MAX_CUT_WARNINGS = 20  # cut cells named one by one; the rest are counted
_FIXED_CREATED = dt.datetime(2000, 1, 1)  # workbook property: fixed so output is reproducible
_EXCEL_UNIX_EPOCH = 25_569.0  # serial day number of 1970-01-01
_FORBIDDEN = str.maketrans({c: "_" for c in "[]:*?/\\" + "".join(map(chr, range(32)))})
_NUMBER_FORMATS: dict[str, tuple[str, str]] = {  # date format -> (whole seconds, with milliseconds)
    "ISO": ("yyyy-mm-dd hh:mm:ss", "yyyy-mm-dd hh:mm:ss.000"),
    "L": ("mm/dd/yyyy", "mm/dd/yyyy"),
    "LL": ("mmmm d, yyyy", "mmmm d, yyyy"),
    "LLL": ("mmmm d, yyyy h:mm AM/PM", "mmmm d, yyyy h:mm:ss.000 AM/PM"),
}

CellWriter = Callable[[int, int, object], object]


def shown_cell(value: object, number_format: str) -> str:
    """A cell read back from a workbook this writer made, as Excel shows it: a date cell in its
    number format (one of _NUMBER_FORMATS), a whole number without `.0`, a boolean as TRUE or
    FALSE, an empty cell as nothing. The preview shows an Excel export's rows this way."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, dt.datetime):
        return _shown_date(value, number_format)
    if isinstance(value, float):
        return repr(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


def _shown_date(value: dt.datetime, number_format: str) -> str:
    millis = f".{value.microsecond // 1000:03d}" if number_format.endswith(".000") or ".000 " in number_format else ""
    month = MONTHS[value.month - 1]
    if number_format.startswith("yyyy-mm-dd"):
        return f"{value:%Y-%m-%d %H:%M:%S}{millis}"
    if number_format == "mm/dd/yyyy":
        return f"{value:%m/%d/%Y}"
    if number_format == "mmmm d, yyyy":
        return f"{month} {value.day}, {value.year}"
    hour = value.hour % 12 or 12
    seconds = f":{value.second:02d}{millis}" if millis else ""
    return f"{month} {value.day}, {value.year} {hour}:{value.minute:02d}{seconds} {'AM' if value.hour < 12 else 'PM'}"


class ExcelWriter:
    extension = "xlsx"
    multi_table = True
    columnar = False

    def write(self, tables: Sequence[Table], path: Path, options: WriteOptions) -> WriteResult:
        if options.excel_max_rows < 2:
            raise ValueError("excel_max_rows must leave room for the header and one row")
        # xlsxwriter keeps each sheet's rows in temporary files until close(). They go in a
        # folder beside `path`, named after it, which goes whole afterwards, even when close()
        # fails (a full disk); after a crash, the run's recovery removes it with the temporary
        # file (files.remove_partials), and nothing is left in the system's temp folder.
        scratch = path.with_name(f"{path.name}.scratch")
        scratch.mkdir(mode=0o700, exist_ok=True)
        try:
            workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True, "tmpdir": scratch})
            workbook.set_properties({"created": _FIXED_CREATED})
            try:
                book = _Book(workbook, options)
                for table in tables:
                    book.write_table(table)
                book.finish_warnings()
            except BaseException:
                with contextlib.suppress(Exception):
                    workbook.close()
                path.unlink(missing_ok=True)  # the half-made workbook goes too
                raise
            try:
                workbook.close()
            except BaseException as e:
                path.unlink(missing_ok=True)
                if isinstance(e, FileCreateError) and e.args and isinstance(e.args[0], OSError):
                    raise e.args[0] from None  # the OS's reason (full disk, read-only folder), as other writers give it
                raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return WriteResult(rows=book.rows, warnings=book.warnings)


class _Book:
    def __init__(self, workbook: xlsxwriter.Workbook, options: WriteOptions) -> None:
        self.workbook = workbook
        self.options = options
        self.names = SheetNames()
        self.rows = 0
        self.warnings: list[str] = []
        self.cuts = 0
        self.bold = workbook.add_format({"bold": True})
        plain, millis = _NUMBER_FORMATS[options.date_format]
        self.time_formats = (workbook.add_format({"num_format": plain}), workbook.add_format({"num_format": millis}))

    def write_table(self, table: Table) -> None:
        offsets = zone_display(self.options.timezone_name) != "UTC"
        headers: list[str] = []
        widths: list[int] = []
        for label in table.columns:
            if label in table.time_columns:
                headers.append(zone_header(label, self.options.timezone_name))
                widths.append(28 if self.options.date_format in ("LL", "LLL") else 22)
                if offsets:
                    headers.append(f"{label} offset")
                    widths.append(max(12, len(label) + 9))
            else:
                headers.append(label)
                widths.append(min(max(12, len(label) + 2), 60))
        capacity = self.options.excel_max_rows
        part = 1
        sheet, name = self._new_sheet(table, headers, widths, part)
        row = 1  # next row index on the sheet (0 is the header)
        millis = [False] * len(headers)  # sticky per column, like the text formats
        for chunk in frames(table):
            n = len(chunk)
            if n == 0:
                report_progress(self.options, self.rows)
                continue
            columns: list[list[object]] = []
            kinds: list[ColumnKind] = []
            long_text: list[tuple[int, np.ndarray, int]] = []  # (sheet column, positions, original length)
            for i, label in enumerate(table.columns):
                values = chunk.iloc[:, i]
                kind = column_kind(table, label, values)
                kinds.append(kind)
                if kind == "time":
                    wc = wall_clock(values)
                    serials, has_millis = _serials(wc)
                    millis[len(columns)] = millis[len(columns)] or has_millis
                    columns.append(serials)
                    if offsets:
                        texts = offset_texts(wc)
                        texts[wc.missing] = None
                        columns.append(texts.tolist())
                        kinds.append("other")
                elif kind == "number":
                    columns.append(_numbers(values))
                else:
                    cells, cut = _others(values)
                    long_text.extend((len(columns), pos, length) for pos, length in cut)
                    columns.append(cells)
            start = 0
            while start < n:
                if row >= capacity:
                    part += 1
                    sheet, name = self._new_sheet(table, headers, widths, part)
                    row = 1
                stop = min(n, start + capacity - row)
                writers = self._cell_writers(sheet, kinds, millis)
                _write_rows(writers, columns, start, stop, row)
                for c, positions, length in long_text:
                    for pos in positions[(positions >= start) & (positions < stop)].tolist():
                        self._cut_warning(name, row + pos - start + 1, c, headers[c], length)
                row += stop - start
                start = stop
            self.rows += n
            report_progress(self.options, self.rows)

    def finish_warnings(self) -> None:
        if self.cuts > MAX_CUT_WARNINGS:
            self.warnings.append(f"{self.cuts - MAX_CUT_WARNINGS} more cells were cut to {CELL_MAX:,} characters (Excel's cell limit)")

    def _new_sheet(self, table: Table, headers: list[str], widths: list[int], part: int) -> tuple[Worksheet, str]:
        name = self.names.claim(table.title, part)
        sheet = self.workbook.add_worksheet(name, worksheet_class=_ExactNumbers)
        for c, width in enumerate(widths):
            sheet.set_column(c, c, width)
        for c, header in enumerate(headers):
            sheet.write_string(0, c, neutralise(header), self.bold)
        sheet.freeze_panes(1, 0)
        return sheet, name

    def _cell_writers(self, sheet: Worksheet, kinds: list[ColumnKind], millis: list[bool]) -> list[CellWriter]:
        writers: list[CellWriter] = []
        for i, kind in enumerate(kinds):
            if kind == "time":
                writers.append(_time_writer(sheet, self.time_formats[millis[i]]))
            else:
                writers.append(_any_writer(sheet))
        return writers

    def _cut_warning(self, sheet: str, row: int, column: int, label: str, length: int) -> None:
        self.cuts += 1
        if self.cuts <= MAX_CUT_WARNINGS:
            self.warnings.append(
                f"sheet '{sheet}', row {row}, column {xl_col_to_name(column)} ({label}): "
                f"text of {length:,} characters cut to {CELL_MAX:,} (Excel's cell limit)"
            )


class _ExactNumbers(Worksheet):
    """A worksheet that writes each number cell as `repr(float)`, which reads back exactly."""

    def _xml_number_element(self, number: float, attributes: list[tuple[str, str]] = []) -> None:  # noqa: B006 (xlsxwriter's signature)
        # The attributes are the cell reference and style index: nothing to escape.
        attr = "".join([f' {key}="{value}"' for key, value in attributes])
        self.fh.write(f"<c{attr}><v>{float(number)!r}</v></c>")


def _write_rows(writers: list[CellWriter], columns: list[list[object]], start: int, stop: int, first_row: int) -> None:
    """Rows in order, as constant_memory requires; None leaves a cell empty."""
    pairs = list(enumerate(writers))
    for r, values in enumerate(zip(*(col[start:stop] for col in columns)), start=first_row):
        for (c, write), value in zip(pairs, values):
            if value is not None:
                write(r, c, value)


def _time_writer(sheet: Worksheet, time_format: Format) -> CellWriter:
    write_number = sheet.write_number
    return lambda r, c, value: write_number(r, c, value, time_format)


def _any_writer(sheet: Worksheet) -> CellWriter:
    write_string, write_boolean, write_number = sheet.write_string, sheet.write_boolean, sheet.write_number

    def write(r: int, c: int, value: object) -> object:
        if value.__class__ is str:
            return write_string(r, c, value)
        if value.__class__ is bool:
            return write_boolean(r, c, value)
        return write_number(r, c, value)

    return write


def _serials(wc: WallClock) -> tuple[list[object], bool]:
    """Excel serial numbers of the local wall clock (None where missing), and whether any has milliseconds."""
    secs, frac = wc.seconds_and_fraction()
    serials = (secs / 86_400.0 + _EXCEL_UNIX_EPOCH) + frac / (wc.per_second * 86_400.0)
    out = serials.astype(object)
    out[wc.missing] = None
    return out.tolist(), bool(frac[~wc.missing].any())


def _numbers(values: pd.Series) -> list[object]:
    array = values.to_numpy(dtype=np.float64, na_value=np.nan)
    out = array.astype(object)
    out[np.isnan(array)] = None
    infinite = np.isinf(array)
    if infinite.any():
        out[infinite] = np.where(array[infinite] > 0, "inf", "-inf")
    return out.tolist()


def _others(values: pd.Series) -> tuple[list[object], list[tuple[np.ndarray, int]]]:
    """Cell values of a text/bool column, and the positions of text cut to Excel's limit."""
    codes, uniques = factorize_objects(values)
    cells: list[object] = []
    cut: list[tuple[np.ndarray, int]] = []
    for code, value in enumerate(uniques):
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, (bool, int, float)):
            cells.append(value)
            continue
        text = neutralise(str(value))
        length = _utf16_len(text)
        if length > CELL_MAX:
            text = text.encode("utf-16-le")[: 2 * CELL_MAX].decode("utf-16-le", "ignore")
            cut.append((np.flatnonzero(codes == code), length))
        cells.append(text)
    return take(cells, codes, None).tolist(), cut


def _utf16_len(text: str) -> int:
    """Excel counts UTF-16 units: characters beyond the BMP take two."""
    return len(text) if text.isascii() else len(text.encode("utf-16-le")) // 2


class SheetNames:
    """Excel sheet names from titles: legal, at most 31 characters, unique ignoring case."""

    def __init__(self) -> None:
        self._used: set[str] = set()

    def claim(self, title: str, part: int = 1) -> str:
        """The name for a title's `part`-th sheet: `title`, then `title (2)`, `title (3)`..."""
        base = title.translate(_FORBIDDEN).strip().strip("'") or "Sheet"
        if base.lower() == "history":  # reserved by Excel
            base += "_"
        k = part
        while True:
            name = _fit(base, "" if k == 1 else f" ({k})")
            if name.lower() not in self._used:
                self._used.add(name.lower())
                return name
            k += 1


def _fit(base: str, suffix: str) -> str:
    """base + suffix within Excel's 31 characters, cutting the base (never to an end apostrophe)."""
    room = SHEET_NAME_MAX - len(suffix)
    while _utf16_len(base) > room:
        base = base[:-1]
    return (base.rstrip("'") or "Sheet") + suffix
