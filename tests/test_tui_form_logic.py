"""The TUI's rules that need no widgets: times typed in a zone, JSON paths, bodies, cell text."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from exporter_tui.core.validation import parse_request
from exporter_tui.tui.bindings import KNOWN_IDS, keymap_from_settings
from exporter_tui.tui.clock import UiClock
from exporter_tui.tui.form_logic import (
    decode_body,
    format_time,
    get_path,
    nearest,
    parse_time,
    path_parts,
    set_path,
    write_atomic,
)
from exporter_tui.tui.formatting import (
    fit_widths,
    middle_clip,
    progress_text,
    span_text,
    target_summary,
    window_text,
)

ROME = ZoneInfo("Europe/Rome")
MIDNIGHT_UTC = datetime(2025, 3, 9, tzinfo=UTC).timestamp()  # 1741478400


def test_times_are_unix_seconds_or_iso_and_naive_means_the_request_zone() -> None:
    assert MIDNIGHT_UTC == 1741478400.0
    assert parse_time("1741478400", ROME) == MIDNIGHT_UTC
    assert parse_time(" 1741478400.5 ", ROME) == MIDNIGHT_UTC + 0.5
    assert parse_time("2025-03-09T00:00:00Z", ROME) == MIDNIGHT_UTC
    assert parse_time("2025-03-09T02:00:00+02:00", ROME) == MIDNIGHT_UTC
    assert parse_time("2025-03-09T01:00", ROME) == MIDNIGHT_UTC  # Rome is UTC+1 in March
    assert parse_time("2025-03-09T00:00", UTC) == MIDNIGHT_UTC
    with pytest.raises(ValueError, match="'yesterday' is not an ISO 8601 date-time"):
        parse_time("yesterday", ROME)


def test_times_are_shown_in_the_request_zone() -> None:
    assert format_time(MIDNIGHT_UTC, ROME) == "2025-03-09T01:00:00+01:00"
    assert format_time(MIDNIGHT_UTC, UTC) == "2025-03-09T00:00:00Z"
    assert format_time(MIDNIGHT_UTC + 0.25, UTC) == "2025-03-09T00:00:00.250Z"
    assert parse_time(format_time(MIDNIGHT_UTC, ROME), UTC) == MIDNIGHT_UTC


def test_an_error_path_finds_the_nearest_place_that_shows_it() -> None:
    known = {"items[0]", "items[0].params.decimation.ds", "format.columns", "name"}
    assert nearest("items[0].params.decimation.ds", known) == "items[0].params.decimation.ds"
    assert nearest("items[0].params", known) == "items[0]"
    assert nearest("format.columns[3].id", known) == "format.columns"
    assert nearest("items[1].params.to", known) is None
    assert path_parts("items[12].params.from") == ["items", 12, "params", "from"]


def test_dotted_paths_build_and_read_nested_bodies() -> None:
    body: dict = {}
    set_path(body, "format.timezone", "UTC")
    set_path(body, "format.extension", "csv")
    set_path(body, "name", "n")
    assert body == {"format": {"timezone": "UTC", "extension": "csv"}, "name": "n"}
    assert get_path(body, "format.extension") == "csv"
    assert get_path(body, "format.columns") is None
    assert get_path(body, "name.x") is None


def test_bodies_decode_from_bytes_or_text_with_readable_errors() -> None:
    assert decode_body(b'\xef\xbb\xbf{"type": "oneTime"}') == {"type": "oneTime"}
    with pytest.raises(ValueError, match="not valid JSON: Expecting value at line 1 column 1"):
        decode_body("nope")
    with pytest.raises(ValueError, match="the body must be a JSON object"):
        decode_body("[1, 2]")
    with pytest.raises(ValueError, match=r"not UTF-8 text \(byte 1\)"):
        decode_body(b"{\xff}")


def test_exported_files_are_written_whole(tmp_path: Path) -> None:
    target = tmp_path / "body.json"
    target.write_text("old", encoding="utf-8")
    write_atomic(str(target), "new")
    assert target.read_text(encoding="utf-8") == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["body.json"]
    with pytest.raises(FileNotFoundError):
        write_atomic(str(tmp_path / "missing" / "body.json"), "x")


def test_cells_are_short_and_say_everything_in_words() -> None:
    now = datetime(2025, 3, 10, 12, tzinfo=UTC)
    assert span_text(86_400) == "1d"
    assert span_text(90_000 + 15 * 60) == "1d1h15m"
    assert span_text(45) == "45s"
    local, utc = UiClock("local"), UiClock("utc")
    assert local.compact(MIDNIGHT_UTC, ROME, now) == "03-09 01:00+01"
    assert utc.compact(MIDNIGHT_UTC, ROME, now) == "03-09 00:00"
    assert local.compact(MIDNIGHT_UTC - 366 * 86_400, UTC, now) == "2024-03-08 00:00Z"
    assert window_text(MIDNIGHT_UTC, MIDNIGHT_UTC + 86_400, ROME, now, local) == "03-09 01:00+01 +1d"
    assert window_text(MIDNIGHT_UTC, MIDNIGHT_UTC + 86_400, ROME, now, utc) == "03-09 00:00 +1d"
    assert window_text(None, None, ROME, now, local) == "-"
    assert progress_text(50, 100) == "####....  50%"
    assert progress_text(100, 100) == "######## 100%"
    assert progress_text(7, None) == "7 read"  # not counted yet: no bar of question marks
    assert middle_clip("abcdefghij", 5) == "ab…ij"
    assert middle_clip("short", 10) == "short"
    assert fit_widths((("a", "A", 8), ("b", "B", 0), ("c", "C", 4)), 40) == {"a": 8, "b": 22, "c": 4}
    two_flexible = (("a", "A", 8), ("b", "B", 0), ("c", "C", 0), ("d", "D", 10))
    assert fit_widths(two_flexible, 50) == {"a": 8, "b": 12, "c": 12, "d": 10}  # the flexible ones share the rest
    # too narrow: the columns of `drop` go, in its order, until the flexible ones get the minimum
    assert fit_widths(two_flexible, 40, minimum=12, drop=("c", "a")) == {"a": 8, "b": 16, "d": 10}
    assert fit_widths(two_flexible, 20, minimum=12, drop=("c", "a")) == {"b": 12, "d": 10}


def test_targets_show_labels_or_the_ends_of_the_names() -> None:
    item = {
        "params": {"target": {"value": "urn:x:dev1:temperature,urn:x:dev1:humidity"}, "channelId": "c", "subtopic": "s", "period": "P1D"}
    }
    labelled = {**item, "params": {**item["params"], "target": {**item["params"]["target"], "label": "t,h"}}}
    request = parse_request({"type": "oneTime", "format": {"extension": "csv"}, "items": [item, labelled]})
    assert target_summary(request) == "temperature,humidity,t,h"


def test_unknown_binding_ids_are_reported_and_left_out() -> None:
    keymap, warnings = keymap_from_settings({"new": "ctrl+n", "nope": "x"})
    assert keymap == {"new": "ctrl+n"}
    assert len(warnings) == 1 and warnings[0].startswith("[tui.bindings] nope: no such binding id")
    assert {"new", "edit", "clone", "delete", "run", "preview", "pause", "filter", "help", "quit", "save"} <= KNOWN_IDS
