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
