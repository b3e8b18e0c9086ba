"""The export file writers, read back the way a user's tools would read them."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
import re
import zlib
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import openpyxl
import pandas as pd
import pytest
from openpyxl.utils.escape import unescape

from exporter_tui.pipeline.writers import Table, WriteOptions, get_writer
from exporter_tui.pipeline.writers.timefmt import TimeFormatter, format_times, wall_clock, zone_header

ROME = "Europe/Rome"


def times(*utc: str | None, zone: str = ROME) -> pd.Series:
    """UTC instants as a tz-aware series in `zone`, like the pipeline hands them over."""
    return pd.Series(pd.to_datetime(list(utc), utc=True, format="ISO8601")).dt.tz_convert(zone)


def frame(time: pd.Series, name: list[object], value: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"time": time, "name": pd.Series(name, dtype=object), "value": pd.Series(value, dtype="float64")})


def table(*chunks: pd.DataFrame, title: str = "data", columns: tuple[str, ...] = ("time", "name", "value")) -> Table:
    return Table(
        title=title,
        columns=list(columns),
        time_columns=frozenset({"time"}),
        chunks=iter(chunks),
        numeric_columns=("value",),
    )


def sample(rows: int = 3) -> pd.DataFrame:
    base = ["1986-09-04T18:30:00Z", "2026-03-29T00:59:59Z", "2026-03-29T01:00:00Z", "2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z"]
    return frame(times(*base[:rows]), ["a", "b", "c", "d", "e"][:rows], [21.5, -3.25, 1e-05, 0.1 + 0.2, 7.0][:rows])


# --- time formatting ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        (ROME, ["1986-09-04T20:30:00+02:00", "09/04/1986", "September 4, 1986", "September 4, 1986 8:30 PM +02:00"]),
        ("UTC", ["1986-09-04T18:30:00+00:00", "09/04/1986", "September 4, 1986", "September 4, 1986 6:30 PM"]),
    ],
)
def test_each_date_format_gives_the_documented_text(zone: str, expected: list[str]) -> None:
    series = times("1986-09-04T18:30:00Z", zone=zone)
    got = [format_times(series, fmt).iloc[0] for fmt in ("ISO", "L", "LL", "LLL")]
    assert got == expected


def test_lll_uses_a_twelve_hour_clock_without_leading_zero() -> None:
    series = times("2026-01-01T00:05:00Z", "2026-01-01T12:00:00Z", "2026-01-01T09:07:00Z", zone="UTC")
    assert format_times(series, "LLL").tolist() == [
        "January 1, 2026 12:05 AM",
        "January 1, 2026 12:00 PM",
        "January 1, 2026 9:07 AM",
    ]


def test_iso_offsets_follow_daylight_saving_in_rome() -> None:
    series = times("2026-03-29T00:59:59Z", "2026-03-29T01:00:00Z", "2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z")
    assert format_times(series, "ISO").tolist() == [
        "2026-03-29T01:59:59+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-10-25T02:30:00+02:00",  # the repeated hour, first time (summer time)
        "2026-10-25T02:30:00+01:00",  # and second time (winter time)
    ]


def test_milliseconds_appear_only_when_some_value_has_them() -> None:
    whole = times("2026-01-01T10:00:00Z", "2026-01-01T10:00:01Z", zone="UTC")
    assert format_times(whole, "ISO").tolist() == ["2026-01-01T10:00:00+00:00", "2026-01-01T10:00:01+00:00"]
    mixed = times("2026-01-01T10:00:00Z", "2026-01-01T10:00:01.2509Z", zone="UTC")
    assert format_times(mixed, "ISO").tolist() == ["2026-01-01T10:00:00.000+00:00", "2026-01-01T10:00:01.250+00:00"]


def test_streamed_formatter_keeps_milliseconds_once_seen() -> None:
    formatter = TimeFormatter("ISO")
    assert formatter.format(wall_clock(times("2026-01-01T10:00:00Z", zone="UTC"))).tolist() == ["2026-01-01T10:00:00+00:00"]
    assert formatter.format(wall_clock(times("2026-01-01T10:00:00.5Z", zone="UTC"))).tolist() == ["2026-01-01T10:00:00.500+00:00"]
    assert formatter.format(wall_clock(times("2026-01-01T10:00:01Z", zone="UTC"))).tolist() == ["2026-01-01T10:00:01.000+00:00"]


def test_missing_time_is_none() -> None:
    assert format_times(times("2026-01-01T10:00:00Z", None, zone="UTC"), "LL").tolist() == ["January 1, 2026", None]


def test_formatting_matches_python_datetime_on_random_instants() -> None:
    """An independent reference: zoneinfo + isoformat/strftime, across odd offsets and years."""
    rng = random.Random(7)
    for zone in (ROME, "America/St_Johns", "Asia/Kathmandu", "Australia/Lord_Howe", "UTC"):
        seconds = [rng.randrange(-1_500_000_000, 4_000_000_000) for _ in range(400)]
        series = pd.Series(pd.to_datetime(seconds, unit="s", utc=True)).dt.tz_convert(zone)
        expected = [dt.datetime.fromtimestamp(s, ZoneInfo(zone)) for s in seconds]
        assert format_times(series, "ISO").tolist() == [d.isoformat() for d in expected]
        assert format_times(series, "L").tolist() == [d.strftime("%m/%d/%Y") for d in expected]
        offset = (lambda d: "") if zone == "UTC" else (lambda d: " " + d.isoformat()[19:])
        lll = [f"{d:%B} {d.day}, {d.year} {d.hour % 12 or 12}:{d:%M %p}{offset(d)}" for d in expected]
        assert format_times(series, "LLL").tolist() == lll


def test_zone_header_names_the_zone() -> None:
    assert zone_header("time", ROME) == "time (Europe/Rome)"
    assert zone_header("time", "utc") == "time (UTC)"


# --- registry ----------------------------------------------------------------------------


def test_registry_maps_extensions_to_writers() -> None:
    assert get_writer("xls").extension == "xlsx"
    assert get_writer("xlsx").extension == "xlsx"
    assert [get_writer(e).extension for e in ("csv", "json", "pdf")] == ["csv", "json", "pdf"]
    assert get_writer("xlsx").multi_table and get_writer("pdf").multi_table
    assert not get_writer("csv").multi_table and not get_writer("json").multi_table
    with pytest.raises(ValueError, match="docx"):
        get_writer("docx")


# --- CSV ---------------------------------------------------------------------------------


def write(extension: str, tmp_path: Path, *tables: Table, **options: object) -> tuple[Path, list[str], list[int]]:
    progress: list[int] = []
    writer = get_writer(extension)
    path = tmp_path / f"out.{writer.extension}"
    opts = WriteOptions(**{"timezone_name": ROME, "on_progress": progress.append, **options})  # type: ignore[arg-type]
    result = writer.write(list(tables), path, opts)
    return path, result.warnings, progress


def test_csv_reads_back_with_exact_values_and_crlf(tmp_path: Path) -> None:
    data = frame(
        times("1986-09-04T18:30:00Z", "2026-03-29T01:00:00Z", "2026-10-25T01:30:00Z"),
        ["plain", None, True],
        [21.5, float("nan"), 0.1 + 0.2],
    )
    path, warnings, progress = write("csv", tmp_path, table(data.iloc[:2], data.iloc[2:]))
    assert path.read_bytes() == (
        b"time,name,value\r\n"
        b"1986-09-04T20:30:00+02:00,plain,21.5\r\n"
        b"2026-03-29T03:00:00+02:00,,\r\n"
        b"2026-10-25T02:30:00+01:00,true,0.30000000000000004\r\n"
    )
    assert warnings == [] and progress == [2, 3]


def test_csv_delimiter_and_rfc4180_quoting(tmp_path: Path) -> None:
    tricky = ["semi;colon", 'say "hi"', "two\nlines", "comma,is fine", "cr\rhere"]
    data = frame(times(*["2026-01-01T00:00:00Z"] * 5), tricky, [1.5, 2.5, 3.5, 4.5, 5.5])
    path, _, _ = write("csv", tmp_path, table(data), delimiter=";")
    text = path.read_bytes().decode("utf-8")
    assert '"semi;colon"' in text and '"say ""hi"""' in text and '"two\nlines"' in text
    assert ";comma,is fine;" in text  # the comma is no delimiter here: left unquoted
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    assert rows[0] == ["time", "name", "value"]
    assert [r[1] for r in rows[1:]] == tricky
    assert [r[2] for r in rows[1:]] == ["1.5", "2.5", "3.5", "4.5", "5.5"]


def test_csv_quotes_dates_that_hold_the_delimiter(tmp_path: Path) -> None:
    path, _, _ = write("csv", tmp_path, table(sample(1)), date_format="LL")
    assert path.read_bytes().splitlines()[1] == b'"September 4, 1986",a,21.5'
    path, _, _ = write("csv", tmp_path, table(sample(1)), date_format="LL", delimiter=";")
    assert path.read_bytes().splitlines()[1] == b"September 4, 1986;a;21.5"


@pytest.mark.parametrize("date_format", ["ISO", "L", "LL", "LLL"])
def test_csv_times_in_every_format_survive_any_delimiter(tmp_path: Path, date_format: str) -> None:
    """Whatever character separates the fields, a time holding it is quoted: every line reads
    back as three fields, the time as formatted (a negative half-hour offset, a sub-second part,
    AM and PM, a month name)."""
    series = times("2026-09-04T18:30:00.250Z", "2026-01-01T03:05:00Z", zone="America/St_Johns")
    expected = format_times(series, date_format).tolist()
    for delimiter in ",;\t|:/-. T+PAMSe0":
        path, _, _ = write("csv", tmp_path, table(frame(series, ["a", "b"], [1.5, 2.0])), date_format=date_format, delimiter=delimiter)
        rows = list(csv.reader(io.StringIO(path.read_bytes().decode(), newline=""), delimiter=delimiter))
        assert [r[0] for r in rows[1:]] == expected and {len(r) for r in rows} == {3}, (date_format, delimiter)


def test_csv_bom_on_and_off(tmp_path: Path) -> None:
    path, _, _ = write("csv", tmp_path, table(sample(1)), bom=True)
    assert path.read_bytes().startswith(b"\xef\xbb\xbftime,name,value\r\n")
    path, _, _ = write("csv", tmp_path, table(sample(1)), bom=False)
    assert path.read_bytes().startswith(b"time,name,value\r\n")


INJECTIONS = ["=1+1", "+41 555", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"]


def injection_frame() -> pd.DataFrame:
    n = len(INJECTIONS) + 1
    return frame(times(*["2026-01-01T00:00:00Z"] * n), [*INJECTIONS, "a=b"], [-3.5] * n)


def test_csv_neutralises_formula_injection_cell_by_cell(tmp_path: Path) -> None:
    path, _, _ = write("csv", tmp_path, table(injection_frame()))
    rows = list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8"), newline="")))
    assert [r[1] for r in rows[1:]] == ["'" + s for s in INJECTIONS] + ["a=b"]
    assert {r[2] for r in rows[1:]} == {"-3.5"}  # numbers untouched
    assert {r[0] for r in rows[1:]} == {"2026-01-01T01:00:00+01:00"}


def test_csv_written_in_slices_is_the_chunk_written_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A chunk is formatted a few lines at a time; the file must not show where the slices fall:
    the milliseconds a later slice needs appear on the whole chunk (not on an earlier chunk),
    text, bools, empty cells and quoting come out as from one piece."""
    from exporter_tui.pipeline.writers import base

    whole = frame(
        times("2026-01-01T10:00:00Z", "2026-01-01T10:00:01Z", "2026-01-01T10:00:02Z", "2026-01-01T10:00:03.25Z", "2026-01-01T10:00:04Z"),
        ["a;b", None, True, 'say "hi"', "=1+1"],
        [1.5, float("nan"), 3.0, -0.0, 1e-05],
    )
    earlier = frame(times("2026-01-01T09:00:00Z"), ["x"], [0.5])
    path, _, _ = write("csv", tmp_path, table(earlier, whole), delimiter=";")
    expected = path.read_bytes()
    monkeypatch.setattr(base, "LINES_AT_ONCE", 2)
    path, _, progress = write("csv", tmp_path, table(earlier, whole), delimiter=";")
    assert path.read_bytes() == expected
    assert expected.decode().splitlines()[1:3] == ["2026-01-01T10:00:00+01:00;x;0.5", '2026-01-01T11:00:00.000+01:00;"a;b";1.5']
    assert progress == [1, 6]


@pytest.mark.parametrize("names", [["a", "a", "a"], ["a", True, "a"], ["a", None, "a"], ["a", "b", "a"]])
def test_a_text_column_of_one_value_and_one_that_only_starts_and_ends_with_it(tmp_path: Path, names: list[object]) -> None:
    data = frame(times(*["2026-01-01T00:00:00Z"] * 3), names, [1.0, 2.0, 3.0])
    path, _, _ = write("csv", tmp_path, table(data))
    cells = {"a": "a", "b": "b", True: "true", None: ""}
    assert [line.split(",")[1] for line in path.read_text().splitlines()[1:]] == [cells[n] for n in names]  # type: ignore[index]


@pytest.mark.parametrize("repeats", [1, 8])
def test_numbers_keep_their_own_text_whether_formatted_one_by_one_or_once_per_distinct_value(tmp_path: Path, repeats: int) -> None:
    """Repeated values are formatted once each; -0.0 and 0.0 compare equal but are written apart."""
    values = [0.0, -0.0, float("nan"), 0.1 + 0.2, 1e-05, 21.5] * repeats
    data = frame(times(*["2026-01-01T00:00:00Z"] * len(values)), ["a"] * len(values), values)
    path, _, _ = write("csv", tmp_path, table(data))
    cells = [line.split(",")[2] for line in path.read_text().splitlines()[1:]]
    assert cells == ["0.0", "-0.0", "", "0.30000000000000004", "1e-05", "21.5"] * repeats


def test_csv_rejects_a_delimiter_it_cannot_write(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="delimiter"):
        write("csv", tmp_path, table(sample(1)), delimiter='"')


# --- JSON --------------------------------------------------------------------------------


def test_json_records_keep_order_types_and_text(tmp_path: Path) -> None:
    data = frame(times("1986-09-04T18:30:00Z", "2026-03-29T01:00:00Z"), ["=1+1", "ünï €"], [float("nan"), -3.25])
    data["flag"] = pd.Series([True, None], dtype=object)
    path, _, progress = write("json", tmp_path, table(data, columns=("time", "name", "value", "flag")), date_format="LLL")
    raw = path.read_bytes()
    assert "ünï €".encode() in raw  # UTF-8, not \u escapes
    records = json.loads(raw, object_pairs_hook=list)
    assert records == [
        [("time", "September 4, 1986 8:30 PM +02:00"), ("name", "=1+1"), ("value", None), ("flag", True)],
        [("time", "March 29, 2026 3:00 AM +02:00"), ("name", "ünï €"), ("value", -3.25), ("flag", None)],
    ]
    assert progress == [2]


def test_json_written_in_slices_is_the_chunk_written_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from exporter_tui.pipeline.writers import base

    whole = frame(
        times("2026-01-01T10:00:00Z", "2026-01-01T10:00:01Z", "2026-01-01T10:00:02.5Z", "2026-01-01T10:00:03Z", None),
        ["a", None, True, 'say "hi"', "b"],
        [1.5, float("nan"), float("inf"), -0.0, 1e-05],
    )
    earlier = frame(times("2026-01-01T09:00:00Z"), ["x"], [0.5])
    path, _, _ = write("json", tmp_path, table(earlier, whole))
    expected = path.read_bytes()
    monkeypatch.setattr(base, "LINES_AT_ONCE", 2)
    path, _, progress = write("json", tmp_path, table(earlier, whole))
    assert path.read_bytes() == expected
    records = json.loads(expected)
    assert [r["time"] for r in records] == [
        "2026-01-01T10:00:00+01:00",
        "2026-01-01T11:00:00.000+01:00",
        "2026-01-01T11:00:01.000+01:00",
        "2026-01-01T11:00:02.500+01:00",
        "2026-01-01T11:00:03.000+01:00",
        None,
    ]
    assert [r["value"] for r in records] == [0.5, 1.5, None, None, -0.0, 1e-05]
    assert [r["name"] for r in records] == ["x", "a", None, True, 'say "hi"', "b"]
    assert progress == [1, 6]


def test_json_with_no_rows_is_an_empty_array(tmp_path: Path) -> None:
    empty = sample(0)
    path, _, progress = write("json", tmp_path, table(empty, empty))
    assert json.loads(path.read_bytes()) == []
    assert progress == [0, 0]
    path, _, _ = write("json", tmp_path, table())
    assert json.loads(path.read_bytes()) == []


def test_json_streams_many_rows_across_chunks(tmp_path: Path) -> None:
    n = 25_000
    instants = pd.Series(pd.to_datetime(np.arange(n) * 60, unit="s", utc=True)).dt.tz_convert("UTC")
    data = frame(instants, [f"s{i % 3}" for i in range(n)], list(np.arange(n) / 4))
    chunks = [data.iloc[i : i + 10_000].reset_index(drop=True) for i in range(0, n, 10_000)]
    path, _, progress = write("json", tmp_path, table(*chunks[:1], sample(0), *chunks[1:]))
    records = json.loads(path.read_bytes())
    assert len(records) == n and progress == [10_000, 10_000, 20_000, 25_000]
    assert records[0] == {"time": "1970-01-01T00:00:00+00:00", "name": "s0", "value": 0.0}
    assert records[-1] == {"time": "1970-01-18T08:39:00+00:00", "name": "s0", "value": 6249.75}
    assert [r["value"] for r in records] == [i / 4 for i in range(n)]


# --- Excel -------------------------------------------------------------------------------


def sheet_rows(path: Path) -> dict[str, list[list[object]]]:
    """Cell values as Excel shows them (it decodes `_x000D_`-style escapes; openpyxl does not)."""
    book = openpyxl.load_workbook(path)
    shown = lambda v: unescape(v) if isinstance(v, str) else v  # noqa: E731
    return {ws.title: [[shown(c.value) for c in row] for row in ws.iter_rows()] for ws in book.worksheets}


def test_excel_reads_back_with_local_wall_clock_dates(tmp_path: Path) -> None:
    data = frame(
        times("2026-03-29T00:59:59Z", "2026-03-29T01:00:00.250Z", "2026-10-25T01:30:00Z"),
        ["x", None, True],
        [21.5, float("nan"), 0.1 + 0.2],
    )
    path, warnings, progress = write("xlsx", tmp_path, table(data))
    rows = sheet_rows(path)["data"]
    assert rows[0] == ["time (Europe/Rome)", "time offset", "name", "value"]
    assert rows[1:] == [
        [dt.datetime(2026, 3, 29, 1, 59, 59), "+01:00", "x", 21.5],
        [dt.datetime(2026, 3, 29, 3, 0, 0, 250_000), "+02:00", None, None],
        [dt.datetime(2026, 10, 25, 2, 30), "+01:00", True, 0.30000000000000004],
    ]
    cell = openpyxl.load_workbook(path)["data"]["A2"]
    assert cell.is_date and "hh:mm:ss" in cell.number_format
    assert warnings == [] and progress == [3]


def test_excel_neutralises_formula_injection_cell_by_cell(tmp_path: Path) -> None:
    path, _, _ = write("xlsx", tmp_path, table(injection_frame()))
    rows = sheet_rows(path)["data"][1:]
    assert [r[2] for r in rows] == ["'" + s for s in INJECTIONS] + ["a=b"]
    assert all(r[3] == -3.5 for r in rows)  # a real negative number
    assert all(isinstance(r[0], dt.datetime) for r in rows)


def test_excel_continues_on_further_sheets_past_the_row_limit(tmp_path: Path) -> None:
    n = 12
    data = frame(times(*[f"2026-01-01T00:{m:02d}:00Z" for m in range(n)]), [f"n{i}" for i in range(n)], [float(i) for i in range(n)])
    path, _, progress = write("xlsx", tmp_path, table(data.iloc[:5], data.iloc[5:]), excel_max_rows=5)
    sheets = sheet_rows(path)
    assert list(sheets) == ["data", "data (2)", "data (3)"]
    header = ["time (Europe/Rome)", "time offset", "name", "value"]
    assert all(len(rows) == 5 and rows[0] == header for rows in sheets.values())
    body = [row for rows in sheets.values() for row in rows[1:]]
    assert [r[2] for r in body] == [f"n{i}" for i in range(n)]
    assert [r[0] for r in body] == [dt.datetime(2026, 1, 1, 1, m) for m in range(n)]
    assert progress == [5, 12]


def test_excel_cuts_overlong_text_and_says_where(tmp_path: Path) -> None:
    data = frame(times("2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z"), ["short", "x" * 40_000], [1.0, 2.0])
    path, warnings, _ = write("xlsx", tmp_path, table(data, title="Boiler"), excel_max_rows=2)
    sheets = sheet_rows(path)
    assert sheets["Boiler (2)"][1][2] == "x" * 32_767
    assert len(warnings) == 1
    assert "sheet 'Boiler (2)'" in warnings[0] and "row 2" in warnings[0] and "column C (name)" in warnings[0]
    assert "40,000" in warnings[0]


def test_excel_one_sheet_per_table_with_legal_unique_names(tmp_path: Path) -> None:
    titles = ["Temp", "temp", "a/b:c*d?[e]", "x" * 40, "'quoted'"]
    tables = [table(sample(2), title=t) for t in titles]
    path, _, progress = write("xlsx", tmp_path, *tables)
    sheets = sheet_rows(path)
    assert list(sheets) == ["Temp", "temp (2)", "a_b_c_d__e_", "x" * 31, "quoted"]
    assert all([r[2] for r in rows[1:]] == ["a", "b"] for rows in sheets.values())
    assert progress == [2, 4, 6, 8, 10]


def test_excel_empty_table_still_has_its_header(tmp_path: Path) -> None:
    path, _, _ = write("xlsx", tmp_path, table(title="empty"))
    assert sheet_rows(path) == {"empty": [["time (Europe/Rome)", "time offset", "name", "value"]]}


# --- PDF ---------------------------------------------------------------------------------


def pdf_pages(data: bytes) -> list[str]:
    """Text shown on each page, in page order, read straight from the PDF objects."""
    objects = {int(m[1]): m[2] for m in re.finditer(rb"(\d+) 0 obj\n(.*?)endobj", data, re.S)}
    root = next(body for body in objects.values() if b"/Type /Pages" in body)
    kids = [int(k) for k in re.findall(rb"(\d+) 0 R", re.search(rb"/Kids \[(.*?)\]", root, re.S)[1])]
    pages = []
    for kid in kids:
        contents = objects[int(re.search(rb"/Contents (\d+) 0 R", objects[kid])[1])]
        stream = re.search(rb"stream\n(.*)\nendstream", contents, re.S)[1]
        if b"/FlateDecode" in contents:
            stream = zlib.decompress(stream)
        shown = re.findall(rb"\(((?:\\.|[^\\)])*)\) Tj", stream)
        pages.append("\n".join(re.sub(rb"\\(.)", rb"\1", s).decode("cp1252") for s in shown))
    return pages


def test_pdf_has_title_summary_table_and_chart(tmp_path: Path) -> None:
    path, warnings, progress = write(
        "pdf", tmp_path, table(sample(3), title="Boiler room"),
        title="Weekly boiler", summary=[("Channel", "ch-1")], window=("2026-03-01", "2026-03-08"),
    )  # fmt: skip
    data = path.read_bytes()
    assert data.startswith(b"%PDF-")
    assert len(re.findall(rb"/Type /Page\b(?!s)", data)) == 1
    (page,) = pdf_pages(data)
    for text in ("Weekly boiler", "Channel", "ch-1", "2026-03-01 to 2026-03-08", "Europe/Rome", "Boiler room"):
        assert text in page
    assert "1986-09-04T20:30:00+02:00" in page and "-3.25" in page and "1e-05" in page
    assert "This PDF shows" not in page
    assert warnings == [] and progress == [3]


def test_pdf_row_cap_is_announced_on_the_first_page(tmp_path: Path) -> None:
    n = 120
    data = frame(times(*[f"2026-01-01T{h:02d}:{m:02d}:00Z" for h in range(2) for m in range(60)]), ["n"] * n, [float(i) for i in range(n)])
    path, warnings, _ = write("pdf", tmp_path, table(data.iloc[:50], data.iloc[50:]), pdf_row_cap=70)
    pages = pdf_pages(path.read_bytes())
    assert "This PDF shows the first 70 of 120 rows; export CSV or Excel for all rows." in pages[0]
    all_text = "\n".join(pages)
    assert "69.0" in all_text and "70.0" not in all_text.replace("119.0", "")
    assert "2026-01-01T02:59:00+01:00" in all_text  # the chart's time range covers every row
    assert warnings == ["the PDF holds the first 70 of 120 rows (pdf_row_cap); export CSV or Excel for all rows"]


def test_pdf_templates_differ_in_sections(tmp_path: Path) -> None:
    tables = lambda: [table(sample(2), title="First"), table(sample(2), title="Second")]  # noqa: E731
    tabular, _, _ = write("pdf", tmp_path, *tables(), template="tabular")
    assert len(pdf_pages(tabular.read_bytes())) == 1  # compact: both sections on the cover page
    expanded, _, _ = write("pdf", tmp_path, *tables(), template="expanded")
    pages = pdf_pages(expanded.read_bytes())
    assert len(pages) == 3  # cover, then one page per section
    assert "First" in pages[1] and "Second" not in pages[1] and "Second" in pages[2]


def test_pdf_replaces_characters_the_font_lacks(tmp_path: Path) -> None:
    data = frame(times("2026-01-01T00:00:00Z"), ["温度 café €"], [1.0])
    path, warnings, _ = write("pdf", tmp_path, table(data))
    assert "?? café €" in pdf_pages(path.read_bytes())[0]
    assert any("replaced with '?'" in w for w in warnings)


# --- all formats -------------------------------------------------------------------------


@pytest.mark.parametrize("extension", ["csv", "json", "xlsx", "pdf"])
def test_same_input_gives_identical_bytes(tmp_path: Path, extension: str) -> None:
    first, _, _ = write(extension, tmp_path, table(sample(5), sample(5)))
    before = first.read_bytes()
    second, _, _ = write(extension, tmp_path, table(sample(5), sample(5)))
    assert second.read_bytes() == before


# --- every cell keeps its reading's kind ---------------------------------------------------


def mixed_kinds() -> pd.DataFrame:
    """A mixed `value` column as the pipeline hands it over: numbers equal to True/False and bools."""
    cells: list[object] = [1.0, True, 0.0, False, True, 1.0, False, 0.0, "1", 2.5]
    return frame(times(*[f"2026-01-01T00:{m:02d}:00Z" for m in range(len(cells))]), ["n"] * len(cells), [0.0] * len(cells)).assign(
        value=pd.Series(cells, dtype=object)
    )


@pytest.mark.parametrize("first", ["number", "bool"])
def test_numbers_and_bools_in_one_column_keep_their_kind(tmp_path: Path, first: str) -> None:
    data = mixed_kinds()
    if first == "bool":
        data = data.iloc[1:].reset_index(drop=True)
    cells = data["value"].tolist()
    path, _, _ = write("csv", tmp_path, table(data))
    shown = [r[2] for r in csv.reader(io.StringIO(path.read_text(), newline=""))][1:]
    expected = [("true" if c else "false") if isinstance(c, bool) else c if isinstance(c, str) else repr(c) for c in cells]
    assert shown == expected
    path, _, _ = write("json", tmp_path, table(data))
    values = [r["value"] for r in json.loads(path.read_bytes())]
    assert [(type(v), v) for v in values] == [(type(c), c) for c in cells]
    path, _, _ = write("xlsx", tmp_path, table(data))
    got = [r[3] for r in sheet_rows(path)["data"][1:]]  # after time, time offset, name
    assert [(type(v), v) for v in got] == [(type(c), c) for c in cells]


# --- the repeated hour is never ambiguous; L and LL are dates ------------------------------

FALL_BACK = ("2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z")  # 02:30 in Rome, twice


def test_lll_ends_with_the_offset_in_a_non_utc_zone() -> None:
    assert format_times(times(*FALL_BACK), "LLL").tolist() == ["October 25, 2026 2:30 AM +02:00", "October 25, 2026 2:30 AM +01:00"]
    night = times("2026-11-01T05:30:00Z", "2026-11-01T06:30:00Z", zone="America/New_York")
    assert format_times(night, "LLL").tolist() == ["November 1, 2026 1:30 AM -04:00", "November 1, 2026 1:30 AM -05:00"]
    assert format_times(times(*FALL_BACK, zone="UTC"), "LLL").tolist() == ["October 25, 2026 12:30 AM", "October 25, 2026 1:30 AM"]


def test_lll_rows_in_csv_and_json_differ_over_the_repeated_hour(tmp_path: Path) -> None:
    data = frame(times(*FALL_BACK), ["a", "a"], [1.0, 2.0])
    path, _, _ = write("csv", tmp_path, table(data), date_format="LLL")
    assert path.read_text().splitlines()[1:] == ['"October 25, 2026 2:30 AM +02:00",a,1.0', '"October 25, 2026 2:30 AM +01:00",a,2.0']
    path, _, _ = write("json", tmp_path, table(data), date_format="LLL")
    assert [r["time"] for r in json.loads(path.read_bytes())] == ["October 25, 2026 2:30 AM +02:00", "October 25, 2026 2:30 AM +01:00"]


def test_excel_offset_column_follows_each_time_column_in_a_non_utc_sheet(tmp_path: Path) -> None:
    data = frame(times(*FALL_BACK, None), ["a", "b", "c"], [1.0, 2.0, 3.0])
    data["created"] = times("2026-07-01T00:00:00Z", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z")
    t = Table("data", ["time", "name", "value", "created"], frozenset({"time", "created"}), iter([data]), ("value",))
    path, _, _ = write("xlsx", tmp_path, t)
    assert sheet_rows(path)["data"] == [
        ["time (Europe/Rome)", "time offset", "name", "value", "created (Europe/Rome)", "created offset"],
        [dt.datetime(2026, 10, 25, 2, 30), "+02:00", "a", 1.0, dt.datetime(2026, 7, 1, 2, 0), "+02:00"],
        [dt.datetime(2026, 10, 25, 2, 30), "+01:00", "b", 2.0, dt.datetime(2026, 1, 1, 1, 0), "+01:00"],
        [None, None, "c", 3.0, dt.datetime(2026, 1, 1, 1, 0), "+01:00"],
    ]
    path, _, _ = write("xlsx", tmp_path, table(frame(times(*FALL_BACK, zone="UTC"), ["a", "b"], [1.0, 2.0])), timezone_name="UTC")
    assert sheet_rows(path)["data"][0] == ["time (UTC)", "name", "value"]


@pytest.mark.parametrize(("date_format", "number_format"), [("L", "mm/dd/yyyy"), ("LL", "mmmm d, yyyy")])
def test_excel_l_and_ll_cells_keep_the_datetime_and_show_the_date(tmp_path: Path, date_format: str, number_format: str) -> None:
    data = frame(times("2026-03-29T00:59:59Z", "2026-03-29T01:00:00.250Z"), ["a", "b"], [1.0, 2.0])
    path, _, _ = write("xlsx", tmp_path, table(data), date_format=date_format)
    sheet = openpyxl.load_workbook(path)["data"]
    assert [sheet["A2"].value, sheet["A3"].value] == [dt.datetime(2026, 3, 29, 1, 59, 59), dt.datetime(2026, 3, 29, 3, 0, 0, 250_000)]
    assert sheet["A2"].number_format == sheet["A3"].number_format == number_format
