"""Pushdown: decimations the readers service computes itself, against a real PostgreSQL running
the Timescale reader's time_bucket SQL (tests/readers_server.py), and the rule deciding which."""

from __future__ import annotations

import csv
import io
import json
import random
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from pipeline_helpers import CH, SUB, body, create, item, run
from readers_server import GENERATIONS, ReadersServer

from exporter_tui.core.buckets import boundaries
from exporter_tui.core.models import Item
from exporter_tui.pipeline.files import manifest_path, sha256_of
from exporter_tui.pipeline.pushdown import ineligible
from exporter_tui.sources.readers.generations import ORIGIN

pytestmark = pytest.mark.timeout(180)

TOKEN = "pd-T0ken-s3cret"
START = 1_792_800_000  # 2026-10-24T00:00:00Z: the window holds Rome's change back to +01:00 (25 October)
END = START + 2 * 86_400
FUNCTIONS = ("avg", "min", "max", "sum")


def minute_readings(name: str = "temp", seed: int = 1) -> list[dict[str, Any]]:
    """One reading a minute (at a random nanosecond within it) with values of mixed sign and size."""
    rng = random.Random(seed)
    return [
        {
            "channel": CH,
            "subtopic": SUB,
            "publisher": "dev-1",
            "protocol": "mqtt",
            "name": name,
            "unit": "kW",
            "time": (START + 60 * i) * 10**9 + rng.randrange(60 * 10**9),
            "value": rng.uniform(-1.0, 1.0) * 10 ** rng.randrange(-2, 7),
        }
        for i in range((END - START) // 60)
    ]


def config(server: ReadersServer, pushdown: str) -> str:
    return (
        f'[identity]\nuser = "tester"\n[source]\nkind = "readers"\n[source.readers]\nurl = "{server.url}"\napi = "auto"\n'
        f'auth = "client"\ndomain = "{GENERATIONS["supermq"]["domain"]}"\ntoken = "{TOKEN}"\nretries = 0\npushdown = "{pushdown}"\n'
    )


def decimated(ds: str, dsf: str, **extra: Any) -> dict[str, Any]:
    return item("temp", **{"from": START, "to": END, "decimation": {"ds": ds, "dsf": dsf}, "filename": dsf, **extra})


def served(pg_cluster: Any, rows: list[dict[str, Any]], aggregates: bool = True) -> ReadersServer:
    return ReadersServer.from_pg(
        rows, pg_cluster.new_schema(), nanoseconds=True, token=TOKEN, aggregates=aggregates, **GENERATIONS["supermq"]
    )


def zip_tables(path: str) -> dict[str, list[dict[str, str]]]:
    with zipfile.ZipFile(path) as z:
        return {n.removesuffix(".csv"): list(csv.DictReader(io.StringIO(z.read(n).decode("utf-8-sig")))) for n in z.namelist()}


def export(cli: Any, home: Path, tmp_path: Path, server: ReadersServer, pushdown: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    (home / "config.toml").write_text(config(server, pushdown))
    rid = create(cli, tmp_path, body(items, columns=[("time", "t"), ("value", "v")], timezone="Europe/Rome", filename="pd"))
    out = run(cli, rid)
    out["manifest"] = json.loads(manifest_path(Path(out["filePath"])).read_text()) if out.get("filePath") else None
    out["log"] = " | ".join(e["message"] for e in cli("runs", "show", out["id"], "--json").json()["log"])
    return out


def test_pushed_buckets_match_the_ones_computed_here_in_far_fewer_bytes(pg_cluster, cli, home: Path, tmp_path: Path) -> None:
    rows = minute_readings()
    items = [decimated("15m", f) for f in FUNCTIONS]
    with served(pg_cluster, rows) as server:
        here = export(cli, home, tmp_path, server, "off", items)
        raw_bytes, server.bytes_sent = server.bytes_sent, 0
        pushed = export(cli, home, tmp_path, server, "auto", items)
        pushed_bytes = server.bytes_sent
        again = export(cli, home, tmp_path, server, "auto", items)
        asked = {q.get("aggregation") for q in server.query_params()}
    assert here["status"] == pushed["status"] == "done", (here, pushed)
    assert [i["aggregation"] for i in here["manifest"]["items"]] == ["client"] * 4
    assert [i["aggregation"] for i in pushed["manifest"]["items"]] == ["server"] * 4
    assert pushed["manifest"]["source"] == {"kind": "readers", "api": "magistrala", "detected": True}
    assert {"COUNT", "AVG", "MIN", "MAX", "SUM"} <= asked
    assert pushed_bytes * 10 <= raw_bytes, (pushed_bytes, raw_bytes)
    assert sha256_of(Path(again["filePath"])) == sha256_of(Path(pushed["filePath"]))  # the same path: the same bytes

    # the bucket of each reading under the local-clock rule, in the request's zone: sum(|x|) per bucket
    rome = ZoneInfo("Europe/Rome")
    times = np.array([r["time"] / 1e9 for r in rows])
    bounds = boundaries(float(times[0]), float(times[-1]), 900, rome)
    starts = np.maximum(bounds[np.searchsorted(bounds, times, side="right") - 1], START)
    scale: dict[float, float] = {}
    for s, r in zip(starts.tolist(), rows):
        scale[s] = scale.get(s, 0.0) + abs(r["value"])
    ours, theirs = zip_tables(here["filePath"]), zip_tables(pushed["filePath"])
    for f in FUNCTIONS:
        assert [r["t"] for r in ours[f]] == [r["t"] for r in theirs[f]] and len(ours[f]) == len(scale) == 192  # 48 hours of 15m
        for a, b in zip(ours[f], theirs[f]):
            start = datetime.fromisoformat(a["t"]).timestamp()
            assert abs(float(a["v"]) - float(b["v"])) <= 1e-9 * scale[start], (f, a, b)


@pytest.mark.parametrize(
    ("zone", "ds", "dsf", "transform", "pushable"),
    [
        ("Europe/Rome", "15m", "avg", None, True),
        ("Europe/Rome", "1h", "max", None, True),
        ("Europe/Rome", "6h", "avg", None, False),  # 00 06 12 18 local are 23 05 11 17 UTC (22... in summer)
        ("Asia/Kolkata", "1h", "avg", None, False),  # +05:30
        ("Asia/Kolkata", "15m", "sum", None, True),
        ("Australia/Lord_Howe", "30m", "min", None, True),  # +10:30 / +11:00
        ("Australia/Lord_Howe", "1h", "min", None, False),
        ("utc", "7m", "avg", None, False),  # 2000-01-03 is not a multiple of 7 minutes after 1970
        ("utc", "1d", "avg", None, False),  # calendar units never
        ("utc", "1h", "stddev", None, False),
        ("utc", "1h", "variance", None, False),
        ("utc", "1h", "avg", "delta", False),
    ],
)
def test_an_item_is_pushed_only_when_the_server_computes_the_same_buckets(
    zone: str, ds: str, dsf: str, transform: str | None, pushable: bool
) -> None:
    params = item("temp", decimation={"ds": ds, "dsf": dsf})
    if transform:
        params["params"]["transform"] = transform
    it = Item.model_validate(params)
    tz = UTC if zone == "utc" else ZoneInfo(zone)
    start, end = datetime(2026, 1, 1, tzinfo=UTC).timestamp(), datetime(2027, 1, 1, tzinfo=UTC).timestamp()
    reason = ineligible(it, tz, start, end)
    assert (reason is None) == pushable, reason
    if ds[-1] in "smh" and dsf in ("avg", "min", "max", "sum") and not transform:  # the rule itself agrees
        width = int(ds[:-1]) * {"s": 1, "m": 60, "h": 3600}[ds[-1]]
        assert bool(np.all((boundaries(start, end, width, tz) - ORIGIN) % width == 0)) == pushable


def test_pushdown_on_refuses_an_item_the_server_cannot_compute_when_stored_or_validated(cli, home: Path, tmp_path: Path) -> None:
    (home / "config.toml").write_text(
        '[identity]\nuser = "tester"\n[source]\nkind = "readers"\n[source.readers]\nurl = "http://127.0.0.1:9"\npushdown = "on"\n'
    )
    b = body([decimated("15m", "avg"), decimated("15m", "stddev"), decimated("1h", "avg")], timezone="Asia/Kolkata")
    p = tmp_path / "req.json"
    p.write_text(json.dumps(b))
    for command in ("create", "validate"):
        r = cli("requests", command, str(p), "--json") if command == "create" else cli("validate", str(p), "--json")
        assert r.code == 2, r
        errors = json.loads(r.out or r.err)["validationErrors"]
        assert [e["path"] for e in errors] == ["items[1].params.decimation", "items[2].params.decimation"]
        assert "source.readers.pushdown is 'on', but the readers service has no stddev" in errors[0]["reason"]
        assert "Asia/Kolkata (UTC+05:30)" in errors[1]["reason"]
    assert cli("requests", "list", "--json").json()["results"] == []
    p.write_text(json.dumps(body([decimated("15m", "avg")], timezone="Asia/Kolkata")))
    assert cli("requests", "create", str(p)).code == 0


def test_a_server_that_ignores_aggregation_fails_the_run_with_pushdown_on_and_is_read_here_with_auto(
    pg_cluster, cli, home: Path, tmp_path: Path
) -> None:
    with served(pg_cluster, minute_readings()[:600], aggregates=False) as server:  # the postgres reader: echoes, answers raw
        on = export(cli, home, tmp_path, server, "on", [decimated("15m", "avg")])
        assert not list((home / "exports").glob("*/*"))  # nothing written
        auto = export(cli, home, tmp_path, server, "auto", [decimated("15m", "avg")])
    assert on["status"] == "failed" and "source.readers.pushdown is 'on'" in on["error"] and "ignores aggregation" in on["error"]
    assert auto["status"] == "done" and auto["manifest"]["items"][0]["aggregation"] == "client"
    assert "items[0] is decimated here, not by the readers service" in auto["log"] and "postgres reader" in auto["log"]


def test_readings_without_a_numeric_value_keep_the_decimation_here(pg_cluster, cli, home: Path, tmp_path: Path) -> None:
    rows = minute_readings()[:600]
    for r in rows[::50]:
        r["value"], r["bool_value"] = None, True
    with served(pg_cluster, rows) as server:
        on = export(cli, home, tmp_path, server, "on", [decimated("15m", "avg")])
        auto = export(cli, home, tmp_path, server, "auto", [decimated("15m", "avg")])
    assert on["status"] == "failed" and "12 of the 600 readings in the window have no numeric value" in on["error"]
    assert auto["status"] == "done" and auto["manifest"]["items"][0]["aggregation"] == "client"


def test_a_count_that_does_not_add_up_to_the_raw_total_fails_the_run(pg_cluster, cli, home: Path, tmp_path: Path) -> None:
    with served(pg_cluster, minute_readings()) as server:
        late = {k: v for k, v in minute_readings()[0].items()} | {"time": (START + 30) * 10**9, "value": 5.0}

        def arrive(query: dict[str, str]) -> None:  # a late reading lands in the first slice once it was read
            if query.get("aggregation") == "AVG" and server.on_answer is not None:
                server.on_answer = None
                server.insert([late])

        server.on_answer = arrive
        out = export(cli, home, tmp_path, server, "auto", [decimated("15m", "avg")])
    assert out["status"] == "failed", out
    assert "source.readers.pushdown: the server's COUNT buckets hold 2880 readings, but it counts 2881 in the window" in out["error"]
    assert not list((home / "exports").glob("*/*"))


def test_the_http_api_refuses_what_pushdown_on_cannot_push(tmp_path: Path) -> None:
    from api_server import running_api
    from sched_fixtures import make_home
    from test_api import ALICE, KEYS, one_time

    ctx = make_home(tmp_path, KEYS + '\n[source]\nkind = "readers"\n[source.readers]\nurl = "http://127.0.0.1:9"\npushdown = "on"\n')
    b = one_time()
    b["items"][0]["params"]["decimation"] = {"ds": "1M", "dsf": "avg"}
    with running_api(ctx) as served, served.client(ALICE) as c:
        refused = c.post("/exports", json=b)
        b["items"][0]["params"]["decimation"] = {"ds": "1h", "dsf": "avg"}
        stored = c.post("/exports", json=b)
        listed = c.get("/exports").json()["total"]
    assert refused.status_code == 422, refused.text
    errors = refused.json()["validationErrors"]
    assert [e["path"] for e in errors] == ["items[0].params.decimation"] and "follow the calendar" in errors[0]["reason"]
    assert stored.status_code == 201 and listed == 1
