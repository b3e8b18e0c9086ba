"""Export file writers, one per format, found by extension.

A writer's module is imported when its format is asked for, so a CSV run never loads the PDF
and Excel libraries (fpdf, fontTools, PIL, xlsxwriter)."""

from __future__ import annotations

import importlib

from exporter_tui.pipeline.writers.base import Table, WriteOptions, Writer, WriteResult

__all__ = ["Table", "WriteOptions", "WriteResult", "Writer", "get_writer"]

_WRITERS: dict[str, tuple[str, str]] = {  # extension -> (module, class)
    "csv": ("csv_writer", "CsvWriter"),
    "xls": ("excel_writer", "ExcelWriter"),  # `xls` requests get an .xlsx workbook
    "xlsx": ("excel_writer", "ExcelWriter"),
    "json": ("json_writer", "JsonWriter"),
    "pdf": ("pdf_writer", "PdfWriter"),
}


def get_writer(extension: str) -> Writer:
    """The writer for a request's extension; unknown extensions are a ValueError."""
    try:
        module, name = _WRITERS[extension.lower()]
    except KeyError:
        raise ValueError(f"no writer for extension {extension!r}; expected one of {', '.join(_WRITERS)}") from None
    writer: type[Writer] = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    return writer()
