"""Preview: the first rows exactly as the CSV export of the same request holds them, nothing stored."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

from pipeline_helpers import T0, body, create, fill, item, reading, run

from exporter_tui.core.validation import parse_request
from exporter_tui.pipeline.preview import preview
from exporter_tui.sources.embedded import EmbeddedSource


def test_preview_rows_are_the_first_rows_of_the_file(cli, home: Path, tmp_path: Path) -> None:
    fill(home, [reading("urn:a", T0 + i * 60, i * 1.5) for i in range(120)] + [reading("urn:b", T0 + i * 60, -i) for i in range(120)])
    b = body(
        [item("urn:a,urn:b", "A,=B", decimation={"ds": "15m", "dsf": "max"}, **{"from": T0, "to": T0 + 7200})],
        columns=[("time", "Zeit"), ("name", "Sensor"), ("value", "Wert")],
        csvDelimiter=";",
        dateFormat="LLL",
    )
    with EmbeddedSource(home / "source.db") as source:
        shown = preview(parse_request(b), source, datetime(2026, 6, 2, tzinfo=UTC), limit=10)
    assert not (home / "exporter.db").exists()  # nothing stored
    out = run(cli, create(cli, tmp_path, b))
    lines = list(csv.reader(io.StringIO(Path(out["filePath"]).read_text(encoding="utf-8"), newline=""), delimiter=";"))
    assert shown.headers == lines[0] == ["Zeit", "Sensor", "Wert"]
    assert shown.rows == lines[1:11]
    assert shown.rows[0] == ["June 1, 2026 12:00 PM +02:00", "A", "21.0"]
    assert lines[9][1] == "'=B"  # the injection guard shows in the preview too
    assert shown.windows == [(T0, T0 + 7200)]
    assert sorted(shown.series) == ["=B", "A"] and shown.series["A"][1][:2] == [21.0, 43.5]


def test_an_excel_previews_headers_and_cells_are_the_workbooks(cli, home: Path, tmp_path: Path) -> None:
    """The preview of an xlsx request shows the workbook's own header row (the time column names
    its zone and is followed by its offset column) and its cells as Excel shows them."""
    from openpyxl import load_workbook

    from exporter_tui.pipeline.writers.excel_writer import shown_cell

    fill(home, [reading("urn:a", T0 + i * 60, i * 1.5) for i in range(120)])
    b = body(
        [item("urn:a", "A", decimation={"ds": "15m", "dsf": "max"}, **{"from": T0, "to": T0 + 7200})],
        extension="xlsx",
        columns=[("time", "Zeit"), ("name", "Sensor"), ("value", "Wert")],
    )
    with EmbeddedSource(home / "source.db") as source:
        shown = preview(parse_request(b), source, datetime(2026, 6, 2, tzinfo=UTC), limit=10)
    out = run(cli, create(cli, tmp_path, b))
    book = load_workbook(out["filePath"], read_only=True)
    sheet = [[shown_cell(c.value, c.number_format) for c in row] for row in book.worksheets[0].iter_rows()]
    book.close()
    assert shown.headers == sheet[0] == ["Zeit (Europe/Rome)", "Zeit offset", "Sensor", "Wert"]
    assert shown.rows == sheet[1:9]
    assert shown.rows[0] == ["2026-06-01 12:00:00", "+02:00", "A", "21"]


def test_the_preview_says_how_its_rows_stand_to_the_file() -> None:
    from exporter_tui.pipeline.preview import shown_as

    assert shown_as("csv") == shown_as("xlsx") == shown_as("xls") == "exactly as the file will have them"
    assert shown_as("json").startswith("as CSV text; the JSON file")
    assert shown_as("pdf").startswith("as CSV text; the PDF")


def test_excel_cells_read_as_excel_shows_them() -> None:
    from exporter_tui.pipeline.writers.excel_writer import shown_cell

    when = datetime(2026, 6, 1, 14, 5, 9, 250_000)
    assert shown_cell(when, "yyyy-mm-dd hh:mm:ss") == "2026-06-01 14:05:09"
    assert shown_cell(when, "yyyy-mm-dd hh:mm:ss.000") == "2026-06-01 14:05:09.250"
    assert shown_cell(when, "mm/dd/yyyy") == "06/01/2026"
    assert shown_cell(when, "mmmm d, yyyy") == "June 1, 2026"
    assert shown_cell(when, "mmmm d, yyyy h:mm AM/PM") == "June 1, 2026 2:05 PM"
    assert shown_cell(when, "mmmm d, yyyy h:mm:ss.000 AM/PM") == "June 1, 2026 2:05:09.250 PM"
    assert [shown_cell(v, "General") for v in (None, True, 21.0, 21.5, "'=B")] == ["", "TRUE", "21", "21.5", "'=B"]
