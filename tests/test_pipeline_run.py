"""`exporter-tui run`: real readings in a real source.db, through every stage, into real files."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import datetime
from pathlib import Path

import openpyxl
from pipeline_helpers import T0, body, create, fill, item, reading, run

from exporter_tui.pipeline.files import manifest_path, sha256_of


def rows_of(path: Path, delimiter: str = ",") -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline=""), delimiter=delimiter))


def window(start: float, end: float) -> dict:
    return {"from": start, "to": end}


def test_long_csv_with_hourly_average_in_local_time(cli, home: Path, tmp_path: Path) -> None:
    fill(
        home, [reading("urn:t", T0 + i * 900, v) for i, v in enumerate([1, 2, 3, 4, 10, 20])] + [reading("urn:t", T0 + 7200, 99)]
    )  # outside the half-open window
    b = body(
        [item("urn:t", "Temp", decimation={"ds": "1h", "dsf": "avg"}, **window(T0, T0 + 7200))],
        columns=[("time", "Zeit"), ("name", "Sensor"), ("value", "Wert")],
        csvDelimiter=";",
    )
    out = run(cli, create(cli, tmp_path, b))
    assert out["_code"] == 0 and out["status"] == "done" and out["rows"] == 2
    assert out["window"] == {"from": "2026-06-01T10:00:00.000Z", "to": "2026-06-01T12:00:00.000Z"}
    assert rows_of(Path(out["filePath"]), ";") == [
        ["Zeit", "Sensor", "Wert"],
        ["2026-06-01T12:00:00+02:00", "Temp", "2.5"],
        ["2026-06-01T13:00:00+02:00", "Temp", "15.0"],
    ]


def test_raw_long_rows_keep_every_reading_and_created_uses_update_time(cli, home: Path, tmp_path: Path) -> None:
    fill(home, [reading("urn:e", T0, 1.5, update_time=T0 + 2), reading("urn:e", T0 + 60, 2.5)])
    b = body(
        [item("urn:e", **window(T0, T0 + 120))],
        columns=[("created", "created"), ("time", "time"), ("value", "v"), ("unit", "u")],
        timezone="utc",
    )
    out = run(cli, create(cli, tmp_path, b))
    assert rows_of(Path(out["filePath"])) == [
        ["created", "time", "v", "u"],
        ["2026-06-01T10:00:02+00:00", "2026-06-01T10:00:00+00:00", "1.5", "Cel"],
        ["2026-06-01T10:01:00+00:00", "2026-06-01T10:01:00+00:00", "2.5", "Cel"],
    ]


def test_wide_aligns_targets_by_time(cli, home: Path, tmp_path: Path) -> None:
    fill(home, [reading("urn:a", T0, 1), reading("urn:a", T0 + 60, 2), reading("urn:b", T0 + 60, 20), reading("urn:b", T0 + 120, 30)])
    b = body([item("urn:a,urn:b", "A,B", outputFormat="wide", **window(T0, T0 + 180))], timezone="utc")
    out = run(cli, create(cli, tmp_path, b))
    assert rows_of(Path(out["filePath"])) == [
        ["time", "A", "B"],
        ["2026-06-01T10:00:00+00:00", "1.0", ""],
        ["2026-06-01T10:01:00+00:00", "2.0", "20.0"],
        ["2026-06-01T10:02:00+00:00", "", "30.0"],
    ]


def test_delta_then_sum_gives_consumption_across_the_edge_and_a_reset(cli, home: Path, tmp_path: Path) -> None:
    counter = [(T0 - 60, 8), (T0, 10), (T0 + 600, 12), (T0 + 1200, 15), (T0 + 3600, 3), (T0 + 4200, 5)]
    fill(home, [reading("urn:kwh", t, v, unit="kWh") for t, v in counter])
    b = body(
        [item("urn:kwh", transform="delta", decimation={"ds": "1h", "dsf": "sum"}, **window(T0, T0 + 7200))],
        columns=[("time", "time"), ("value", "kWh")],
        timezone="utc",
    )
    out = run(cli, create(cli, tmp_path, b))
    # deltas 2 (from the reading before the window), 2, 3 | 3 (a reset yields the new reading), 2
    assert rows_of(Path(out["filePath"])) == [["time", "kWh"], ["2026-06-01T10:00:00+00:00", "7.0"], ["2026-06-01T11:00:00+00:00", "5.0"]]


def delta_body() -> dict:
    return body([item("urn:kwh", transform="delta", **window(T0, T0 + 120))], columns=[("time", "time"), ("value", "kWh")], timezone="utc")


def test_delta_after_a_text_reading_starts_from_the_previous_numeric_one(cli, home: Path, tmp_path: Path) -> None:
    before = [reading("urn:kwh", T0 - 300, 100.0), reading("urn:kwh", T0 - 200, None, string_value="offline")]
    before += [reading("urn:kwh", T0 - 100, None, bool_value=True)]
    fill(home, [*before, reading("urn:kwh", T0, 105.0), reading("urn:kwh", T0 + 60, 107.0)])
    out = run(cli, create(cli, tmp_path, delta_body()))
    assert rows_of(Path(out["filePath"]))[1:] == [["2026-06-01T10:00:00+00:00", "5.0"], ["2026-06-01T10:01:00+00:00", "2.0"]]
    assert not [e for e in cli("runs", "show", out["id"], "--json").json()["log"] if e["level"] == "warning"]


def test_delta_looks_back_through_10000_readings_and_says_when_it_gives_up(cli, home: Path, tmp_path: Path) -> None:
    texts = [reading("urn:kwh", T0 - 10_000 + i, None, string_value="x") for i in range(10_000)]
    fill(home, [reading("urn:kwh", T0 - 20_000, 100.0), *texts, reading("urn:kwh", T0, 105.0), reading("urn:kwh", T0 + 60, 107.0)])
    out = run(cli, create(cli, tmp_path, delta_body()))
    assert rows_of(Path(out["filePath"]))[1:] == [["2026-06-01T10:01:00+00:00", "2.0"]]
    warnings = [e["message"] for e in cli("runs", "show", out["id"], "--json").json()["log"] if e["level"] == "warning"]
    assert warnings == [
        "urn:kwh: no numeric reading among the 10,000 before 2026-06-01T10:00:00Z; the first delta is unknown and was dropped"
    ]


def test_several_csv_items_are_zipped_one_file_each(cli, home: Path, tmp_path: Path) -> None:
    fill(home, [reading("urn:a", T0, 1), reading("urn:b", T0, 2)])
    b = body(
        [item("urn:a", filename="first", **window(T0, T0 + 60)), item("urn:b", "B label", **window(T0, T0 + 60))],
        timezone="utc",
        filename="bundle",
    )
    out = run(cli, create(cli, tmp_path, b))
    path = Path(out["filePath"])
    assert path.name == "bundle_20260601T100000Z.zip" and out["fileExtension"] == "zip"
    with zipfile.ZipFile(path) as z:
        assert z.namelist() == ["first.csv", "B label.csv"]
        assert z.read("first.csv").decode().splitlines()[1] == "2026-06-01T10:00:00+00:00,urn:a,1.0,Cel"
        assert z.read("B label.csv").decode().splitlines()[1] == "2026-06-01T10:00:00+00:00,B label,2.0,Cel"


def test_excel_has_one_sheet_per_item_with_local_dates(cli, home: Path, tmp_path: Path) -> None:
    fill(home, [reading("urn:a", T0, 1), reading("urn:b", T0 + 60, 2)])
    b = body([item("urn:a", "A", **window(T0, T0 + 120)), item("urn:b", "B", **window(T0, T0 + 120))], extension="xls")
    out = run(cli, create(cli, tmp_path, b))
    path = Path(out["filePath"])
    assert path.suffix == ".xlsx"
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["A", "B"]
    rows = list(wb["B"].iter_rows(values_only=True))
    assert rows[0][:2] == ("time (Europe/Rome)", "time offset")
    assert str(rows[1][0]) == "2026-06-01 12:01:00" and rows[1][1] == "+02:00" and rows[1][3] == 2


def test_json_is_an_array_of_records_keyed_by_labels(cli, home: Path, tmp_path: Path) -> None:
    fill(home, [reading("urn:a", T0, 1.25)])
    b = body(
        [item("urn:a", "A", **window(T0, T0 + 60))], extension="json", columns=[("time", "when"), ("value", "reading")], dateFormat="LLL"
    )
    out = run(cli, create(cli, tmp_path, b))
    assert json.loads(Path(out["filePath"]).read_text()) == [{"when": "June 1, 2026 12:00 PM +02:00", "reading": 1.25}]


def test_pdf_is_written(cli, home: Path, tmp_path: Path) -> None:
    fill(home, [reading("urn:a", T0 + i * 60, float(i)) for i in range(30)])
    b = body([item("urn:a", "A", **window(T0, T0 + 3600))], extension="pdf")
    out = run(cli, create(cli, tmp_path, b))
    data = Path(out["filePath"]).read_bytes()
    assert out["rows"] == 30 and data.startswith(b"%PDF") and data.rstrip().endswith(b"%%EOF")


def test_same_window_twice_gives_identical_data_and_never_overwrites(cli, home: Path, tmp_path: Path) -> None:
    fill(home, [reading("urn:a", T0 + i, float(i)) for i in range(100)])
    rid = create(cli, tmp_path, body([item("urn:a", filename="same", **window(T0, T0 + 100))]))
    first = run(cli, rid)
    second = run(cli, rid)
    p1, p2 = Path(first["filePath"]), Path(second["filePath"])
    assert p1.name == "same_20260601T100000Z.csv" and p2.name == "same_20260601T100000Z-2.csv"
    assert p1.read_bytes() == p2.read_bytes()
    for p, r in ((p1, first), (p2, second)):
        manifest = json.loads(manifest_path(p).read_text())
        assert manifest["sha256"] == sha256_of(p) and manifest["run"] == r["id"] and manifest["rows"] == 100


def test_window_override_from_the_command_line(cli, home: Path, tmp_path: Path) -> None:
    fill(home, [reading("urn:a", T0 + i * 60, float(i)) for i in range(10)])
    rid = create(cli, tmp_path, body([item("urn:a", **window(T0, T0 + 600))], timezone="utc"))
    out = run(cli, rid, "--from", "2026-06-01T10:02:00Z", "--to", str(T0 + 240))
    assert out["rows"] == 2 and out["window"] == {"from": "2026-06-01T10:02:00.000Z", "to": "2026-06-01T10:04:00.000Z"}
    assert cli("run", rid, "--from", "2026-06-01T10:04:00Z", "--to", "2026-06-01T10:02:00Z").code == 2


def test_a_recurring_request_exports_its_last_complete_interval(cli, home: Path, tmp_path: Path) -> None:
    fill(home, [reading("urn:a", T0 + i * 3600, float(i)) for i in range(48)])
    b = body([item("urn:a")], timezone="utc")
    b.update(type="recurring", periodicity="PT6H", periodStart=T0)
    rid = create(cli, tmp_path, b)
    out = run(cli, rid)
    start, end = out["window"]["from"], out["window"]["to"]
    s = datetime.fromisoformat(start.replace("Z", "+00:00")).timestamp()
    e = datetime.fromisoformat(end.replace("Z", "+00:00")).timestamp()
    assert e - s == 6 * 3600 and (s - T0) % (6 * 3600) == 0
    assert e <= datetime.now().timestamp() < e + 6 * 3600  # the last interval that has ended


def test_a_failed_source_leaves_no_file_and_exit_1(cli, home: Path, tmp_path: Path) -> None:
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    (home / "config.toml").write_text(
        f'[identity]\nuser = "tester"\n[source]\nkind = "readers"\n[source.readers]\nurl = "http://127.0.0.1:{port}"\n'
        "timeout = 0.5\nretries = 1\nbackoff = 0\n"
    )
    rid = create(cli, tmp_path, body([item("urn:a", **window(T0, T0 + 60))]))
    out = run(cli, rid)
    assert out["_code"] == 1 and out["status"] == "failed"
    assert out["error"].startswith("source failed:") and "refused" in out["error"].lower()
    assert out["filePath"] is None
    leftovers = [p for p in (home / "exports").rglob("*") if p.is_file()]
    assert leftovers == []
    log = cli("runs", "show", out["id"], "--json").json()["log"]
    assert log[-1]["level"] == "error" and log[-1]["message"] == out["error"]


def test_a_source_that_cannot_be_opened_fails_the_run_instead_of_leaving_it_in_progress(cli, home: Path, tmp_path: Path) -> None:
    (home / "source.db").write_bytes(b"not a database" * 64)
    rid = create(cli, tmp_path, body([item("urn:a", **window(T0, T0 + 60))]))
    out = run(cli, rid)
    assert out["_code"] == 1 and out["status"] == "failed" and out["error"].startswith("source failed:")
    assert cli("runs", "--status", "inProgress", "--json").json()["total"] == 0


def test_a_recurring_request_with_no_ended_interval_is_refused_with_exit_3(cli, home: Path, tmp_path: Path) -> None:
    b = body([item("urn:a")], timezone="Europe/Rome")
    b.update(type="recurring", periodicity="P1D", periodStart=4_000_000_000)
    rid = create(cli, tmp_path, b)
    r = cli("run", rid)
    assert r.code == 3
    assert "no interval of this request is due yet (the first runs 2096-10-03T09:06:40+02:00)" in r.err
    assert cli("runs", "--json").json()["total"] == 0  # nothing queued
