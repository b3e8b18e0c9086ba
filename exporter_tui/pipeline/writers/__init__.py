"""Export file writers, one per format, found by extension."""

from __future__ import annotations

from exporter_tui.pipeline.writers.base import Table, WriteOptions, Writer, WriteResult
from exporter_tui.pipeline.writers.csv_writer import CsvWriter
from exporter_tui.pipeline.writers.excel_writer import ExcelWriter
from exporter_tui.pipeline.writers.json_writer import JsonWriter
from exporter_tui.pipeline.writers.pdf_writer import PdfWriter

__all__ = ["Table", "WriteOptions", "WriteResult", "Writer", "get_writer"]

_WRITERS: dict[str, type[Writer]] = {
    "csv": CsvWriter,
    "xls": ExcelWriter,  # `xls` requests get an .xlsx workbook
    "xlsx": ExcelWriter,
    "json": JsonWriter,
    "pdf": PdfWriter,
}


def get_writer(extension: str) -> Writer:
    """The writer for a request's extension; unknown extensions are a ValueError."""
    try:
        return _WRITERS[extension.lower()]()
    except KeyError:
        raise ValueError(f"no writer for extension {extension!r}; expected one of {', '.join(_WRITERS)}") from None
