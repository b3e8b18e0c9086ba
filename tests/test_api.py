"""`exporter-tui serve`: the HTTP API on a real uvicorn, driven with httpx."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from api_server import running_api, wait_until
from conftest import seed_body
from sched_fixtures import CHANNEL, SUBTOPIC, TARGET, FakeClock, make_home, seed, utc

from exporter_tui.store.store import Store

ALICE, BOB, READER = "alice-secret-0123456789", "bob-secret-0123456789ab", "reader-secret-0123456789"
ALL = '["exporter:exports:create", "exporter:exports:list", "exporter:exports:update", "exporter:exports:delete", "exporter:exports:download"]'
KEYS = f"""
[api.keys.ops]
secret = "{ALICE}"
owner = "alice"
actions = {ALL}
[api.keys.bob]
secret = "{BOB}"
owner = "bob"
actions = {ALL}
[api.keys.viewer]
secret = "{READER}"
owner = "alice"
actions = ["exporter:exports:list"]
"""
START, END = utc(2024, 1, 1), utc(2024, 1, 2)


def one_time(name: str = "once") -> dict[str, Any]:
    return {
        "name": name,
        "type": "oneTime",
        "format": {"extension": "csv", "columns": [{"id": "time", "label": "t"}, {"id": "value", "label": "v"}]},
        "items": [
            {
                "params": {
                    "target": {"value": TARGET},
                    "channelId": CHANNEL,
                    "subtopic": SUBTOPIC,
                    "from": START.timestamp(),
                    "to": END.timestamp(),
                }
            }
        ],
    }


def recurring(name: str) -> dict[str, Any]:
    body = one_time(name)
    body.update(type="recurring", periodicity="P1D", periodStart=START.timestamp())
    del body["items"][0]["params"]["from"], body["items"][0]["params"]["to"]
    return body


@pytest.fixture
def keyed(tmp_path: Path):
    ctx = make_home(tmp_path, KEYS)
    seed(ctx, START, END)
    return ctx


@pytest.fixture
def api(keyed):
    with running_api(keyed) as served:
        yield served


def paths(resp) -> list[str]:
    return [e["path"] for e in resp.json()["validationErrors"]]


def test_both_documents_examples_posted_unchanged(api) -> None:
    with api.client(ALICE) as c:
        old = c.post("/exports", json=seed_body("1.1"))
        assert old.status_code == 201, old.text
        stored = old.json()
        assert {"id", "createdAt", "updatedAt", "deletedAt"} <= set(stored) and stored["deletedAt"] is None
        assert stored["items"][0]["params"]["target"]["value"] == "urn:cpt:smartdevice:nid:D0CF5EFFFE26FDAB1:onoff"
        assert c.get(f"/exports/{stored['id']}").json()["id"] == stored["id"]
        new = c.post("/exports", json=seed_body("latest"))
        assert new.status_code == 422
        assert new.json()["detail"] and paths(new) == ["format.columns[0].id", "format.csvDelimiter"]


def test_status_codes_of_create(tmp_path: Path) -> None:
    ctx = make_home(tmp_path, KEYS + "\n[limits]\nmax_queued_runs = 1\n" + "")
    ctx.settings.api.max_body = 4096
    with running_api(ctx) as served, served.client(ALICE) as c:
        bad = c.post("/exports", content=b"{not json", headers={"Content-Type": "application/json"})
        assert bad.status_code == 400 and paths(bad) == [""]
        assert c.post("/exports", content=json.dumps(one_time()), headers={"Content-Type": "text/plain"}).status_code == 415
        big = c.post("/exports", json={**one_time(), "name": "x" * 5000})
        assert big.status_code == 413 and "api.max_body" in big.json()["detail"]
        assert c.post("/exports", json={"type": "oneTime"}).status_code == 422
        assert c.post("/exports", json=one_time()).status_code == 201
        full = c.post("/exports", json=one_time())
        assert full.status_code == 429 and full.headers["Retry-After"].isdigit()
        assert full.json() == {"detail": "Maximum number of queued exports reached", "validationErrors": []}
        assert c.get("/exports/nope").status_code == 404
        assert c.get("/exports", params={"pageSize": 0}).json()["validationErrors"][0]["path"] == "pageSize"


def test_list_filters_paging_sort_and_absolute_links(api) -> None:
    with api.client(ALICE) as c:
        ids = [c.post("/exports", json=recurring(f"r{i}")).json()["id"] for i in range(5)]
        c.post("/exports", json=one_time("o"))
        page = c.get("/exports", params={"type": "recurring", "pageSize": 2, "sort": "name"}).json()
        assert [r["name"] for r in page["results"]] == ["r0", "r1"] and page["total"] == 5 and page["links"]["prev"] is None
        nxt = urlsplit(page["links"]["next"])
        assert nxt.scheme == "http" and nxt.netloc == urlsplit(api.url).netloc
        assert parse_qs(nxt.query) == {"type": ["recurring"], "pageSize": ["2"], "sort": ["name"], "page": ["2"]}
        second = c.get(page["links"]["next"]).json()
        assert [r["name"] for r in second["results"]] == ["r2", "r3"] and second["links"]["prev"]
        newest = c.get("/exports", params={"type": "recurring"}).json()["results"]
        assert [r["name"] for r in newest] == ["r4", "r3", "r2", "r1", "r0"]
        picked = c.get("/exports", params=[("ids[]", ids[0]), ("ids[]", ids[3])]).json()
        assert sorted(r["id"] for r in picked["results"]) == sorted([ids[0], ids[3]])
        queued = c.get("/exports", params={"status[]": "notProcessed"}).json()["results"]
        assert [r["name"] for r in queued] == ["o"] and queued[0]["status"] == "notProcessed"
        assert c.get("/exports", params={"sort": "size"}).status_code == 422


def test_put_delete_pause_resume(api) -> None:
    with api.client(ALICE) as c:
        rid = c.post("/exports", json=recurring("before")).json()["id"]
        put = c.put(f"/exports/{rid}", json=recurring("after"))
        assert put.status_code == 200 and put.json()["name"] == "after"
        assert c.put(f"/exports/{rid}", json={"type": "recurring"}).status_code == 422
        assert c.post(f"/exports/{rid}/pause").json()["paused"] is True
        assert c.post(f"/exports/{rid}/resume").json()["paused"] is False
        gone = c.delete(f"/exports/{rid}")
        assert gone.status_code == 200 and gone.json()["deletedAt"]
        assert c.get(f"/exports/{rid}").status_code == 404
        assert c.get("/exports").json()["total"] == 0


def test_keys_owners_actions_and_audit(api, keyed) -> None:
    with api.client() as anon:
        for headers in ({}, {"Authorization": "Bearer wrong-secret-000000"}, {"Authorization": "Basic x"}, {"Authorization": "Bearer"}):
            r = anon.get("/exports", headers=headers)
            assert r.status_code == 401 and r.json() == {"detail": "Missing user identity id", "validationErrors": []}
        assert anon.get("/exports", headers={"Authorization": f"apiKey {ALICE}"}).status_code == 200
        assert anon.get("/health").status_code == 200
    with api.client(ALICE) as alice, api.client(BOB) as bob, api.client(READER) as viewer:
        mine = alice.post("/exports", json=recurring("alice's")).json()["id"]
        bob.post("/exports", json=recurring("bob's"))
        assert [r["name"] for r in alice.get("/exports").json()["results"]] == ["alice's"]
        assert [r["name"] for r in bob.get("/exports").json()["results"]] == ["bob's"]
        for call in (bob.get, bob.delete):
            assert call(f"/exports/{mine}").status_code == 404
        assert bob.post(f"/exports/{mine}/pause").status_code == 404
        assert viewer.get(f"/exports/{mine}").status_code == 200
        denied = viewer.post("/exports", json=recurring("no"))
        assert denied.status_code == 403 and "exporter:exports:create" in denied.json()["detail"]
        assert viewer.delete(f"/exports/{mine}").status_code == 403
    with Store(keyed.paths.database) as store:
        events = store.audit.page(entity_id=mine).results
    assert [(e["action"], e["actor"], e["detail"].get("key")) for e in events] == [("exporter:exports:create", "alice", "ops")]
    assert ALICE not in (keyed.paths.database).read_bytes().decode("latin-1")


def test_a_run_over_http_its_file_and_its_signed_link(tmp_path: Path) -> None:
    ctx = make_home(tmp_path, KEYS)
    seed(ctx, START, END)
    clock = FakeClock(utc(2030, 1, 1))
    with running_api(ctx, clock=clock, scheduler=True) as served, served.client(ALICE) as c, served.client() as anon:
        later = {**recurring("daily"), "periodStart": utc(2100, 1, 1).timestamp()}  # the scheduler has nothing of its own to run
        rid = c.post("/exports", json=later).json()["id"]
        started = c.post(f"/exports/{rid}/run", json={"from": START.isoformat(), "to": END.isoformat()})
        assert started.status_code == 202 and started.json()["origin"] == "api"
        location = started.headers["Location"]
        done = wait_until(lambda: (r := c.get(location).json())["status"] in ("done", "failed") and r, what="the run to end")
        assert done["status"] == "done" and done["rows"] == 144 and "filePath" not in done
        listed = c.get(f"/exports/{rid}").json()
        assert listed["status"] == "done" and listed["fileUrl"] and listed["origin"] == "api"
        assert c.get(f"/exports/{rid}/runs").json()["total"] == 1
        assert c.get("/runs", params={"requestId": rid, "status[]": "done"}).json()["results"][0]["id"] == done["id"]
        download = c.get(f"/exports/{rid}/download")
        assert download.status_code == 200 and download.text.splitlines()[0].strip() == "t,v"
        assert anon.get(f"/exports/{rid}/download").status_code == 401
        link = done["fileUrl"]
        assert anon.get(link).content == download.content
        assert anon.get(link.replace("signature=", "signature=0")).status_code == 403
        clock.advance(minutes=101)
        expired = anon.get(link)
        assert expired.status_code == 403 and "expired" in expired.json()["detail"]
        fresh = c.get(location).json()["fileUrl"]
        assert fresh != link and anon.get(fresh).status_code == 200
        with Store(ctx.paths.database) as store:
            store.runs.expire_done(done["id"], clock())
        gone = c.get(f"/exports/{rid}/download", params={"run": done["id"]})
        assert gone.status_code == 410 and "expired" in gone.json()["detail"]
        assert anon.get(fresh).status_code == 410
        retried = c.post(f"/runs/{done['id']}/retry")
        assert retried.status_code == 200 and retried.json()["status"] in ("notProcessed", "inProgress", "done")


def test_run_rules_cancel_and_conflicts(api) -> None:
    with api.client(ALICE) as c, api.client(BOB) as bob:
        future = recurring("future")
        future["periodStart"] = (utc(2100, 1, 1)).timestamp()
        rid = c.post("/exports", json=future).json()["id"]
        assert c.post(f"/exports/{rid}/run", json={}).status_code == 409
        assert c.post(f"/exports/{rid}/run", json={"from": 10}).status_code == 422
        extra = c.post(f"/exports/{rid}/run", json={"from": START.timestamp(), "to": END.timestamp()}).json()
        assert extra["origin"] == "api" and extra["window"] == {"from": "2024-01-01T00:00:00.000Z", "to": "2024-01-02T00:00:00.000Z"}
        assert bob.get(f"/runs/{extra['id']}").status_code == 404
        ended = wait_until(lambda: (r := c.get(f"/runs/{extra['id']}").json())["status"] in ("done", "failed") and r, what="the run to end")
        assert c.post(f"/runs/{ended['id']}/cancel").status_code == 409  # nothing left to cancel
        once = c.post("/exports", json=one_time()).json()["id"]  # no scheduler here: its run stays queued
        queued = c.get(f"/exports/{once}/runs").json()["results"][0]
        assert queued["status"] == "notProcessed"
        assert bob.post(f"/runs/{queued['id']}/cancel").status_code == 404
        cancelled = c.post(f"/runs/{queued['id']}/cancel")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "failed" and "cancelled by alice" in cancelled.json()["error"]
        assert c.post(f"/runs/{queued['id']}/cancel").status_code == 409


def test_health_metrics_and_openapi(api) -> None:
    with api.client(ALICE) as c:
        c.post("/exports", json=one_time())
        health = c.get("/health").json()
        assert health["store"] == "ok" and health["version"]
        text = c.get("/metrics").text
        assert 'exporter_runs{status="notProcessed"} 1' in text and "exporter_queue_length 1" in text
        assert "exporter_run_duration_seconds_count 0" in text and "exporter_notification_failures_total 0" in text
        schema = c.get("/openapi.json").json()
        body = schema["paths"]["/exports"]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert body["$ref"] == "#/components/schemas/ExportRequest"
        assert "periodicity" in schema["components"]["schemas"]["ExportRequest"]["properties"]


def test_events_stream_other_processes_runs_and_resume_from_last_event_id(api, keyed) -> None:
    with api.client(ALICE) as c, api.client(BOB) as bob:
        rid = c.post("/exports", json=recurring("mine")).json()["id"]
        bid = bob.post("/exports", json=recurring("bob's")).json()["id"]
        with Store(keyed.paths.database) as store:  # another process's writes, straight to the database
            mine = store.runs.create(rid, "cli", (START.timestamp(), END.timestamp()), "alice", run_at=END.timestamp())
            other = store.runs.create(bid, "cli", (START.timestamp(), END.timestamp()), "bob", run_at=END.timestamp())
            store.run_log.add(other.id, "info", "bob's line")
            store.run_log.add(mine.id, "info", "first line")
            store.run_log.add(mine.id, "warning", "second line")
        got: list[tuple[str, str, dict]] = []
        with c.stream("GET", "/events", params={"after": 0}) as resp:
            assert resp.headers["content-type"].startswith("text/event-stream")
            block: dict[str, str] = {}
            for line in resp.iter_lines():
                if line.startswith(("id:", "event:", "data:")):
                    k, _, v = line.partition(":")
                    block[k] = v.strip()
                elif not line and block:
                    got.append((block["id"], block["event"], json.loads(block["data"])))
                    block = {}
                    if len(got) == 2:
                        break
        assert [(e, d["message"], d["runId"], d["requestId"]) for _, e, d in got] == [
            ("info", "first line", mine.id, rid),
            ("warning", "second line", mine.id, rid),
        ]
        with c.stream("GET", "/events", headers={"Last-Event-ID": got[0][0]}) as resp:
            for line in resp.iter_lines():
                if line.startswith("data:"):
                    assert json.loads(line[5:])["message"] == "second line"
                    break


def sse_blocks(resp) -> Iterator[dict[str, str]]:
    """The events of a stream, each as its fields (id, event, data)."""
    block: dict[str, str] = {}
    for line in resp.iter_lines():
        if line.startswith(("id:", "event:", "data:")):
            k, _, v = line.partition(":")
            block[k] = v.strip()
        elif not line and block:
            yield block
            block = {}


def test_events_stream_the_progress_of_runs_in_other_processes(api, keyed) -> None:
    with api.client(ALICE) as c, api.client(BOB) as bob:
        rid = c.post("/exports", json=recurring("mine")).json()["id"]
        bid = bob.post("/exports", json=recurring("bob's")).json()["id"]
        with Store(keyed.paths.database) as store:  # another process's run, straight to the database
            mine = store.runs.create(rid, "cli", (START.timestamp(), END.timestamp()), "alice", run_at=END.timestamp())
            other = store.runs.create(bid, "cli", (START.timestamp(), END.timestamp()), "bob", run_at=END.timestamp())
            assert store.runs.claim(mine.id, "elsewhere") and store.runs.claim(other.id, "elsewhere")
            store.runs.update_progress(other.id, 7, 70)
            store.runs.update_progress(mine.id, 10, 100)
            with c.stream("GET", "/events") as resp:
                blocks = sse_blocks(resp)
                first = next(blocks)
                store.runs.update_progress(mine.id, 50, 100)
                second = next(blocks)
    for block in (first, second):
        assert block["event"] == "progress" and "id" not in block  # state, not a log entry to resume from
    assert [
        (json.loads(b["data"])["runId"], json.loads(b["data"])["progress"], json.loads(b["data"])["total"]) for b in (first, second)
    ] == [
        (mine.id, 10, 100),
        (mine.id, 50, 100),
    ]
    assert json.loads(second["data"])["message"] == "50/100 readings" and json.loads(second["data"])["requestId"] == rid


def test_tls_with_a_trustme_certificate(tmp_path: Path) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert_file, key_file, ca_file = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    cert.cert_chain_pems[0].write_to_path(cert_file)
    cert.private_key_pem.write_to_path(key_file)
    ca.cert_pem.write_to_path(ca_file)
    ctx = make_home(tmp_path, KEYS)
    with running_api(ctx, certfile=str(cert_file), keyfile=str(key_file)) as served:
        assert served.url.startswith("https://")
        with served.client(ALICE, verify=ssl.create_default_context(cafile=str(ca_file))) as c:
            assert c.post("/exports", json=recurring("over tls")).status_code == 201
            assert c.get("/exports").json()["total"] == 1


def test_the_clock_of_links_is_the_injected_one(tmp_path: Path) -> None:
    from exporter_tui.api.signing import LINK_LIFETIME, signed_query, verify

    key = b"k" * 32
    q = parse_qs(signed_query(key, "run-1", 1000.0))
    expires, sig = q["expires"][0], q["signature"][0]
    assert verify(key, "run-1", expires, sig, 1000.0 + LINK_LIFETIME) is None
    assert verify(key, "run-1", expires, sig, 1001.0 + LINK_LIFETIME) is not None
    assert verify(key, "run-2", expires, sig, 1000.0) is not None
    assert timedelta(seconds=LINK_LIFETIME) == timedelta(minutes=100)


def test_key_secrets_come_from_the_environment_and_join_the_secrets(tmp_path: Path) -> None:
    from exporter_tui.config import ConfigError, load_settings, redacted, secret_values

    cfg = tmp_path / "c.toml"
    cfg.write_text('[api.keys.ops]\nowner = "alice"\nactions = ["exporter:exports:list"]\n')
    with pytest.raises(ConfigError) as e:
        load_settings(cfg, environ={})
    assert e.value.errors[0][0] == "api.keys"
    s = load_settings(cfg, environ={"EXPORTER_TUI_API_KEY_OPS": ALICE, "EXPORTER_TUI_API_SIGNING_KEY": "sign-0123456789"})
    assert s.api.keys["ops"].secret == ALICE and s.api.signing_key == "sign-0123456789"
    assert {ALICE, "sign-0123456789"} <= set(secret_values(s))
    assert ALICE not in repr(redacted(s)) and "sign-0123456789" not in repr(redacted(s))
    cfg.write_text('[api.keys.ops]\nsecret = "x"\nowner = "alice"\nactions = ["exporter:exports:fly"]\n')
    with pytest.raises(ConfigError) as e:
        load_settings(cfg, environ={})
    assert "exporter:exports:fly" in str(e.value)


def test_the_signing_key_file_is_created_once_0600(tmp_path: Path) -> None:
    from exporter_tui.api.signing import KEY_FILE, signing_key

    first = signing_key("", tmp_path)
    assert (tmp_path / KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert signing_key("", tmp_path) == first and signing_key("configured", tmp_path) == b"configured"


def _unusable(resp) -> str:
    """A 503 with the Connectif error body, saying why; never a traceback."""
    assert resp.status_code == 503, resp.text
    body = resp.json()
    assert body["validationErrors"] == [] and "Traceback" not in resp.text
    return body["detail"]


def test_an_unusable_store_answers_503_and_the_file_is_left_as_it_was(keyed) -> None:
    import sqlite3

    db = keyed.paths.database
    with running_api(keyed) as served, served.client(ALICE) as c:
        assert c.post("/exports", json=one_time()).status_code == 201
        conn = sqlite3.connect(db)
        conn.execute("PRAGMA user_version = 99")  # written by a newer exporter-tui
        conn.close()
        assert "newer than this app's" in _unusable(c.get("/exports"))
        assert "newer than this app's" in _unusable(c.post("/exports", json=one_time()))
        health = c.get("/health")
        assert health.status_code == 503 and health.json()["store"].startswith("unusable:")

        for side in (Path(f"{db}-wal"), Path(f"{db}-shm")):
            side.unlink(missing_ok=True)
        garbage = b"not a database, just bytes " * 200
        db.write_bytes(garbage)
        assert "not a usable exporter-tui database" in _unusable(c.get("/runs"))
        assert "not a usable exporter-tui database" in _unusable(c.post("/exports", json=one_time()))
        assert c.get("/health").status_code == 503
    assert db.read_bytes() == garbage
