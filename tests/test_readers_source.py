"""ReadersSource against a real readers HTTP server on 127.0.0.1."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
import pytest
from readers_server import ReadersServer

from exporter_tui.config import ReadersSettings
from exporter_tui.sources.base import READING_COLUMNS, READING_DTYPES, Lookback, ReadQuery, SourceError
from exporter_tui.sources.readers.source import ReadersSource

pytestmark = pytest.mark.timeout(60)

TOKEN = "s3cr3t-Tok3n-value"

TEMP = [
    {
        "channel": "c1",
        "subtopic": "env",
        "publisher": "p1",
        "protocol": "http",
        "name": "temp",
        "unit": "Cel",
        "time": 1000.25 + 10 * i,
        "value": 20.0 + 0.5 * i,
    }
    for i in range(10)
]
HUM = [
    {
        "channel": "c1",
        "subtopic": "env",
        "publisher": "p2",
        "protocol": "mqtt",
        "name": "hum",
        "unit": "%RH",
        "time": 1005.0 + 10 * i,
        "value": 40.0 + i,
        "sum": 100.0 * i,
    }
    for i in range(3)
]
DOOR = [
    {
        "channel": "c1",
        "subtopic": "env",
        "publisher": "p1",
        "protocol": "coap",
        "name": "door",
        "time": 1001.0,
        "string_value": "open",
        "bool_value": True,
        "data_value": "aGk=",
        "update_time": 1001.5,
    },
    {
        "channel": "c1",
        "subtopic": "env",
        "publisher": "p1",
        "protocol": "coap",
        "name": "door",
        "time": 1002.0,
        "string_value": "closed",
        "bool_value": False,
        "update_time": 1002.5,
    },
]
OTHER_TEMP = [
    {
        "channel": "c1",
        "subtopic": "other",
        "publisher": "p3",
        "protocol": "http",
        "name": "temp",
        "unit": "Cel",
        "time": 1003.0 + i,
        "value": -1.0 - i,
    }
    for i in range(2)
]
C2_TEMP = [
    {
        "channel": "c2",
        "subtopic": "env",
        "publisher": "p9",
        "protocol": "http",
        "name": "temp",
        "unit": "Cel",
        "time": 1004.0,
        "value": 99.0,
    },
]
ALL_ROWS = TEMP + HUM + DOOR + OTHER_TEMP + C2_TEMP
EVER = (0.0, 1e10)


def full(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row as the source must return it: every column, missing ones None."""
    return {c: row.get(c) for c in READING_COLUMNS}


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for rec in frame.to_dict("records"):
        out.append({k: (None if v is None or v is pd.NA or (isinstance(v, float) and v != v) else v) for k, v in rec.items()})
    return out


def read_all(source: ReadersSource, query: ReadQuery, chunk_rows: int = 100_000) -> list[pd.DataFrame]:
    return list(source.read(query, chunk_rows))


@pytest.fixture
def server(tmp_path) -> Iterator[ReadersServer]:
    with ReadersServer.from_rows(ALL_ROWS, tmp_path / "readers.db", token=TOKEN) as srv:
        yield srv


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_source(sleeps: list[float]) -> Iterator[Callable[..., ReadersSource]]:
    made: list[ReadersSource] = []

    def make(url: str, **kw: Any) -> ReadersSource:
        settings = ReadersSettings(url=url, **({"token": TOKEN, "timeout": 5.0} | kw))
        src = ReadersSource(settings, sleep=sleeps.append)
        made.append(src)
        return src

    yield make
    for src in made:
        src.close()


def q(channel: str = "c1", subtopic: str = "env", name: str = "temp", start: float = EVER[0], end: float = EVER[1]) -> ReadQuery:
    return ReadQuery(channel=channel, subtopic=subtopic, name=name, start=start, end=end)


# -- reading -----------------------------------------------------------------------------


def test_full_read_is_ascending_across_pages_and_chunks(server, make_source):
    source = make_source(server.url, page_size=3)
    chunks = read_all(source, q(), chunk_rows=2)
    assert [len(c) for c in chunks] == [2, 2, 2, 2, 2]
    for c in chunks:
        assert list(c.columns) == list(READING_COLUMNS)
        assert {k: str(v) for k, v in c.dtypes.items()} == READING_DTYPES
    got = records(pd.concat(chunks, ignore_index=True))
    assert got == [full(r) for r in TEMP]
    assert [r["time"] for r in got] == [1000.25, 1010.25, 1020.25, 1030.25, 1040.25, 1050.25, 1060.25, 1070.25, 1080.25, 1090.25]
    # never an offset: `to` moves down through the window instead
    assert {p["offset"] for p in server.query_params()} == {"0"}
    assert {p["limit"] for p in server.query_params()[2:-1]} == {"3"}


def test_small_read_takes_one_request_and_one_chunk(server, make_source):
    source = make_source(server.url, page_size=50)
    chunks = read_all(source, q(name="hum"), chunk_rows=7)
    assert len(chunks) == 1
    assert records(chunks[0]) == [full(r) for r in HUM]
    # the newest reading (the unit check), the window's total, the one page, the total again
    assert server.request_count == 4
    assert [p.get("limit") for p in server.query_params()] == ["1", "1", "50", "1"]


def test_chunks_span_page_boundaries(server, make_source):
    source = make_source(server.url, page_size=4)
    chunks = read_all(source, q(), chunk_rows=3)
    assert [len(c) for c in chunks] == [3, 3, 3, 1]
    assert [v for c in chunks for v in c["value"]] == [20.0, 20.5, 21.0, 21.5, 22.0, 22.5, 23.0, 23.5, 24.0, 24.5]


def test_window_is_half_open(server, make_source):
    source = make_source(server.url, page_size=2)
    query = q(start=TEMP[2]["time"], end=TEMP[7]["time"])
    got = records(pd.concat(read_all(source, query), ignore_index=True))
    assert [r["time"] for r in got] == [1020.25, 1030.25, 1040.25, 1050.25, 1060.25]
    assert source.count(query) == 5


def test_equal_timestamps_across_pages_are_neither_lost_nor_repeated(tmp_path, make_source):
    base = {"channel": "c1", "subtopic": "env", "name": "temp"}
    pairs = [(1.0, 1), (2.0, 2), (2.0, 3), (2.0, 4), (2.0, 5), (3.0, 6), (4.0, 7)]
    rows = [base | {"time": t, "value": v, "publisher": f"p{v % 2}"} for t, v in pairs]
    with ReadersServer.from_rows(rows, tmp_path / "ties.db", token=TOKEN) as srv:
        source = make_source(srv.url, page_size=2)
        got = [v for c in read_all(source, q(), chunk_rows=3) for v in c["value"]]
    assert got[:1] + sorted(got[1:5]) + got[5:] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]


def test_more_readings_at_one_time_than_a_page_from_one_publisher_fail_naming_both(tmp_path, make_source):
    rows = [{"channel": "c1", "subtopic": "env", "name": "temp", "publisher": "dev", "time": 2.0, "value": float(v)} for v in range(5)]
    with ReadersServer.from_rows(rows, tmp_path / "ties.db", token=TOKEN) as srv:
        source = make_source(srv.url, page_size=3)
        with pytest.raises(SourceError, match=r"5 readings of publisher 'dev' share the time 2.0 .*\(3\)"):
            read_all(source, q())


def test_filters_by_channel_subtopic_and_name(server, make_source):
    source = make_source(server.url, page_size=5)

    def values(query: ReadQuery) -> list[float]:
        return [v for c in read_all(source, query) for v in c["value"]]

    assert values(q(subtopic="other")) == [-1.0, -2.0]
    assert values(q(channel="c2")) == [99.0]
    assert values(q(name="hum")) == [40.0, 41.0, 42.0]
    # an empty subtopic means any subtopic, as for the API
    assert values(q(subtopic="", end=1010.0)) == [20.0, -1.0, -2.0]
    assert values(q(channel="nope")) == []


def test_string_bool_data_columns(server, make_source):
    source = make_source(server.url)
    assert records(pd.concat(read_all(source, q(name="door")))) == [full(r) for r in DOOR]


def test_camel_case_keys(server, make_source):
    server.camel_case = True
    source = make_source(server.url, page_size=1)
    got = records(pd.concat(read_all(source, q(name="door")), ignore_index=True))
    assert got == [full(r) for r in DOOR]
    assert got[0]["string_value"] == "open" and got[0]["bool_value"] is True and got[0]["update_time"] == 1001.5
    assert got[1]["bool_value"] is False


def test_count_asks_for_one_row(server, make_source):
    source = make_source(server.url)
    assert source.count(q()) == 10
    assert source.count(q(start=1030.25)) == 7
    assert source.count(q(name="missing")) == 0
    assert [p["limit"] for p in server.query_params()] == ["1", "1", "1", "1"]  # the unit check, then one per count


def test_last_before(server, make_source):
    source = make_source(server.url)
    assert source.last_before("c1", "env", "temp", 1050.25) == full(TEMP[4])
    assert source.last_before("c1", "env", "door", 1e10) == full(DOOR[1])
    assert source.last_before("c1", "env", "temp", 1000.25) is None
    params = server.query_params()[1]
    assert (params["to"], params["limit"], params["name"], params["subtopic"]) == ("1050.25", "1", "temp", "env")
    assert "from" not in params


def test_last_numeric_before_pages_back_newest_first(server, make_source):
    source = make_source(server.url)
    assert source.last_numeric_before("c1", "env", "temp", 1050.25) == Lookback(TEMP[4]["value"], exhausted=False)
    assert source.last_numeric_before("c1", "env", "door", 1e10) == Lookback(None, exhausted=False)  # bools and text only
    assert source.last_numeric_before("c1", "env", "door", 1e10, within=1) == Lookback(None, exhausted=True)
    params = server.query_params()[1:]  # the first asks the channel's newest reading, for the generation
    assert params[0]["to"] == "1050.25" and "from" not in params[0]
    assert [(p["offset"], int(p["limit"]) <= 1000) for p in params] == [("0", True), ("0", True), ("0", True)]
    assert params[2]["limit"] == "1"


def test_empty_window(server, make_source):
    source = make_source(server.url)
    assert read_all(source, q(start=2000.0, end=3000.0)) == []
    assert source.count(q(start=2000.0, end=3000.0)) == 0
    assert server.request_count == 4  # the unit check, the empty window's total before and after the read, its count


def test_targets_are_not_listable(server, make_source):
    assert make_source(server.url).targets() == []


def test_readings_arriving_ahead_of_the_read_are_read_once(server, make_source):
    source = make_source(server.url, page_size=1)
    chunks = source.read(q(start=1000.0, end=1100.0), chunk_rows=1)  # slices of about 4 readings
    assert list(next(chunks)["value"]) == [20.0]
    server.insert([dict(TEMP[0], time=1095.0, value=25.0), dict(TEMP[0], time=1085.0, value=-7.0)])
    rest = [v for c in chunks for v in c["value"]]
    assert rest == [20.5, 21.0, 21.5, 22.0, 22.5, 23.0, 23.5, 24.0, -7.0, 24.5, 25.0]


def test_a_reading_arriving_in_the_part_already_read_fails_the_read_naming_both_counts(server, make_source):
    source = make_source(server.url, page_size=1)
    chunks = source.read(q(), chunk_rows=1)
    assert list(next(chunks)["value"]) == [20.0]
    server.insert([dict(TEMP[0], time=1000.5, value=-5.0)])  # older than what was already yielded
    with pytest.raises(SourceError, match="counts 11 readings in the window at the end of the read, but 10 were read"):
        list(chunks)


# -- failures ----------------------------------------------------------------------------


def test_wrong_token_is_refused_at_once_without_leaking_it(server, make_source, caplog):
    caplog.set_level(logging.DEBUG)
    server.token = "the-right-one"
    source = make_source(server.url)
    with pytest.raises(SourceError) as info:
        read_all(source, q())
    msg = str(info.value)
    assert "401 Unauthorized" in msg and "/channels/c1/messages" in msg
    assert TOKEN not in msg and TOKEN not in repr(source) and TOKEN not in caplog.text
    assert server.request_count == 1


def test_missing_token_is_refused(server, make_source):
    source = make_source(server.url, token="")
    with pytest.raises(SourceError, match="401 Unauthorized"):
        source.count(q())


def test_non_json_answer(server, make_source):
    server.mode = "garbage"
    source = make_source(server.url)
    with pytest.raises(SourceError, match="not JSON.*text/html"):
        read_all(source, q())
    assert server.request_count == 1


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"offset": 0, "limit": 10, "total": 1, "messages": {"not": "a list"}}, "'messages' is a dict, not a list"),
        (["a", "list"], "expected an object, got list"),
        ({"messages": []}, "'total' is None, not a count"),
        ({"total": "3", "messages": []}, "'total' is '3', not a count"),
        ({"total": 1, "messages": [{"time": "yesterday", "value": 1.0}]}, "time is not a number.*yesterday"),
        ({"total": 1, "messages": [{"value": 1.0}]}, "message without a time.*'value': 1.0"),
        ({"total": 1, "messages": ["reading"]}, "not an object"),
        ({"total": 1, "messages": [{"time": 5.0, "value": "lots"}]}, "value of the wrong type"),
        ({"total": 2, "messages": [{"time": 5.0}, {"time": 6.0}]}, "does not return readings newest first"),
    ],
)
def test_wrong_shape_names_the_problem(server, make_source, body, problem):
    server.mode = "bad_shape"
    server.bad_shape_body = body
    source = make_source(server.url, api="magistrala-0.14")
    with pytest.raises(SourceError, match=problem):
        read_all(source, q())
    assert server.request_count <= 4  # the unit check, the whole-seconds probe and the window's total get the same wrong answer


def test_an_answer_cut_short_is_an_error(server, make_source):
    server.mode = "bad_shape"
    server.bad_shape_body = {"total": 5, "messages": [{"time": 1.0}]}
    with pytest.raises(SourceError, match="with 1 readings of 5 .* the answer is cut short"):
        read_all(make_source(server.url), q())
    assert server.request_count == 4  # the newest reading, the whole-seconds probe, the count, the page


def test_null_messages_mean_none(server, make_source):
    server.mode = "bad_shape"
    server.bad_shape_body = {"offset": 0, "limit": 10, "total": 0, "messages": None}
    assert read_all(make_source(server.url), q()) == []


def test_cut_answer_fails_after_retries(server, make_source, sleeps):
    server.mode = "cut"
    source = make_source(server.url, retries=2, backoff=0.5)
    with pytest.raises(SourceError, match="after 3 attempts: connection broken"):
        read_all(source, q())
    assert server.request_count == 3
    assert sleeps == [0.5, 1.0]


def test_slow_server_times_out(tmp_path, make_source):
    with ReadersServer.from_rows(TEMP, tmp_path / "slow.db", token=TOKEN, mode="slow", slow_seconds=30) as srv:
        source = make_source(srv.url, timeout=0.3, retries=1, backoff=0.0)
        with pytest.raises(SourceError, match=r"after 2 attempts: timed out after 0.3s"):
            source.count(q())
        assert srv.request_count == 2


def test_flaky_server_succeeds_after_retries(server, make_source, sleeps):
    server.flaky_failures = 2
    server.mode = "flaky"
    source = make_source(server.url, retries=3, backoff=0.25)
    got = records(pd.concat(read_all(source, q())))
    assert got == [full(r) for r in TEMP]
    assert server.request_count == 2 + 4  # two 503s, then the unit check, the total, the page, the total again
    assert sleeps == [0.25, 0.5]


def test_error500_fails_after_exactly_one_plus_retries(server, make_source, sleeps, caplog):
    server.mode = "error500"
    source = make_source(server.url, retries=4, backoff=0.1)
    with pytest.raises(SourceError, match="after 5 attempts: 500 Internal Server Error") as info:
        source.count(q())
    assert server.request_count == 5
    assert sleeps == pytest.approx([0.1, 0.2, 0.4, 0.8])
    assert TOKEN not in str(info.value) and TOKEN not in caplog.text
    assert "retry 4/4" in caplog.text


def test_no_retries_means_one_attempt(server, make_source, sleeps):
    server.mode = "error500"
    source = make_source(server.url, retries=0)
    with pytest.raises(SourceError, match="after 1 attempt: 500"):
        source.count(q())
    assert server.request_count == 1 and sleeps == []


def test_connection_refused(make_source, sleeps):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    source = make_source(f"http://127.0.0.1:{port}", retries=2, backoff=0.0)
    with pytest.raises(SourceError, match="after 3 attempts: connection failed.*[Rr]efused"):
        read_all(source, q())
    assert len(sleeps) == 2


def test_server_stops_quickly_while_a_request_is_slow(tmp_path, make_source):
    srv = ReadersServer.from_rows(TEMP, tmp_path / "slow.db", token=TOKEN, mode="slow", slow_seconds=60).start()
    source = make_source(srv.url, timeout=0.2, retries=0)
    with pytest.raises(SourceError, match="timed out"):
        source.count(q())
    srv.stop()  # a hang here would trip the module's pytest timeout
    assert not srv._thread.is_alive()
