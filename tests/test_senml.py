"""Parsing files of readings: RFC 8428's examples resolved, every format, and each kind of bad record named."""

from __future__ import annotations

import io
import json
import math
from typing import Any

import pytest

from exporter_tui.sources.ingest import Defaults, FileInvalid, FileReader, detect_format
from exporter_tui.sources.ingest import inputs as ingest_inputs

ENVELOPE = Defaults(channel="ch-1", subtopic="events.data")


def parse(data: str | bytes, name: str = "-", fmt: str = "auto", defaults: Defaults = ENVELOPE) -> tuple[list[dict[str, Any]], list[str]]:
    """(the readings as dicts without empty fields, 'where: reason' of each refused record) of a whole file."""
    raw = data.encode() if isinstance(data, str) else data
    rows: list[dict[str, Any]] = []
    refused: list[str] = []
    for batch in FileReader(io.BytesIO(raw), name, fmt, defaults):
        for row in batch.frame.to_dict("records"):
            rows.append({k: v for k, v in row.items() if v is not None and not (isinstance(v, float) and math.isnan(v))})
        refused += [r.text() for r in batch.refused]
    return rows, refused


def pack(*records: Any) -> str:
    return json.dumps(list(records))


# -- RFC 8428's examples -------------------------------------------------------------


def test_rfc8428_multiple_measurements_resolve_base_name_time_and_unit() -> None:
    """Section 5.1.3 and its resolved form in section 4.6: bn prefixes n, bt is added to t, bu is the unit where u is absent."""
    rows, refused = parse(
        pack(
            {"bn": "urn:dev:ow:10e2073a0108006:", "bt": 1.276020076001e09, "bu": "A", "bver": 5, "n": "voltage", "u": "V", "v": 120.1},
            {"n": "current", "t": -5, "v": 1.2},
            {"n": "current", "t": -4, "v": 1.3},
            {"n": "current", "t": -3, "v": 1.4},
            {"n": "current", "t": -2, "v": 1.5},
            {"n": "current", "t": -1, "v": 1.6},
            {"n": "current", "v": 1.7},
        )
    )
    assert refused == []
    assert [(r["name"], r["unit"], r["value"]) for r in rows] == [
        ("urn:dev:ow:10e2073a0108006:voltage", "V", 120.1),
        *[("urn:dev:ow:10e2073a0108006:current", "A", v) for v in (1.2, 1.3, 1.4, 1.5, 1.6, 1.7)],
    ]
    assert [r["time"] for r in rows] == pytest.approx([1.276020076001e09] + [1.276020076001e09 + t for t in (-5, -4, -3, -2, -1, 0)])
    assert {(r["channel"], r["subtopic"], r["publisher"]) for r in rows} == {("ch-1", "events.data", "")}


def test_rfc8428_multiple_datapoints_name_is_the_base_name_alone_when_n_is_absent() -> None:
    """Section 5.1.4: records with only t and v take bn as their whole name."""
    records = [{"bn": "urn:dev:ow:10e2073a01080063:", "bt": 1.320067464e09, "bu": "%RH", "v": 21.2}]
    records += [{"t": t, "v": v} for t, v in ((10, 21.3), (20, 21.4), (30, 21.4), (40, 21.5))]
    rows, refused = parse(pack(*records))
    assert refused == []
    assert {r["name"] for r in rows} == {"urn:dev:ow:10e2073a01080063:"} and {r["unit"] for r in rows} == {"%RH"}
    assert [r["time"] - 1.320067464e09 for r in rows] == pytest.approx([0, 10, 20, 30, 40])


def test_rfc8428_collection_of_resources_keeps_each_value_type() -> None:
    """Section 5.1.6: a number, a string, a boolean and data; no times, so they are placed with --relative-to."""
    data = pack(
        {"bn": "urn:dev:ow:10e2073a01080063:", "n": "temp", "u": "Cel", "v": 23.1},
        {"n": "label", "vs": "Machine Room"},
        {"n": "open", "vb": False},
        {"n": "nfc-reader", "vd": "aGkgCg"},
    )
    rows, refused = parse(data, defaults=Defaults(channel="c", subtopic="s", relative_to=1_780_000_000.0))
    assert refused == []
    by_name = {r["name"].split(":")[-1]: r for r in rows}
    assert by_name["temp"]["value"] == 23.1 and by_name["temp"]["unit"] == "Cel"
    assert by_name["label"]["string_value"] == "Machine Room" and "unit" not in by_name["label"]
    assert by_name["open"]["bool_value"] is False
    assert by_name["nfc-reader"]["data_value"] == "aGkgCg"
    assert {r["time"] for r in rows} == {1_780_000_000.0}


def test_relative_times_are_refused_unless_placed() -> None:
    """RFC 8428 section 4.5.3: a time below 2**28 is relative to now, which a file cannot tell."""
    data = pack({"n": "a", "v": 1}, {"n": "b", "t": -60, "v": 2}, {"n": "c", "bt": 1_780_000_000, "t": -60, "v": 3})
    rows, refused = parse(data)
    assert [r["name"] for r in rows] == ["c"] and rows[0]["time"] == 1_780_000_000 - 60
    assert refused[0].startswith("[0]: has no time ('t' or a base time 'bt')") and "--relative-to" in refused[0]
    assert refused[1].startswith("[1]: time -60 ('bt' + 't') is below 2**28, a time relative to now in SenML")
    rows, refused = parse(data, defaults=Defaults(channel="c", subtopic="s", relative_to=1_780_000_000.0))
    assert refused == [] and [r["time"] for r in rows] == [1_780_000_000.0, 1_780_000_000.0 - 60, 1_780_000_000.0 - 60]


def test_base_value_and_base_sum_are_added() -> None:
    rows, refused = parse(
        pack(
            {"bn": "m:", "bt": 1_780_000_000, "bv": 100, "bs": 1000, "n": "a", "v": 1.5, "s": 2}, {"n": "b", "v": -1}, {"n": "c", "vs": "x"}
        )
    )
    assert refused == []
    assert [(r["name"], r.get("value"), r.get("sum")) for r in rows] == [("m:a", 101.5, 1002.0), ("m:b", 99.0, None), ("m:c", None, None)]


def test_a_base_field_holds_until_another_record_gives_it_again() -> None:
    rows, _ = parse(
        pack(
            {"bn": "a:", "bt": 1_780_000_000, "n": "x", "v": 1},
            {"n": "x", "t": 1, "v": 2},
            {"bn": "b:", "n": "x", "t": 2, "v": 3},
            {"n": "y", "t": 3, "v": 4},
        )
    )
    assert [r["name"] for r in rows] == ["a:x", "a:x", "b:x", "b:y"]
    assert [r["time"] - 1_780_000_000 for r in rows] == [0, 1, 2, 3]


def test_a_pack_larger_than_a_block_is_streamed_and_keeps_its_base_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pack is cut into pieces after a '}'; a '}' inside a string or a nested object is never taken for a record's end."""
    monkeypatch.setattr(ingest_inputs, "BLOCK_CHARS", 64)  # the pack is read 64 characters at a time
    records: list[dict[str, Any]] = [{"bn": "dev:", "bt": 1_780_000_000, "bu": "Cel", "n": "t", "v": 0}]
    records += [{"n": "t", "t": i, "v": i} for i in range(1, 200)]
    records += [{"n": "s", "t": 300, "vs": '},{"n":"x","v":1}'}, {"n": "s", "t": 301, "vs": "}}}}", "x": {"y": {"z": 1}}}]
    rows, refused = parse(json.dumps(records, indent=1))
    assert refused == []
    assert len(rows) == 202 and {r["name"] for r in rows} == {"dev:t", "dev:s"} and {r.get("unit") for r in rows} == {"Cel"}
    assert rows[-2]["string_value"] == '},{"n":"x","v":1}' and rows[-1]["string_value"] == "}}}}"
    assert [r["time"] - 1_780_000_000 for r in rows[:200]] == list(range(200))


def test_base_fields_of_one_json_line_do_not_reach_the_next() -> None:
    lines = "\n".join(
        [
            json.dumps([{"bn": "dev1:", "bt": 1_780_000_000, "n": "t", "v": 1}, {"n": "h", "t": 1, "v": 2}]),
            json.dumps({"n": "t", "t": 1_780_000_001, "v": 3}),
        ]
    )
    rows, refused = parse(lines)
    assert refused == []
    assert [r["name"] for r in rows] == ["dev1:t", "dev1:h", "t"]


def test_two_records_differing_only_in_unit_are_one_reading() -> None:
    """A reading's identity is channel, subtopic, name, publisher and time; the unit is not part of it (as in the readers)."""
    rows, _ = parse(pack({"bn": "d:", "bt": 1_780_000_000, "u": "lon", "v": 24.3}, {"u": "lat", "v": 60.1}))
    assert len(rows) == 2  # both parsed; the source keeps the last (see test_ingest)


# -- readers API messages --------------------------------------------------------------


def test_readers_messages_in_snake_or_camel_case() -> None:
    lines = "\n".join(
        json.dumps(m)
        for m in (
            {
                "channel": "c2",
                "subtopic": "s2",
                "publisher": "p",
                "protocol": "mqtt",
                "name": "temp",
                "unit": "Cel",
                "time": 1_780_000_000,
                "value": 1.5,
            },
            {"name": "label", "time": 1_780_000_001, "stringValue": "on", "updateTime": 1_780_000_002},
            {"name": "flag", "time": 1_780_000_002, "boolValue": True},
            {"name": "blob", "time": 1_780_000_003, "dataValue": "aGk", "sum": 2},
        )
    )
    rows, refused = parse(lines, name="m.jsonl")
    assert refused == []
    assert rows[0] == {
        "channel": "c2",
        "subtopic": "s2",
        "publisher": "p",
        "protocol": "mqtt",
        "name": "temp",
        "unit": "Cel",
        "time": 1_780_000_000.0,
        "value": 1.5,
    }
    assert rows[1]["string_value"] == "on" and rows[1]["update_time"] == 1_780_000_002 and rows[1]["channel"] == "ch-1"
    assert rows[2]["bool_value"] is True and rows[3]["data_value"] == "aGk" and rows[3]["sum"] == 2


def test_a_readers_api_page_is_read_as_its_messages() -> None:
    page = {
        "total": 2,
        "offset": 0,
        "limit": 100,
        "messages": [{"name": "a", "time": 1_780_000_000, "value": 1}, {"name": "b", "time": 1_780_000_000, "value": "x"}],
    }
    rows, refused = parse(json.dumps(page), name="page.json")
    assert [r["name"] for r in rows] == ["a"]
    assert refused == ["messages[1]: 'value' must be a number, got 'x'"]


# -- CSV --------------------------------------------------------------------------------


def test_csv_with_senml_labels_our_fields_or_camel_case() -> None:
    senml, refused = parse("n,u,t,v,vb\ntemp,Cel,1780000000,21.5,\nopen,,1780000000,,TRUE\n", name="a.csv")
    assert refused == []
    assert senml[0] == {
        "channel": "ch-1",
        "subtopic": "events.data",
        "publisher": "",
        "name": "temp",
        "unit": "Cel",
        "time": 1_780_000_000.0,
        "value": 21.5,
    }
    assert senml[1]["bool_value"] is True and "unit" not in senml[1]
    ours, refused = parse(
        "channel;subtopic;name;time;stringValue;updateTime\nc9;s9;label;2026-06-01T10:00:00Z;on;1780308001\n", name="b.csv"
    )
    assert refused == []
    assert ours == [
        {
            "channel": "c9",
            "subtopic": "s9",
            "publisher": "",
            "name": "label",
            "time": 1_780_308_000.0,
            "string_value": "on",
            "update_time": 1_780_308_001.0,
        }
    ]


def test_csv_refusals_name_the_line_and_the_field() -> None:
    text = 'name,time,value\na,1780000000,1\nb,1780000000,abc\n"multi\nline",1780000000,2\nc,1780000000\nd,soon,3\ne,1780000000000,4\n'
    rows, refused = parse(text, name="r.csv")
    assert [r["name"] for r in rows] == ["a"]
    assert refused == [
        "line 3: 'value' must be a number, got 'abc'",
        "line 4: 'name' has a control character: 'multi\\nline'",  # a quoted field over two lines: named by its first
        "line 6: has 2 fields; the header has 3",
        "line 7: 'time' must be Unix seconds or an ISO 8601 date-time, got 'soon'",
        "line 8: 'time' 1780000000000 is after the year 2200 (it looks like milliseconds; give Unix seconds)",
    ]


@pytest.mark.parametrize(
    "header, words",
    [
        ("n,value,t", "mixes SenML labels (n, t) with readers API fields (value)"),
        ("a,b,c", "names no SenML label"),
        ("name,time,value,value", "names 'value' twice"),
        ("name,time,string_value,stringValue", "names 'string_value' twice"),
        ("n,t,v,foo_", "'foo_' is a must-understand SenML field"),
    ],
)
def test_a_csv_header_that_cannot_be_read_refuses_the_file(header: str, words: str) -> None:
    with pytest.raises(FileInvalid, match=words.replace("(", r"\(").replace(")", r"\)")):
        parse(header + "\n1,2,3,4\n", name="h.csv")


# -- JSON lines -------------------------------------------------------------------------


def test_json_lines_refusals_name_the_line() -> None:
    lines = [
        '{"n": "a", "t": 1780000000, "v": 1}',
        "",
        "not json",
        '{"n": "b", "t": 1780000000, "v": 1} {"n": "c"}',
        "5",
        '[{"n": "d", "t": 1780000000, "v": 1}, 7]',
        '{"n": "e", "t": 1780000000, "v": true}',
    ]
    rows, refused = parse("\n".join(lines), name="x.jsonl")
    assert [r["name"] for r in rows] == ["a", "d"]
    assert refused == [
        "line 3: not valid JSON: it starts with 'not json'",
        "line 4: not valid JSON: Extra data at column 37",
        "line 5: must be a JSON object (a record or a readers API message) or an array (a SenML pack), got 5",
        "line 6 [1]: must be a JSON object (a SenML record), got 7",
        "line 7: 'v' must be a number, got true",
    ]


# -- every check on a record -----------------------------------------------------------


@pytest.mark.parametrize(
    "record, reason",
    [
        ({"n": "a", "t": 1780000000, "v": "abc"}, "'v' must be a number, got 'abc'"),
        ({"n": "a", "t": 1780000000}, "has no value: give one of v, vs, vb, vd (or only a sum 's')"),
        ({"n": "a", "t": 1780000000, "v": 1, "vs": "x"}, "has more than one value (v, vs): a reading carries one of v, vs, vb, vd"),
        ({"t": 1780000000, "v": 1}, "has no name: give 'n' or a base name 'bn'"),
        ({"n": "temp °C", "t": 1780000000, "v": 1}, "the name 'temp °C' ('bn' + 'n') has a character SenML does not allow in a name"),
        ({"n": "_a", "t": 1780000000, "v": 1}, "has a character SenML does not allow"),
        (
            {"n": "a", "t": 1780000000000, "v": 1},
            "time 1780000000000 ('bt' + 't') is after the year 2200 (it looks like milliseconds; SenML times are Unix seconds)",
        ),
        ({"n": "a", "t": 1780000000000000000, "v": 1}, "(it looks like nanoseconds; SenML times are Unix seconds)"),
        ({"n": "a", "t": "2026-06-01", "v": 1}, "'t' must be a number, got '2026-06-01'"),
        ({"n": 5, "t": 1780000000, "v": 1}, "'n' must be text, got 5"),
        ({"n": "a", "t": 1780000000, "vb": "yes"}, "'vb' must be true or false, got 'yes'"),
        ({"n": "a", "bver": 11, "t": 1780000000, "v": 1}, "'bver' 11 is a SenML version newer than 10"),
        ({"n": "a", "t": 1780000000, "v": 1, "crit_": 1}, "'crit_' is a must-understand field (RFC 8428 section 4.4)"),
        ({"n": "a", "t": 1780000000, "v": 1, "name": "b"}, "mixes SenML labels (n, t, v) with readers API fields (name)"),
        ({"n": "a\tb", "t": 1780000000, "v": 1}, "the name 'a\\tb' ('bn' + 'n') has a character SenML does not allow"),
        ({"n": "a", "u": "C\u200b", "t": 1780000000, "v": 1}, "'u' has a control character: 'C\\u200b'"),
        ({"n": "a", "t": 1780000000, "v": 1, "channel": 7}, "'channel' must be text, got 7"),
    ],
)
def test_each_bad_record_is_refused_naming_the_field_and_the_reason(record: dict[str, Any], reason: str) -> None:
    good = {"n": "ok", "t": 1_780_000_000, "v": 1}
    rows, refused = parse(pack(good, record, good | {"t": 1_780_000_001}))
    assert [r["name"] for r in rows] == ["ok", "ok"]
    assert len(refused) == 1 and refused[0].startswith("[1]: ") and reason in refused[0], refused


def test_json_nan_and_numbers_past_the_float_range_are_not_finite() -> None:
    rows, refused = parse('[{"n":"a","t":1780000000,"v":NaN},{"n":"b","t":1780000000,"v":-Infinity},{"n":"c","t":1780000000,"v":1e400}]')
    assert rows == []
    assert refused == [
        "[0]: 'v' must be a finite number, got NaN",
        "[1]: 'v' must be a finite number, got -Infinity",
        "[2]: 'v' must be a finite number, got inf",
    ]


def test_a_record_taking_an_invalid_base_field_is_refused_too() -> None:
    rows, refused = parse(
        pack({"bn": "d:", "bt": "soon", "n": "a", "v": 1}, {"n": "b", "t": 5, "v": 2}, {"bt": 1_780_000_000, "n": "c", "v": 3})
    )
    assert [r["name"] for r in rows] == ["d:c"]
    assert refused == ["[0]: 'bt' must be a number, got 'soon'", "[1]: the base field 'bt' in force here (from [0]) is not valid"]


def test_a_reading_without_channel_or_subtopic_is_refused_unless_the_options_give_them() -> None:
    data = pack({"n": "a", "t": 1_780_000_000, "v": 1}, {"n": "b", "t": 1_780_000_000, "v": 1, "channel": "own", "subtopic": "own.sub"})
    rows, refused = parse(data, defaults=Defaults())
    assert [r["name"] for r in rows] == ["b"]
    assert refused == [
        "[0]: has no channel (give --channel ID or a 'channel' field); has no subtopic (give --subtopic NAME or a 'subtopic' field)"
    ]
    rows, _ = parse(data, defaults=Defaults(channel="opt", subtopic="opt.sub", publisher="dev-9"))
    assert [(r["channel"], r["subtopic"], r["publisher"]) for r in rows] == [("opt", "opt.sub", "dev-9"), ("own", "own.sub", "dev-9")]


def test_bytes_that_are_not_utf8_refuse_only_their_record() -> None:
    data = b'{"n":"a","t":1780000000,"v":1}\n{"n":"b","t":1780000000,"vs":"x\xff"}\n{"n":"c\xff","t":1780000000,"v":1}\n'
    rows, refused = parse(data, name="u.jsonl")
    assert [r["name"] for r in rows] == ["a"]
    assert refused == [
        "line 2: 'vs' is not valid UTF-8 text (byte 0xff at character 2)",
        "line 3: the name 'c\\udcff' ('bn' + 'n') has a character SenML does not allow in a name "
        "(A-Z a-z 0-9 - : . / _, starting with a letter or a digit)",
    ]
    rows, refused = parse('[{"name":"a\\ud800","time":1780000000,"value":1}]')
    assert refused == ["[0]: 'name' is not valid UTF-8 text (a lone surrogate \\ud800 at character 2)"]


def test_unknown_fields_are_left_out_and_named() -> None:
    reader = FileReader(
        io.BytesIO(pack({"n": "a", "t": 1_780_000_000, "v": 1, "device_id": "x", "l": "y"}).encode()), "-", "auto", ENVELOPE
    )
    assert sum(len(b.frame) for b in reader) == 1
    assert reader.ignored == {"device_id", "l"}


# -- whole files ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, words",
    [
        ('[{"n":"a","t":1780000000,"v":1}\n{"n":"b","t":1780000000,"v":1}]', "',' expected between records at line 2 column 1"),
        ('[{"n":"a","t":1780000000,"v":1},\n {"n":"b","t":1780000000,"v":}]', "Expecting value at line 2 column 30"),
        ('[{"n":"a","t":1780000000,"v":1}', "the array is not closed"),
        ('[{"n":"a","t":1780000000,"v":1}] [', "extra data after the array"),
        ('{"n":"a"}', 'an object without a "messages" array'),
        ("", "the file is empty"),
    ],
)
def test_a_json_document_that_is_not_a_pack_refuses_the_file(text: str, words: str) -> None:
    with pytest.raises(FileInvalid, match=words.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        parse(text, name="p.json")


@pytest.mark.parametrize(
    "name, head, fmt",
    [
        ("a.json", "{}", "senml"),
        ("a.JSONL", "[", "jsonl"),
        ("a.ndjson", "", "jsonl"),
        ("a.csv", "[", "csv"),
        ("-", '[{"n":"a"},\n{"n":"b"}]', "senml"),
        ("-", '[\n  {"n": "a"}\n]', "senml"),
        ("-", '[{"n":"a"}]', "senml"),
        ("-", '{"messages": []}', "senml"),
        ("-", '{"n":"a"}\n{"n":"b"}\n', "jsonl"),
        ("-", '[{"n":"a"}]\n[{"n":"b"}]\n', "jsonl"),
        ("-", '{"n":"a"}', "jsonl"),
        ("-", "n,t,v\n", "csv"),
        ("data.txt", "\ufeffname;time\n", "csv"),
    ],
)
def test_the_format_by_extension_else_by_content(name: str, head: str, fmt: str) -> None:
    assert detect_format(name, head) == fmt


def test_windows_line_ends_and_a_bom_are_read_like_any_line_end() -> None:
    jsonl = '\ufeff{"n":"a","t":1780000000,"v":1}\r\n{"n":"b","t":1780000000,"v":2}\r\n'
    rows, refused = parse(jsonl.encode("utf-8"), name="w.jsonl")
    assert refused == [] and [r["name"] for r in rows] == ["a", "b"]
    table = "\ufeffn,t,v\r\na,1780000000,1\r\nb,1780000000,x\r\n"
    rows, refused = parse(table.encode("utf-8"), name="w.csv")
    assert [r["name"] for r in rows] == ["a"] and refused == ["line 3: 'v' must be a number, got 'x'"]
