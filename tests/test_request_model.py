"""Every rule of the request model: a passing and a failing example, with the exact message."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import seed_body

from exporter_tui.core.durations import DurationError, parse_duration
from exporter_tui.core.errors import RequestInvalid
from exporter_tui.core.schedule import item_window
from exporter_tui.core.validation import parse_request


def one_time(**params: Any) -> dict[str, Any]:
    base = {
        "target": {"value": "urn:a:temperature"},
        "channelId": "ch-1",
        "subtopic": "events.data",
        "from": 1_780_000_000,
        "to": 1_780_003_600,
    }
    base.update(params)
    return {"type": "oneTime", "format": {"extension": "csv", "columns": []}, "items": [{"params": base}]}


def errors_of(body: Any) -> list[tuple[str, str]]:
    with pytest.raises(RequestInvalid) as info:
        parse_request(body)
    return [(e.path, e.reason) for e in info.value.errors]


def set_path(body: dict, path: str, value: Any) -> dict:
    body = copy.deepcopy(body)
    node = body
    parts = path.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node[part]
    last = parts[-1]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return body


_DELETE = object()


def test_the_1_1_seed_body_is_accepted_as_it_is() -> None:
    r = parse_request(seed_body("1.1"))
    assert r.type == "recurring"
    assert r.format.timezone == "utc"  # `timezone: {}` means the default
    p = r.items[0].params
    assert (p.from_, p.to, p.period) == (None, None, "P1Y6M4DT12H30M5S")  # 0 means absent
    assert p.target.labels() == ["onoff"]
    assert r.notification.messages[0].medium == "email"


def test_the_latest_seed_is_refused_naming_exactly_its_placeholders() -> None:
    assert errors_of(seed_body("latest")) == [
        ("format.columns[0].id", "must be one of 'publisher', 'channel', 'subtopic', 'name', 'unit', 'time', 'value' or 'created'"),
        ("format.csvDelimiter", "must be exactly one character, got 6"),
    ]


def test_the_latest_seed_is_accepted_once_its_placeholders_hold_real_values() -> None:
    body = set_path(set_path(seed_body("latest"), "format.columns.0.id", "value"), "format.csvDelimiter", ";")
    r = parse_request(body)
    assert r.items[0].params.transform == "delta"
    assert r.notification.messages[0].target == "string"
    assert r.format.filename == "string"


def test_server_set_fields_in_an_input_body_are_ignored() -> None:
    body = seed_body("latest")
    body = set_path(set_path(body, "format.columns.0.id", "value"), "format.csvDelimiter", ";")
    out = parse_request(body).to_body()
    assert not {"id", "createdAt", "updatedAt", "deletedAt"} & out.keys()


def test_recurring_needs_periodicity() -> None:
    body = set_path(seed_body("1.1"), "periodicity", _DELETE)
    assert errors_of(body) == [("periodicity", "is required for a recurring request")]


def test_one_time_has_no_periodicity() -> None:
    body = one_time()
    assert parse_request(body).type == "oneTime"
    body["periodicity"] = "P1D"
    assert errors_of(body) == [("periodicity", "must be absent for a oneTime request")]


def test_a_one_time_item_needs_from_to_or_period() -> None:
    assert parse_request(one_time(**{"from": 0, "to": 0, "period": "PT1H"})).items[0].params.period == "PT1H"
    body = one_time(**{"from": 0, "to": 0})
    assert errors_of(body) == [("items[0].params", "a oneTime item needs from/to or period")]


@pytest.mark.parametrize("text", ["P1Y6M4DT12H30M5S", "PT15M", "P1W", "P1D", "PT0.5S"])
def test_iso_durations_are_accepted(text: str) -> None:
    assert parse_request(one_time(period=text, **{"from": 0, "to": 0})).items[0].params.period == text


@pytest.mark.parametrize(
    "text, reason",
    [
        ("P0D", "'P0D' is zero; a duration must be positive"),
        ("PT0S", "'PT0S' is zero; a duration must be positive"),
        ("-P1D", "'-P1D' is not an ISO 8601 duration (e.g. P1D, PT15M, P1Y6M4DT12H30M5S)"),
        ("1 day", "'1 day' is not an ISO 8601 duration (e.g. P1D, PT15M, P1Y6M4DT12H30M5S)"),
        ("P", "'P' is not an ISO 8601 duration (e.g. P1D, PT15M, P1Y6M4DT12H30M5S)"),
    ],
)
def test_zero_negative_or_malformed_durations_are_refused(text: str, reason: str) -> None:
    assert errors_of(one_time(period=text)) == [("items[0].params.period", reason)]
    assert errors_of(set_path(seed_body("1.1"), "periodicity", text)) == [("periodicity", reason)]


@pytest.mark.parametrize("ds", ["15m", "1d", "1M", "30s", "2w", "1y", "6h"])
def test_ds_takes_a_positive_count_and_a_unit(ds: str) -> None:
    body = one_time(decimation={"ds": ds, "dsf": "max"})
    assert parse_request(body).items[0].params.decimation.ds == ds


@pytest.mark.parametrize(
    "ds, reason",
    [
        ("0m", "ds '0m': the count must be positive"),
        ("15x", "ds '15x': unit 'x' is not one of s m h d w M y (m is minutes, M months)"),
        ("m", "ds 'm' must be a positive integer followed by a unit among s m h d w M y (e.g. 15m, 1d, 1M)"),
        ("-5m", "ds '-5m' must be a positive integer followed by a unit among s m h d w M y (e.g. 15m, 1d, 1M)"),
        ("1.5h", "ds '1.5h' must be a positive integer followed by a unit among s m h d w M y (e.g. 15m, 1d, 1M)"),
    ],
)
def test_bad_ds_is_refused(ds: str, reason: str) -> None:
    assert errors_of(one_time(decimation={"ds": ds})) == [("items[0].params.decimation.ds", reason)]


def test_dsf_defaults_to_avg() -> None:
    assert parse_request(one_time(decimation={"ds": "1h"})).items[0].params.decimation.dsf == "avg"


@pytest.mark.parametrize(
    "path, value, reason",
    [
        ("items.0.params.decimation", {"ds": "1h", "dsf": "median"}, "must be one of 'avg', 'max', 'min', 'sum', 'stddev' or 'variance'"),
        ("items.0.params.transform", "ratio", "must be 'delta'"),
        ("items.0.params.outputFormat", "tall", "must be one of 'long' or 'wide'"),
        ("format.extension", "xml", "must be one of 'csv', 'xls', 'xlsx', 'pdf' or 'json'"),
        ("format.template", "fancy", "must be one of 'tabular' or 'expanded'"),
        ("format.dateFormat", "LLLL", "must be one of 'ISO', 'L', 'LL' or 'LLL'"),
        ("type", "sometimes", "must be one of 'recurring' or 'oneTime'"),
    ],
)
def test_enums_are_refused_with_their_values(path: str, value: Any, reason: str) -> None:
    errors = errors_of(set_path(one_time(), path, value))
    expected_path = (
        path.replace(".0.", "[0].").replace("decimation", "decimation.dsf") if "decimation" in path else path.replace(".0.", "[0].")
    )
    assert errors == [(expected_path, reason)]


@pytest.mark.parametrize(
    "field, value, reason",
    [
        ("policy", "always", "must be one of 'onSuccess' or 'onFailure'"),
        ("medium", "pigeon", "must be one of 'email', 'telegram', 'slack' or 'discord'"),
    ],
)
def test_notification_enums(field: str, value: str, reason: str) -> None:
    body = one_time()
    body["notification"] = {"messages": [{"policy": "onSuccess", "medium": "email", "title": "t", "text": "x", field: value}]}
    assert errors_of(body) == [(f"notification.messages[0].{field}", reason)]


def test_from_must_be_before_to() -> None:
    assert errors_of(one_time(**{"from": 1_780_003_600, "to": 1_780_003_600})) == [("items[0].params.to", "must be after from")]
    assert errors_of(one_time(**{"from": 1_780_003_601, "to": 1_780_003_600})) == [("items[0].params.to", "must be after from")]


def test_timestamps_are_plausible_unix_seconds() -> None:
    assert errors_of(one_time(**{"from": 1_780_000_000_000, "to": 1_780_003_600_000})) == [
        (
            "items[0].params.from",
            "1780000000000 is not plausible Unix seconds: after the year 2200 (it looks like milliseconds; give seconds)",
        ),
        (
            "items[0].params.to",
            "1780003600000 is not plausible Unix seconds: after the year 2200 (it looks like milliseconds; give seconds)",
        ),
    ]
    assert errors_of(one_time(**{"from": -5, "to": 100})) == [("items[0].params.from", "-5 is not plausible Unix seconds: before 1970")]


def test_iso_date_times_are_accepted_for_from_and_to() -> None:
    r = parse_request(one_time(**{"from": "2026-03-29T00:00:00+01:00", "to": "2026-03-30T00:00:00Z"}))
    assert (r.items[0].params.from_, r.items[0].params.to) == (1774738800.0, 1774828800.0)


def test_half_given_window_names_the_missing_end() -> None:
    assert errors_of(one_time(**{"to": 0, "period": "PT1H"})) == [
        ("items[0].params.to", "is required when the other end of the window is given")
    ]


@pytest.mark.parametrize("zone", ["Europe/Rome", "utc", "UTC", "America/Sao_Paulo"])
def test_real_iana_zones(zone: str) -> None:
    body = one_time()
    body["format"]["timezone"] = zone
    assert parse_request(body).format.timezone == zone


def test_unknown_zone_is_refused() -> None:
    body = one_time()
    body["format"]["timezone"] = "Mars/Olympus"
    assert errors_of(body) == [("format.timezone", "'Mars/Olympus' is not an IANA time zone (e.g. Europe/Rome, UTC)")]


def test_column_ids_are_known_and_unique_and_labels_non_empty() -> None:
    body = one_time()
    body["format"]["columns"] = [{"id": "time", "label": "Zeit"}, {"id": "value", "label": "Wert"}]
    assert [c.label for c in parse_request(body).format.columns] == ["Zeit", "Wert"]
    body["format"]["columns"] = [{"id": "time", "label": "a"}, {"id": "time", "label": "b"}, {"id": "value", "label": " "}]
    assert errors_of(body) == [("format.columns[2].label", "must not be empty")]
    body["format"]["columns"] = [{"id": "time", "label": "a"}, {"id": "time", "label": "b"}]
    assert errors_of(body) == [("format.columns[1].id", "'time' is listed twice")]


@pytest.mark.parametrize(
    "name, reason",
    [
        ("a/b", "must not contain a path separator"),
        ("a\\b", "must not contain a path separator"),
        ("x..y", "must not contain '..'"),
        ("bad\x01name", "must not contain control characters"),
        ("x" * 121, "is too long (121 characters, at most 120)"),
        ("CON", "'CON' is a reserved device name"),
        (".hidden", "must not start with a dot or a space, nor end with a dot or a space"),
        ("", "must not be empty"),
    ],
)
def test_file_names_are_safe(name: str, reason: str) -> None:
    body = one_time()
    body["items"][0]["filename"] = name
    assert errors_of(body) == [("items[0].filename", reason)]
    body = one_time()
    body["format"]["filename"] = name
    assert errors_of(body) == [("format.filename", reason)]


def test_a_plain_file_name_is_accepted() -> None:
    body = one_time()
    body["format"]["filename"] = "report-2026 Q1"
    assert parse_request(body).format.filename == "report-2026 Q1"


@pytest.mark.parametrize(
    "delimiter, reason",
    [
        (";;", "must be exactly one character, got 2"),
        ('"', "must not be a quote or a line break"),
        ("\n", "must not be a quote or a line break"),
        ("", "must be exactly one character, got 0"),
    ],
)
def test_csv_delimiter(delimiter: str, reason: str) -> None:
    body = one_time()
    body["format"]["csvDelimiter"] = ";"
    assert parse_request(body).format.csv_delimiter == ";"
    body["format"]["csvDelimiter"] = delimiter
    assert errors_of(body) == [("format.csvDelimiter", reason)]


def test_labels_count_must_match_targets() -> None:
    ok = one_time(target={"value": "a:t, b:t", "label": "A,B"})
    assert parse_request(ok).items[0].params.target.labels() == ["A", "B"]
    bad = one_time(target={"value": "a:t,b:t", "label": "A"})
    assert errors_of(bad) == [("items[0].params.target.label", "lists 1 label(s) for 2 target(s); give one label per target")]


def test_a_missing_label_means_the_names_are_the_labels() -> None:
    r = parse_request(one_time(target={"value": "a:t,b:t"}))
    assert r.items[0].params.target.labels() == ["a:t", "b:t"]


def test_wide_output_needs_distinct_labels() -> None:
    bad = one_time(target={"value": "a:t,b:t", "label": "X,X"}, outputFormat="wide")
    assert errors_of(bad) == [
        ("items[0].params.target.label", "wide output needs a different label for each target (they become column headers)")
    ]


def test_from_to_win_over_period() -> None:
    r = parse_request(one_time(period="P1D"))
    window = item_window(r.items[0].params, datetime(2026, 6, 1, tzinfo=UTC), None, UTC)
    assert window == (1_780_000_000, 1_780_003_600)


def test_notification_is_optional_and_the_single_object_form_is_accepted() -> None:
    assert parse_request(one_time()).notification is None
    body = one_time()
    body["notification"] = {"title": "Done", "text": "{rows} rows", "medium": "slack"}
    msgs = parse_request(body).notification.messages
    assert [(m.policy, m.medium, m.title) for m in msgs] == [("onSuccess", "slack", "Done")]


def test_unknown_placeholders_are_refused_when_stored() -> None:
    body = one_time()
    body["notification"] = {"messages": [{"policy": "onSuccess", "medium": "email", "title": "{status}: {rowz}", "text": "ok"}]}
    [(path, reason)] = errors_of(body)
    assert path == "notification.messages[0].title"
    assert reason.startswith("unknown placeholder {rowz}; known: {request_id}, {run_id}, {status}, {rows}")


def test_webhook_urls_are_not_accepted_as_targets() -> None:
    body = one_time()
    body["notification"] = {
        "messages": [{"policy": "onSuccess", "medium": "slack", "target": "https://hooks.slack.com/services/X", "title": "t", "text": "x"}]
    }
    assert errors_of(body) == [
        (
            "notification.messages[0].target",
            "webhook URLs are secrets: put it in the config under notify.slack.webhooks and give its name here",
        )
    ]


def test_unknown_fields_and_wrong_types_are_named() -> None:
    body = one_time()
    body["format"]["colums"] = []
    body["items"][0]["params"]["from"] = "yesterday"
    assert sorted(errors_of(body)) == [
        ("format.colums", "is not a field of an export request"),
        ("items[0].params.from", "must be a number"),
    ]


@pytest.mark.parametrize("body", [[], "x", 3, None])
def test_a_body_must_be_an_object(body: Any) -> None:
    assert errors_of(body) == [("", "the body must be a JSON object")]


def test_nan_is_refused() -> None:
    assert errors_of(one_time(**{"from": float("nan"), "to": 1_780_003_600})) == [("items[0].params.from", "must be a finite number")]


def test_round_trip_keeps_the_meaning() -> None:
    original = parse_request(seed_body("1.1"))
    again = parse_request(original.to_body())
    assert again == original


@pytest.mark.parametrize(
    ("text", "days", "seconds"),
    [("PT24H", 0, 86_400), ("PT48H", 0, 172_800), ("PT1440M", 0, 86_400), ("PT86400S", 0, 86_400), ("P1DT24H", 1, 86_400)],
)
def test_hours_minutes_and_seconds_stay_elapsed_time_however_many(text: str, days: int, seconds: int) -> None:
    period = parse_duration(text)
    assert (period.months, period.days, period.seconds) == (0, days, seconds)


def test_zero_is_a_duration_only_where_zero_makes_sense() -> None:
    assert parse_duration("PT0S", allow_zero=True).approx_seconds() == 0
    assert parse_duration("P0D", allow_zero=True).approx_seconds() == 0
    with pytest.raises(DurationError, match="'PT0S' is zero; a duration must be positive"):
        parse_duration("PT0S")
