"""`exporter-tui ingest`: real files into a real source.db through the CLI, and an export of what was ingested."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest
from pipeline_helpers import CH, SUB, T0, body, create, fill, item, reading, run

from exporter_tui.sources.base import ReadQuery
from exporter_tui.sources.embedded import EmbeddedSource, codec

DEV = "urn:dev:mac:0024befffe804ff1:"


@pytest.fixture(autouse=True)
def private_config(home: Path) -> None:
    """The config mode the app asks for, so stderr holds only what ingest says."""
    (home / "config.toml").chmod(0o600)


def senml_pack(n: int = 10, start: float = T0, name: str = "temperature") -> list[dict[str, Any]]:
    """A device's pack: base name, base time and unit on the first record, one reading a minute."""
    records: list[dict[str, Any]] = [{"bn": DEV, "bt": start, "bu": "Cel", "n": name, "v": 20.0}]
    records += [{"n": name, "t": 60 * i, "v": 20.0 + i / 10} for i in range(1, n)]
    return records


def stored(home: Path, name: str = DEV + "temperature", channel: str = CH, subtopic: str = SUB) -> list[dict[str, Any]]:
    with EmbeddedSource(home / "source.db") as source:
        frames = list(source.read(ReadQuery(channel, subtopic, name, 0, 7e9)))
    return [row for frame in frames for row in frame.to_dict("records")]


def total(home: Path) -> int:
    if not (home / "source.db").exists():
        return 0
    with EmbeddedSource(home / "source.db") as source:
        return sum(t.count for t in source.targets())


def ingest(cli, path: Path | str, *args: str, stdin: str | None = None):
    return cli("ingest", str(path), "--channel", CH, "--subtopic", SUB, *args, stdin=stdin)


def test_a_senml_pack_is_stored_with_its_base_fields_resolved(cli, home: Path, tmp_path: Path) -> None:
    f = tmp_path / "pack.json"
    f.write_text(json.dumps(senml_pack(10)))
    r = ingest(cli, f, "--json")
    assert r.code == 0, r.err
    summary = r.json()
    assert {k: summary[k] for k in ("file", "format", "records", "readings", "new", "duplicate", "refused", "errors")} == {
        "file": str(f),
        "format": "senml",
        "records": 10,
        "readings": 10,
        "new": 10,
        "duplicate": 0,
        "refused": 0,
        "errors": [],
    }
    rows = stored(home)
    assert [r["time"] for r in rows] == [T0 + 60 * i for i in range(10)]
    assert [r["value"] for r in rows] == pytest.approx([20.0 + i / 10 for i in range(10)])
    assert {r["unit"] for r in rows} == {"Cel"} and {r["publisher"] for r in rows} == {""}


def test_ingesting_a_file_twice_stores_each_reading_once(cli, home: Path, tmp_path: Path) -> None:
    f = tmp_path / "pack.json"
    f.write_text(json.dumps(senml_pack(50)))
    first, second = ingest(cli, f, "--json").json(), ingest(cli, f, "--json").json()
    assert (first["new"], first["duplicate"]) == (50, 0)
    assert (second["readings"], second["new"], second["duplicate"]) == (50, 0, 50)
    assert total(home) == 50
    text = ingest(cli, f)
    assert text.code == 0 and text.out.startswith(f"{f} (senml): 50 readings stored, 0 new, 50 duplicate, in ")


def test_a_record_repeated_in_the_file_counts_as_a_duplicate(cli, home: Path, tmp_path: Path) -> None:
    """Identity is (channel, subtopic, name, publisher, time): a unit is no part of it, the last record wins."""
    f = tmp_path / "twice.json"
    f.write_text(json.dumps([{"bn": DEV, "bt": T0, "n": "temperature", "u": "Cel", "v": 1.0}, {"n": "temperature", "u": "K", "v": 274.15}]))
    summary = ingest(cli, f, "--json").json()
    assert (summary["readings"], summary["new"], summary["duplicate"]) == (2, 1, 1)
    [row] = stored(home)
    assert (row["unit"], row["value"]) == ("K", 274.15)


def test_every_format_and_stdin(cli, home: Path, tmp_path: Path) -> None:
    jsonl = tmp_path / "lines.jsonl"
    jsonl.write_text(
        json.dumps({"name": "a", "time": T0, "value": 1})
        + "\n"
        + json.dumps([{"bn": "dev:", "bt": T0, "n": "b", "v": 2}, {"n": "c", "vs": "on"}])
        + "\n"
    )
    table = tmp_path / "rows.csv"
    table.write_text(f"name;time;value;publisher\nd;{T0};4;dev-7\ne;2026-06-01T10:01:00Z;5;\n")
    ndjson = "\n".join(json.dumps({"n": "f", "t": T0 + i, "v": i}) for i in range(3))
    assert ingest(cli, jsonl, "--json").json()["readings"] == 3
    assert ingest(cli, table, "--json").json()["readings"] == 2
    r = ingest(cli, "-", "--json", stdin=ndjson)
    assert r.code == 0, r.err
    assert (r.json()["file"], r.json()["format"], r.json()["new"]) == ("stdin", "jsonl", 3)
    as_csv = ingest(cli, "-", "--format", "csv", "--json", stdin=f"n,t,v\ng,{T0},7\n")
    assert as_csv.code == 0 and as_csv.json()["new"] == 1
    with EmbeddedSource(home / "source.db") as source:
        targets = {t.name: t for t in source.targets()}
    assert set(targets) == {"a", "dev:b", "dev:c", "d", "e", "f", "g"}
    assert targets["e"].first_time == T0 + 60 and stored(home, "d")[0]["publisher"] == "dev-7"
    assert stored(home, "dev:c")[0]["string_value"] == "on"


def test_an_invalid_record_fails_the_file_and_stores_nothing(cli, home: Path, tmp_path: Path) -> None:
    fill(home, [reading(DEV + "temperature", T0 - 60, 9.0)])
    records = senml_pack(5)
    records[3]["v"] = "abc"
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(records))
    r = ingest(cli, f)
    assert r.code == 2
    assert r.err.splitlines()[:2] == [
        f"error: {f}: 1 of 5 record(s) are not valid; nothing was stored (--skip-invalid stores the valid ones):",
        "  [3]: 'v' must be a number, got 'abc'",
    ]
    assert total(home) == 1 and stored(home)[0]["value"] == 9.0
    j = ingest(cli, f, "--json")
    assert j.code == 2
    assert j.json() == {
        "detail": f"{f}: 1 of 5 record(s) are not valid; nothing was stored (--skip-invalid stores the valid ones)",
        "validationErrors": [{"path": "[3]", "reason": "'v' must be a number, got 'abc'"}],
    }
    assert total(home) == 1


def test_a_file_that_is_not_json_stores_nothing_even_when_skipping(cli, home: Path, tmp_path: Path) -> None:
    f = tmp_path / "broken.json"
    f.write_text(json.dumps(senml_pack(3))[:-1] + ",{")
    r = ingest(cli, f, "--skip-invalid")
    assert r.code == 2 and "not valid JSON" in r.err and f"{f}:" in r.err
    assert total(home) == 0
    missing = ingest(cli, tmp_path / "nope.json")
    assert missing.code == 2 and missing.err.strip() == f"error: cannot read {tmp_path / 'nope.json'}: No such file or directory"


def test_skip_invalid_stores_the_rest_and_reports_each_refused_record(cli, home: Path, tmp_path: Path) -> None:
    lines = [json.dumps({"n": "x", "t": T0 + i, "v": i}) for i in range(30)]
    for i in range(2, 30, 3):
        lines[i] = json.dumps({"n": "x", "t": (T0 + i) * 1000, "v": i})  # milliseconds
    f = tmp_path / "mixed.jsonl"
    f.write_text("\n".join(lines) + "\n")
    r = ingest(cli, f, "--skip-invalid")
    assert r.code == 0, r.err
    out = r.out.splitlines()
    assert out[0].startswith(f"{f} (jsonl): 20 readings stored, 20 new, 0 duplicate; 10 records refused, in ")
    assert (
        out[1]
        == f"  line 3: time {(T0 + 2) * 1000} ('bt' + 't') is after the year 2200 (it looks like milliseconds; SenML times are Unix seconds)"
    )
    assert len(out) == 11
    assert total(home) == 20
    j = ingest(cli, f, "--skip-invalid", "--json").json()
    assert (j["new"], j["duplicate"], j["refused"], j["errorsOmitted"]) == (0, 20, 10, 0)
    assert [e["path"] for e in j["errors"]] == [f"line {i + 1}" for i in range(2, 30, 3)]


def test_the_text_report_lists_twenty_refusals_and_counts_the_rest(cli, home: Path, tmp_path: Path) -> None:
    f = tmp_path / "bad.csv"
    f.write_text("n,t,v\n" + "".join(f"x,{T0 + i},{'oops' if i % 2 else i}\n" for i in range(60)))
    r = ingest(cli, f, "--skip-invalid")
    lines = r.out.splitlines()
    assert lines[1] == "  line 3: 'v' must be a number, got 'oops'" and lines[20] == "  line 41: 'v' must be a number, got 'oops'"
    assert lines[21] == "  ... and 10 more (--json lists up to 10000)"
    strict = ingest(cli, f)
    assert strict.code == 2 and "  ... and 10 more (--json lists up to 10000)" in strict.err


def test_channel_and_subtopic_options_fill_only_what_records_lack(cli, home: Path, tmp_path: Path) -> None:
    f = tmp_path / "envelope.jsonl"
    f.write_text(
        json.dumps({"name": "own", "time": T0, "value": 1, "channel": "c-own", "subtopic": "s.own", "publisher": "p-own"})
        + "\n"
        + json.dumps({"name": "filled", "time": T0, "value": 2})
        + "\n"
    )
    r = cli("ingest", str(f), "--json")
    assert r.code == 2 and r.json()["validationErrors"] == [
        {
            "path": "line 2",
            "reason": "has no channel (give --channel ID or a 'channel' field); has no subtopic (give --subtopic NAME or a 'subtopic' field)",
        }
    ]
    r = cli("ingest", str(f), "--channel", "c-opt", "--subtopic", "s.opt", "--publisher", "p-opt", "--json")
    assert r.code == 0 and r.json()["new"] == 2
    assert stored(home, "own", "c-own", "s.own")[0]["publisher"] == "p-own"
    assert stored(home, "filled", "c-opt", "s.opt")[0]["publisher"] == "p-opt"


def test_relative_times_need_an_instant(cli, home: Path, tmp_path: Path) -> None:
    f = tmp_path / "relative.json"
    f.write_text(json.dumps([{"bn": DEV, "n": "temperature", "v": 1}, {"n": "temperature", "t": -60, "v": 2}]))
    r = ingest(cli, f)
    assert r.code == 2 and "[0]: has no time ('t' or a base time 'bt')" in r.err
    r = ingest(cli, f, "--relative-to", "2026-06-01T10:00:00Z", "--json")
    assert r.code == 0, r.err
    assert [row["time"] for row in stored(home)] == [T0 - 60, T0]
    bad = ingest(cli, f, "--relative-to", "yesterday")
    assert bad.code == 2 and "--relative-to: 'yesterday' is not an ISO 8601 date-time or Unix seconds" in bad.err


def test_a_home_reading_a_readers_api_cannot_ingest(cli, home: Path, tmp_path: Path) -> None:
    (home / "config.toml").write_text(
        '[identity]\nuser = "tester"\n[source]\nkind = "readers"\n[source.readers]\nurl = "http://127.0.0.1:9"\n'
    )
    (home / "config.toml").chmod(0o600)
    f = tmp_path / "pack.json"
    f.write_text(json.dumps(senml_pack(3)))
    r = ingest(cli, f)
    assert r.code == 2
    assert r.err.startswith(
        'error: ingest writes into the embedded source, and this home reads from a readers API ([source] kind = "readers")'
    )
    assert not (home / "source.db").exists()


def test_an_ingested_target_exports_through_a_request(cli, home: Path, tmp_path: Path) -> None:
    f = tmp_path / "pack.json"
    f.write_text(json.dumps(senml_pack(10)))
    assert ingest(cli, f).code == 0
    rid = create(cli, tmp_path, body([item(DEV + "temperature", **{"from": T0, "to": T0 + 600})], timezone="UTC"))
    out = run(cli, rid)
    assert out["status"] == "done" and out["rows"] == 10, out
    with open(out["filePath"], newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["time", "name", "value", "unit"]
    assert rows[1:3] == [
        ["2026-06-01T10:00:00+00:00", DEV + "temperature", "20.0", "Cel"],
        ["2026-06-01T10:01:00+00:00", DEV + "temperature", "20.1", "Cel"],
    ]
    assert [float(row[2]) for row in rows[1:]] == pytest.approx([20.0 + i / 10 for i in range(10)])


def test_a_progress_bar_on_a_terminal_only(cli, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    f = tmp_path / "pack.json"
    f.write_text(json.dumps(senml_pack(100)))
    r = ingest(cli, f)
    assert r.err == ""  # captured stderr is no terminal
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    size = f.stat().st_size
    assert cli("ingest", str(f), "--channel", CH, "--subtopic", SUB).code == 0
    assert f"100% {size}/{size} bytes" in terminal.getvalue() and terminal.getvalue().endswith("\n")
    quiet = Terminal()
    monkeypatch.setattr(sys, "stderr", quiet)
    assert cli("ingest", str(f), "--channel", CH, "--subtopic", SUB, "--quiet").code == 0 and quiet.getvalue() == ""


def test_an_ingest_stopped_midway_stores_nothing(cli, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from exporter_tui.sources.embedded import ReadingsWriter
    from exporter_tui.sources.ingest import inputs

    monkeypatch.setattr(inputs, "BATCH_RECORDS", 10)
    real_write = ReadingsWriter.write
    batches: list[int] = []

    def write_then_stop(self: ReadingsWriter, rows: Any) -> int:
        if batches:
            raise KeyboardInterrupt
        batches.append(1)
        return real_write(self, rows)

    monkeypatch.setattr(ReadingsWriter, "write", write_then_stop)
    f = tmp_path / "long.jsonl"
    f.write_text("".join(json.dumps({"n": "x", "t": T0 + i, "v": i}) + "\n" for i in range(50)))
    r = ingest(cli, f)
    assert r.code == 130 and batches == [1]
    assert total(home) == 0


def test_the_chunks_an_ingest_seals_are_packed_with_the_configured_codec(cli, home: Path, tmp_path: Path) -> None:
    (home / "config.toml").write_text('[identity]\nuser = "tester"\n[source]\nchunk_codec = "zlib"\n')
    (home / "config.toml").chmod(0o600)
    f = tmp_path / "pack.json"
    f.write_text(json.dumps(senml_pack(3 * 1440)))  # three days of history: sealed at once
    r = ingest(cli, f)
    assert r.code == 0, r.err
    with sqlite3.connect(home / "source.db") as conn:
        codecs = {row[0] for row in conn.execute("SELECT codec FROM chunks")}
    assert codecs == {codec.ZLIB}
    assert [row["value"] for row in stored(home)] == [20.0] + [20.0 + i / 10 for i in range(1, 3 * 1440)]
