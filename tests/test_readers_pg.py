"""The readers source against a real PostgreSQL running the readers' own SQL, for every generation.

PostgreSQL gives readings that share a time in whatever order its sort leaves them, and
that order changes with LIMIT and OFFSET: the first test shows a plain offset pager losing
and repeating readings on the very data our source then reads exactly once.
"""

from __future__ import annotations

import csv
import json
import random
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pipeline_helpers import CH, SUB, T0, body, create, item, run
from readers_server import GENERATIONS, NANOSECOND_GENERATIONS, ReadersServer

from exporter_tui.config import ReadersSettings
from exporter_tui.sources.base import ReadQuery, SourceError
from exporter_tui.sources.readers.source import ReadersSource

pytestmark = pytest.mark.timeout(180)

TOKEN = "pg-T0ken-s3cret"
AUTH = {"mainflux-0.12": "key", "magistrala-0.14": "thing", "magistrala-0.15": "thing", "magistrala-0.16": "client", "supermq": "client"}
API = {"mainflux-0.12": "mainflux", "magistrala-0.14": "magistrala-0.14"} | dict.fromkeys(NANOSECOND_GENERATIONS, "magistrala")


def tied_readings(times: int, per_time: int, *, nanos: bool, seed: int, name: str = "temp") -> list[dict[str, Any]]:
    """`per_time` readings (one per publisher) at each of `times` whole seconds from T0, in a shuffled insertion order."""
    rows = [
        {
            "channel": CH,
            "subtopic": SUB,
            "publisher": f"dev-{p}",
            "protocol": "mqtt",
            "name": name,
            "unit": "Cel",
            "time": (T0 + i) * 10**9 if nanos else float(T0 + i),
            "value": float(i * per_time + p),
        }
        for i in range(times)
        for p in range(per_time)
    ]
    random.Random(seed).shuffle(rows)
    return rows


def key(row: dict[str, Any], nanos: bool) -> tuple[float, str, float]:
    t = row["time"] / 10**9 if nanos else row["time"]
    return (float(t), row["publisher"], float(row["value"]))


def offset_pager(server: ReadersServer, lo: float, hi: float, limit: int) -> Counter[tuple[float, str, float]]:
    """What a plain sequential offset pager collects: offset 0, limit, 2*limit, ... until total."""
    got: Counter[tuple[float, str, float]] = Counter()
    offset, total = 0, None
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}) as client:
        while total is None or offset < total:
            params = {"from": repr(lo), "to": repr(hi), "offset": str(offset), "limit": str(limit), "name": "temp"}
            page = client.get(f"/channels/{CH}/messages", params=params).json()
            total = page["total"]
            got.update(key(m, False) for m in page["messages"])
            offset += limit
    return got


def source_for(server: ReadersServer, **kw: Any) -> ReadersSource:
    return ReadersSource(ReadersSettings(url=server.url, token=TOKEN, timeout=10.0, **kw))


def read_keys(source: ReadersSource, query: ReadQuery) -> Counter[tuple[float, str, float]]:
    got: Counter[tuple[float, str, float]] = Counter()
    for chunk in source.read(query, chunk_rows=777):
        got.update(zip(chunk["time"].astype(float), chunk["publisher"], chunk["value"].astype(float)))
    return got


def test_postgres_reorders_ties_so_offset_paging_loses_and_repeats_while_the_source_reads_each_once(pg_cluster) -> None:
    rows = tied_readings(715, 7, nanos=False, seed=1)  # page boundaries fall inside groups of equal times
    expected = Counter(key(r, False) for r in rows)
    with ReadersServer.from_pg(rows, pg_cluster.new_schema(), token=TOKEN) as server:
        plain = offset_pager(server, float(T0), float(T0 + 715), 1000)
        assert sum(plain.values()) == 5005  # it got as many as the total says...
        assert plain != expected  # ...but not the same ones: PostgreSQL changed the order of ties between pages
        assert max(plain.values()) > 1 and len(plain) < len(expected)
        server.requests.clear()
        source = source_for(server, page_size=1000)
        try:
            got = read_keys(source, ReadQuery(CH, SUB, "temp", float(T0), float(T0 + 715)))
        finally:
            source.close()
    assert got == expected
    assert {p["offset"] for p in server.query_params()} == {"0"}
    pages = [t for t, p in zip(server.requests, server.query_params()) if p["limit"] != "1"]  # not the window's counts
    assert len(pages) == len(set(pages))  # no page asked twice


def test_a_server_that_shuffles_ties_on_every_request_gives_each_reading_once(pg_cluster) -> None:
    rows = tied_readings(400, 7, nanos=False, seed=2)
    with ReadersServer.from_pg(rows, pg_cluster.new_schema(), token=TOKEN, shuffle_seed=7) as server:
        source = source_for(server, page_size=50)
        try:
            got = read_keys(source, ReadQuery(CH, SUB, "temp", float(T0), float(T0 + 400)))
        finally:
            source.close()
    assert got == Counter(key(r, False) for r in rows)


def test_a_group_of_equal_times_larger_than_a_page_is_split_by_publisher(pg_cluster) -> None:
    rows = tied_readings(30, 12, nanos=False, seed=3)
    with ReadersServer.from_pg(rows, pg_cluster.new_schema(), token=TOKEN, shuffle_seed=3) as server:
        source = source_for(server, page_size=10)  # 12 readings at each time, in a new order on every request
        try:
            got = read_keys(source, ReadQuery(CH, SUB, "temp", float(T0), float(T0 + 30)))
        finally:
            source.close()
        assert any(p.get("publisher") for p in server.query_params())
        pages = [t for t, p in zip(server.requests, server.query_params()) if p["limit"] != "1"]
        assert len(pages) == len(set(pages))
    assert got == Counter(key(r, False) for r in rows)


def test_readings_not_newest_first_are_refused(tmp_path: Path) -> None:
    """Cassandra's readers order per publisher only; such an answer is detected, never exported."""
    rows = [{"channel": CH, "subtopic": SUB, "name": "temp", "publisher": "a", "time": float(T0 + i), "value": 1.0} for i in range(20)]
    with ReadersServer.from_rows(rows, tmp_path / "r.db", token=TOKEN) as server:
        server.mode = "bad_shape"
        server.bad_shape_body = {"total": 3, "messages": [{"time": float(T0 + 1)}, {"time": float(T0 + 5)}, {"time": float(T0)}]}
        source = source_for(server, page_size=3)
        try:
            with pytest.raises(SourceError, match="the readers service does not return readings newest first"):
                read_keys(source, ReadQuery(CH, SUB, "temp", float(T0), float(T0 + 20)))
        finally:
            source.close()


def readers_config(server: ReadersServer, generation: str, api: str, **extra: Any) -> str:
    settings: dict[str, Any] = {
        "url": server.url,
        "api": api,
        "auth": AUTH[generation],
        "domain": GENERATIONS[generation].get("domain", ""),
        "page_size": 100,
        "retries": 0,
        "timeout": 10.0,
    } | extra
    lines = "\n".join(f"{k} = {json.dumps(v)}" for k, v in settings.items())
    return f'[identity]\nuser = "tester"\n[source]\nkind = "readers"\n[source.readers]\n{lines}\n'


def csv_keys(path: str) -> Counter[tuple[float, str, float]]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return Counter((datetime.fromisoformat(r["t"].replace("Z", "+00:00")).timestamp(), r["pub"], float(r["v"])) for r in rows)


@pytest.mark.parametrize("api", ["auto", "explicit"])
@pytest.mark.parametrize("generation", list(GENERATIONS))
def test_an_export_from_each_generation_holds_every_reading_exactly_once(
    pg_cluster, cli, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, generation: str, api: str
) -> None:
    nanos = generation in NANOSECOND_GENERATIONS
    rows = tied_readings(300, 4, nanos=nanos, seed=len(generation)) + tied_readings(50, 2, nanos=nanos, seed=5, name="hum")
    temp = [r for r in rows if r["name"] == "temp"]
    with ReadersServer.from_pg(rows, pg_cluster.new_schema(), nanoseconds=nanos, token=TOKEN, **GENERATIONS[generation]) as server:
        monkeypatch.setenv("EXPORTER_TUI_READERS_TOKEN", TOKEN)
        (home / "config.toml").write_text(readers_config(server, generation, "auto" if api == "auto" else API[generation]))
        b = body(
            [item("temp", **{"from": T0, "to": T0 + 300})], columns=[("time", "t"), ("publisher", "pub"), ("value", "v")], timezone="utc"
        )
        rid = create(cli, tmp_path, b)
        out = run(cli, rid)
        assert out["_code"] == 0 and out["status"] == "done", out
        assert csv_keys(out["filePath"]) == Counter(key(r, nanos) for r in temp)
        log = cli("runs", "show", out["id"], "--json").json()["log"]
    said = " | ".join(e["message"] for e in log)
    unit = "nanoseconds" if nanos else "float seconds"
    if api == "auto":
        assert f"readers api detected: {'magistrala' if nanos else 'magistrala-0.14'} (times in {unit}" in said
    else:
        assert f"readers api {API[generation]} confirmed by the newest reading of channel {CH}" in said
    assert TOKEN not in said and TOKEN not in Path(out["filePath"]).read_text()


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"token": "wrong"}, "401 Unauthorized (check source.readers.token and source.readers.auth)"),
        ({"auth": "thing"}, "401 Unauthorized"),  # SuperMQ takes Bearer or Client
        ({"domain": "other-domain"}, "403 Forbidden"),
        ({"domain": ""}, "404 Not Found (check source.readers.url, source.readers.domain and source.readers.api)"),
        ({"api": "magistrala-0.14"}, "source.readers.api = 'magistrala-0.14' reads times in float seconds, but the newest reading"),
    ],
)
def test_a_wrong_setting_fails_the_run_in_one_line_and_loses_nothing(
    pg_cluster, cli, home: Path, tmp_path: Path, change: dict[str, str], says: str
) -> None:
    rows = tied_readings(20, 2, nanos=True, seed=9)
    with ReadersServer.from_pg(rows, pg_cluster.new_schema(), nanoseconds=True, token=TOKEN, **GENERATIONS["supermq"]) as server:
        token = change.pop("token", TOKEN)
        (home / "config.toml").write_text(readers_config(server, "supermq", change.pop("api", "magistrala"), token=token, **change))
        rid = create(cli, tmp_path, body([item("temp", **{"from": T0, "to": T0 + 20})], timezone="utc"))
        out = run(cli, rid)
    assert out["_code"] == 1 and out["status"] == "failed"
    assert says in out["error"] and "\n" not in out["error"]
    assert token not in out["error"]
    assert cli("requests", "show", rid, "--json").code == 0  # the request is still there
    assert not list((home / "exports").glob(f"{rid}/*.csv"))


def test_an_empty_channel_exports_an_empty_file_and_says_the_generation_was_not_confirmed(
    pg_cluster, cli, home: Path, tmp_path: Path
) -> None:
    with ReadersServer.from_pg([], pg_cluster.new_schema(), nanoseconds=True, token=TOKEN, **GENERATIONS["magistrala-0.16"]) as server:
        (home / "config.toml").write_text(readers_config(server, "magistrala-0.16", "auto", token=TOKEN))
        rid = create(cli, tmp_path, body([item("temp", **{"from": T0, "to": T0 + 20})], timezone="utc"))
        out = run(cli, rid)
        assert out["status"] == "done" and out["rows"] == 0
        said = " | ".join(e["message"] for e in cli("runs", "show", out["id"], "--json").json()["log"])
    assert f"channel {CH} has no readings, so the readers generation was not confirmed" in said
    assert "the service says version v0.16.0" in said


def test_a_token_that_expires_mid_read_fails_the_read_naming_the_token(pg_cluster) -> None:
    rows = tied_readings(200, 1, nanos=False, seed=4)
    with ReadersServer.from_pg(rows, pg_cluster.new_schema(), token=TOKEN, **GENERATIONS["magistrala-0.14"]) as server:
        source = source_for(server, page_size=10, auth="thing")
        try:
            chunks = source.read(ReadQuery(CH, SUB, "temp", float(T0), float(T0 + 200)), chunk_rows=10)
            next(chunks)
            server.token = "rotated"
            with pytest.raises(SourceError, match=r"401 Unauthorized \(check source.readers.token") as info:
                list(chunks)
        finally:
            source.close()
    assert TOKEN not in str(info.value)


def test_the_limit_cap_is_the_services(pg_cluster) -> None:
    with ReadersServer.from_pg(tied_readings(3, 1, nanos=False, seed=0), pg_cluster.new_schema(), token=TOKEN) as server:
        r = httpx.get(f"{server.url}/channels/{CH}/messages?limit=1001", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 400 and r.json()["message"] == "invalid limit size"


@pytest.mark.parametrize(("start", "page_size"), [(0.0, 1000), (0.25, 10)], ids=["one-page", "groups-split"])
def test_a_timescale_reader_of_0_14_keeps_whole_seconds_and_a_fractional_window_still_reads_every_reading(
    pg_cluster, start: float, page_size: int
) -> None:
    """Magistrala 0.14's Timescale reader stores float seconds in `time BIGINT` and gets each
    bound truncated: read as floats, [T0, T0 + 149.5) was served as [T0, T0 + 149), and the
    readings at T0 + 149 were lost while the window's count agreed (the run ended done); a
    fractional start, or a group of equal times asked as [t, nextafter(t)), failed the read."""
    rows = tied_readings(150, 3, nanos=False, seed=4)
    rows += [{**rows[0], "time": float(T0 + 77), "publisher": f"crowd-{p}", "value": 1000.0 + p} for p in range(25)]  # > a page
    rows = [{**r, "time": r["time"] + 0.4} for r in rows]  # as sent: fractions, which the writer's BIGINT drops
    lo, hi = T0 + start, T0 + 149.5
    expected = Counter((float(int(r["time"])), r["publisher"], r["value"]) for r in rows if lo <= int(r["time"]) < hi)
    assert (float(T0 + 149), "dev-0", float(149 * 3)) in expected
    gen = GENERATIONS["magistrala-0.14"]
    with ReadersServer.from_pg(rows, pg_cluster.new_schema(), truncating=True, token=TOKEN, shuffle_seed=5, **gen) as server:
        source = source_for(server, page_size=page_size, api="magistrala-0.14")
        try:
            query = ReadQuery(CH, SUB, "temp", lo, hi)
            assert source.count(query) == sum(expected.values())
            got = read_keys(source, query)
            notes = source.take_notes()
        finally:
            source.close()
        sent = {(p["from"], p["to"]) for p in server.query_params() if "from" in p and p["limit"] != "1"}
    assert got == expected
    assert any("whole seconds" in n for n in notes)
    assert all(float(a).is_integer() and float(b).is_integer() for a, b in sent)  # the server compares exactly what it is sent


def test_readings_left_in_seconds_by_the_upgrade_to_nanoseconds_fail_the_read_instead_of_going_missing(pg_cluster) -> None:
    """Magistrala 0.15 writes nanoseconds and converts none of the rows written before: a read
    in nanoseconds alone would end done without them."""
    rows = tied_readings(20, 2, nanos=True, seed=6)
    before_upgrade = [{**r, "time": T0 - 10 + j, "publisher": "old"} for j, r in enumerate(rows[:3])]  # seconds, before T0
    window = ReadQuery(CH, SUB, "temp", float(T0 - 15), float(T0 + 20))
    with ReadersServer.from_pg(
        rows + before_upgrade, pg_cluster.new_schema(), nanoseconds=True, token=TOKEN, **GENERATIONS["supermq"]
    ) as server:
        source = source_for(server, api="magistrala", domain=GENERATIONS["supermq"]["domain"], auth="client")
        try:
            with pytest.raises(SourceError, match="3 readings of this window .* are stored in seconds"):
                read_keys(source, window)
            assert sum(read_keys(source, ReadQuery(CH, SUB, "temp", float(T0), float(T0 + 20))).values()) == 40  # none left out there
        finally:
            source.close()


def test_a_newest_reading_removed_during_the_probe_is_not_taken_for_a_server_that_truncates(pg_cluster) -> None:
    """The probe asks [t, nextafter(t)) around the newest reading; retention removing it just
    then leaves that empty on a server that compares floats too. Taken for truncation, the
    window [T0, T0 + 19.3) would be read as [T0, T0 + 20), with the reading at T0 + 19.5."""
    rows = [{"channel": CH, "subtopic": SUB, "name": "temp", "publisher": "p", "time": T0 + i / 2, "value": float(i)} for i in range(41)]
    import psycopg

    dsn = pg_cluster.new_schema()
    with ReadersServer.from_pg(rows, dsn, token=TOKEN, **GENERATIONS["magistrala-0.14"]) as server:

        def retention(query: dict[str, str]) -> None:
            if "from" not in query and server.on_answer is not None:  # the newest reading was just answered: it goes
                server.on_answer = None
                with psycopg.connect(dsn, autocommit=True) as con:
                    con.execute("DELETE FROM messages WHERE time = %s", (float(T0 + 20),))

        server.on_answer = retention
        source = source_for(server, page_size=10, api="magistrala-0.14")
        try:
            got = read_keys(source, ReadQuery(CH, SUB, "temp", float(T0), T0 + 19.3))
        finally:
            source.close()
    assert sorted(t for t, _, _ in got) == [T0 + i / 2 for i in range(39)]  # up to T0 + 19.0
