"""PDF report (fpdf2): title, request summary, a paginated table and a line chart per numeric column.

The chunks are read first (fpdf2 builds the whole document in memory anyway): the first
`pdf_row_cap` rows over all tables are kept as text, every row is counted, and each chart
keeps a running min/max plus a thinned sample of at most MAX_POINTS points (every k-th row,
k doubling as the stream grows), so charts and ranges cover ALL rows even when the table is
capped. Only then is the document laid out, so page 1 can say how many rows were left out.

Templates (both: A4 landscape, page 1 opens with the title, the cap notice when rows were
left out, the request summary, the window, the zone and the row count):
- tabular: one compact section per Table, flowing on without page breaks: a small heading,
  the table, then its charts two to a row (45 mm high).
- expanded: one section per Table, each on a new page: a large heading, the table's row
  count and time range, its charts at full width (70 mm high), then the table.

Text uses the built-in Helvetica with the cp1252 encoding (no font is bundled); characters
it cannot show are replaced with `?`, and the result warns once. Cells too wide for their
column end in an ellipsis. The creation date is fixed so the same input gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from fpdf import FPDF

from exporter_tui.pipeline.writers.base import (
    Table,
    WriteOptions,
    WriteResult,
    column_kind,
    factorize_objects,
    frames,
    number_cells,
    number_texts,
    report_progress,
    take,
)
from exporter_tui.pipeline.writers.timefmt import TimeFormatter, format_times, wall_clock, zone_display

MAX_POINTS = 1000
_FIXED_DATE = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_FONT = "Helvetica"
_ENCODING = "cp1252"
_ROW_H = 5.0
_PAD = 1.0  # mm of padding on each side of a cell's text
_MEASURED = 20  # longest cells of a column measured to size it
_CONTROLS = str.maketrans({c: " " for c in map(chr, range(32))})  # line breaks and tabs in a cell


class PdfWriter:
    extension = "pdf"
    multi_table = True
    columnar = False

    def write(self, tables: Sequence[Table], path: Path, options: WriteOptions) -> WriteResult:
        if options.pdf_row_cap < 1:
            raise ValueError("pdf_row_cap must be at least 1")
        sections: list[_Section] = []
        room = options.pdf_row_cap
        total = 0
        for table in tables:
            section = _collect(table, options, room, total)
            room -= len(section.rows)
            total += section.total
            sections.append(section)
        shown = sum(len(s.rows) for s in sections)
        report = _Report(options)
        report.cover(sections, shown, total)
        for section in sections:
            report.section(section)
        path.write_bytes(bytes(report.pdf.output()))
        warnings = []
        if shown < total:
            warnings.append(f"the PDF holds the first {shown:,} of {total:,} rows (pdf_row_cap); export CSV or Excel for all rows")
        if report.replaced:
            warnings.append("some characters cannot be shown with the PDF's built-in font and were replaced with '?'")
        return WriteResult(rows=shown, warnings=warnings)


class _Sampler:
    """Every `step`-th row of a stream, at most MAX_POINTS of them: the step doubles when full."""

    def __init__(self, series: int) -> None:
        self.step = 1
        self.seen = 0
        self.x = np.empty(0)
        self.ys = [np.empty(0) for _ in range(series)]

    def add(self, x: np.ndarray, ys: list[np.ndarray]) -> None:
        picked = slice((-self.seen) % self.step, None, self.step)
        self.x = np.concatenate([self.x, x[picked]])
        self.ys = [np.concatenate([old, new[picked]]) for old, new in zip(self.ys, ys)]
        self.seen += len(x)
        while len(self.x) > MAX_POINTS:  # kept rows are 0, k, 2k...: every other one is 0, 2k...
            self.x = self.x[::2]
            self.ys = [y[::2] for y in self.ys]
            self.step *= 2


@dataclass
class _Section:
    table: Table
    rows: list[tuple[str, ...]]
    total: int
    numeric: list[int]  # positions of the charted columns
    sampler: _Sampler
    y_lo: list[float]
    y_hi: list[float]
    time_column: int | None  # the charts' x axis; None charts against the row number
    first: pd.Timestamp | None = None
    last: pd.Timestamp | None = None
    right_aligned: set[int] = field(default_factory=set)


def _collect(table: Table, options: WriteOptions, room: int, rows_before: int) -> _Section:
    """Read a table's chunks: keep up to `room` rows as text, count all, sample the charts."""
    numeric = [i for i, label in enumerate(table.columns) if label in table.numeric_columns]
    time_column = next((i for i, label in enumerate(table.columns) if label in table.time_columns), None)
    section = _Section(
        table=table, rows=[], total=0, numeric=numeric, sampler=_Sampler(len(numeric)),
        y_lo=[math.inf] * len(numeric), y_hi=[-math.inf] * len(numeric), time_column=time_column,
    )  # fmt: skip
    formatters: dict[int, TimeFormatter] = {}
    for chunk in frames(table):
        n = len(chunk)
        if n == 0:
            report_progress(options, rows_before + section.total)
            continue
        if time_column is not None:
            times = chunk.iloc[:, time_column]
            wc = wall_clock(times)
            x = np.where(wc.missing, np.nan, wc.utc / wc.per_second)
            lo, hi = times.min(), times.max()
            if not pd.isna(lo):
                section.first = lo if section.first is None else min(section.first, lo)
                section.last = hi if section.last is None else max(section.last, hi)
        else:
            x = np.arange(section.total, section.total + n, dtype=np.float64)
        ys = [chunk.iloc[:, i].to_numpy(dtype=np.float64, na_value=np.nan) for i in numeric]
        for k, y in enumerate(ys):
            finite = y[np.isfinite(y)]
            if len(finite):
                section.y_lo[k] = min(section.y_lo[k], float(finite.min()))
                section.y_hi[k] = max(section.y_hi[k], float(finite.max()))
        section.sampler.add(x, ys)
        keep = min(n, room - len(section.rows))
        if keep > 0:
            part = chunk.iloc[:keep]
            columns = []
            for i, label in enumerate(table.columns):
                values = part.iloc[:, i]
                kind = column_kind(table, label, values)
                if kind == "time":
                    texts = formatters.setdefault(i, TimeFormatter(options.date_format)).format(wall_clock(values))
                    columns.append(np.where(np.equal(texts, None), "", texts).tolist())  # type: ignore[call-overload]  # numpy's stubs refuse a None operand; the elementwise `== None` is meant
                elif kind == "number":
                    section.right_aligned.add(i)
                    columns.append(number_texts(number_cells(values), "").tolist())
                else:
                    codes, uniques = factorize_objects(values)
                    columns.append(take([_text(v) for v in uniques], codes, "").tolist())
            section.rows.extend(zip(*columns))
        section.total += n
        report_progress(options, rows_before + section.total)
    return section


def _text(value: object) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


class _Pdf(FPDF):
    footer_text = ""

    def footer(self) -> None:
        self.set_y(-10)
        self.set_font(_FONT, size=7)
        self.set_text_color(110)
        self.cell(0, 5, f"{self.footer_text}  -  page {self.page_no()}/{{nb}}", align="C")
        self.set_text_color(0)


class _Report:
    def __init__(self, options: WriteOptions) -> None:
        self.options = options
        self.replaced = False
        self.expanded = options.template == "expanded"
        pdf = _Pdf(orientation="L", unit="mm", format="A4")
        pdf.core_fonts_encoding = _ENCODING
        pdf.set_creation_date(_FIXED_DATE)
        pdf.set_margins(10, 10, 10)
        pdf.set_auto_page_break(True, margin=14)
        pdf.footer_text = self.safe(options.title)
        pdf.set_title(self.safe(options.title))
        self.pdf = pdf

    def safe(self, text: str) -> str:
        """The text in what the built-in font can show; anything else becomes `?`."""
        out = text.encode(_ENCODING, "replace").decode(_ENCODING)
        if out != text:
            self.replaced = True
        return out.translate(_CONTROLS)

    def cover(self, sections: list[_Section], shown: int, total: int) -> None:
        pdf, options = self.pdf, self.options
        pdf.add_page()
        pdf.set_font(_FONT, "B", 16)
        pdf.multi_cell(0, 8, self.safe(options.title), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
        if shown < total:
            pdf.set_font(_FONT, "B", 10)
            pdf.set_text_color(170, 0, 0)
            pdf.cell(
                0,
                6,
                f"This PDF shows the first {shown:,} of {total:,} rows; export CSV or Excel for all rows.",
                new_x="LMARGIN",
                new_y="NEXT",
            )
            pdf.set_text_color(0)
            pdf.ln(1)
        pdf.set_font(_FONT, size=9)
        lines = list(options.summary)
        if options.window is not None:
            lines.append(("Window", f"{options.window[0]} to {options.window[1]}"))
        lines.append(("Time zone", zone_display(options.timezone_name)))
        lines.append(("Rows", f"{total:,}"))
        for key, value in lines:
            pdf.set_font(_FONT, "B", 9)
            pdf.cell(40, 5, self.safe(key))
            pdf.set_font(_FONT, size=9)
            pdf.multi_cell(0, 5, self.safe(value), new_x="LMARGIN", new_y="NEXT")
        if self.expanded and len(sections) > 1:
            pdf.ln(3)
            pdf.set_font(_FONT, "B", 9)
            pdf.cell(0, 5, "Sections", new_x="LMARGIN", new_y="NEXT")
            pdf.set_font(_FONT, size=9)
            for s in sections:
                pdf.cell(0, 5, self.safe(f"{s.table.title}: {s.total:,} rows"), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)

    def section(self, section: _Section) -> None:
        pdf = self.pdf
        title = self.safe(section.table.title)
        if self.expanded:
            pdf.add_page()
            pdf.set_font(_FONT, "B", 14)
            pdf.multi_cell(0, 7, title, new_x="LMARGIN", new_y="NEXT")
            pdf.set_font(_FONT, size=9)
            facts = f"{section.total:,} rows"
            if section.first is not None and section.last is not None:
                first, last = self._times(section.first, section.last)
                facts += f", from {first} to {last}"
            pdf.cell(0, 5, self.safe(facts), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
            for k in range(len(section.numeric)):
                self._need(76)
                self.chart(section, k, pdf.l_margin, pdf.get_y(), pdf.epw, 70)
                pdf.set_y(pdf.get_y() + 74)
            self.table(section)
        else:
            self._need(8 + 3 * _ROW_H)
            pdf.set_font(_FONT, "B", 11)
            pdf.cell(0, 6, title + f"  ({section.total:,} rows)", new_x="LMARGIN", new_y="NEXT")
            self.table(section)
            width = (pdf.epw - 6) / 2
            for k in range(len(section.numeric)):
                if k % 2 == 0:
                    self._need(50)
                    top = pdf.get_y() + 2
                self.chart(section, k, pdf.l_margin + (k % 2) * (width + 6), top, width, 45)
                if k % 2 == 1 or k == len(section.numeric) - 1:
                    pdf.set_y(top + 49)
            pdf.ln(4)

    def table(self, section: _Section) -> None:
        pdf = self.pdf
        headers = [self.safe(h) for h in section.table.columns]
        if not section.rows:
            pdf.set_font(_FONT, "I", 8)
            shown = "no rows" if section.total == 0 else "no rows shown (row cap reached)"
            pdf.cell(0, _ROW_H, shown, new_x="LMARGIN", new_y="NEXT")
            return
        rows = [[self.safe(c) for c in row] for row in section.rows]
        widths = self._widths(headers, rows)
        self._header(headers, widths)
        pdf.set_font(_FONT, size=8)
        for row in rows:
            if pdf.will_page_break(_ROW_H):
                pdf.add_page()
                self._header(headers, widths)
                pdf.set_font(_FONT, size=8)
            for c, (text, w) in enumerate(zip(row, widths)):
                pdf.cell(w, _ROW_H, self._fit(text, w), border=1, align="R" if c in section.right_aligned else "L")
            pdf.ln(_ROW_H)

    def chart(self, section: _Section, k: int, x: float, y: float, w: float, h: float) -> None:
        """A line chart of column `numeric[k]`: axes, min/max on the left, time range below."""
        pdf = self.pdf
        label = self.safe(section.table.columns[section.numeric[k]])
        pdf.set_font(_FONT, "B", 8)
        pdf.text(x, y + 3, self._fit(label, w))
        left, top, bottom = x + 22, y + 5, y + h - 6
        width, height = x + w - left, bottom - top
        pdf.set_draw_color(0)
        pdf.set_line_width(0.2)
        pdf.line(left, top, left, bottom)
        pdf.line(left, bottom, left + width, bottom)
        pdf.set_font(_FONT, size=7)
        lo, hi = section.y_lo[k], section.y_hi[k]
        xs, ys = section.sampler.x, section.sampler.ys[k]
        valid = np.isfinite(xs) & np.isfinite(ys)
        if not valid.any():
            pdf.text(left + 3, top + height / 2, "no numeric values")
            return
        pdf.text(x, top + 2, self._fit(f"{hi:.6g}", 21))
        pdf.text(x, bottom, self._fit(f"{lo:.6g}", 21))
        x_lo, x_hi = float(xs[valid].min()), float(xs[valid].max())
        if section.time_column is not None and section.first is not None and section.last is not None:
            first, last = self._times(section.first, section.last)
            x_lo, x_hi = section.first.timestamp(), section.last.timestamp()
        else:
            first, last = f"row {int(x_lo) + 1}", f"row {int(x_hi) + 1}"
        pdf.text(left, bottom + 4, self.safe(first))
        pdf.text(left + width - pdf.get_string_width(self.safe(last)), bottom + 4, self.safe(last))
        px = left + (xs - x_lo) / (x_hi - x_lo) * width if x_hi > x_lo else np.full(len(xs), left + width / 2)
        py = bottom - (ys - lo) / (hi - lo) * height if hi > lo else np.full(len(ys), top + height / 2)
        pdf.set_draw_color(20, 70, 160)
        pdf.set_line_width(0.3)
        # A run of valid points is one polyline; a gap (missing value) breaks the line.
        edges = np.flatnonzero(np.diff(np.concatenate([[0], valid.astype(np.int8), [0]])))
        for start, stop in zip(edges[::2], edges[1::2]):
            points = list(zip(px[start:stop].tolist(), py[start:stop].tolist()))
            if len(points) == 1:
                ((px0, py0),) = points
                pdf.line(px0 - 0.3, py0, px0 + 0.3, py0)
            else:
                pdf.polyline(points)
        pdf.set_draw_color(0)
        pdf.set_line_width(0.2)

    def _times(self, first: pd.Timestamp, last: pd.Timestamp) -> tuple[str, str]:
        texts = format_times(pd.Series([first, last]), self.options.date_format)
        return str(texts.iloc[0]), str(texts.iloc[1])

    def _header(self, headers: list[str], widths: list[float]) -> None:
        pdf = self.pdf
        pdf.set_font(_FONT, "B", 8)
        pdf.set_fill_color(225)
        for text, w in zip(headers, widths):
            pdf.cell(w, _ROW_H, self._fit(text, w), border=1, fill=True)
        pdf.ln(_ROW_H)

    def _widths(self, headers: list[str], rows: list[list[str]]) -> list[float]:
        """Natural widths from the header and each column's longest cells, shrunk to the page if needed."""
        pdf = self.pdf
        pdf.set_font(_FONT, "B", 8)
        natural = [pdf.get_string_width(h) + 2 * _PAD for h in headers]
        pdf.set_font(_FONT, size=8)
        for c, cells in enumerate(zip(*rows)):
            longest = heapq.nlargest(_MEASURED, dict.fromkeys(cells), key=len)  # proportional font: measure a few
            natural[c] = max([natural[c]] + [pdf.get_string_width(t) + 2 * _PAD for t in longest])
        natural = [min(max(n, 12.0), 90.0) for n in natural]
        total = sum(natural)
        if total <= pdf.epw:
            return natural
        return [n * pdf.epw / total for n in natural]

    def _fit(self, text: str, width: float) -> str:
        """The text, cut and ended with an ellipsis when wider than the cell."""
        room = width - 2 * _PAD
        if self.pdf.get_string_width(text) <= room:
            return text
        lo, hi = 0, len(text)
        while lo < hi:  # the longest prefix that fits with the ellipsis
            mid = (lo + hi + 1) // 2
            if self.pdf.get_string_width(text[:mid] + "\u2026") <= room:
                lo = mid
            else:
                hi = mid - 1
        return text[:lo] + "\u2026"

    def _need(self, height: float) -> None:
        if self.pdf.will_page_break(height):
            self.pdf.add_page()
