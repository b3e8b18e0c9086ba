"""The SQLite store: migrations, refusals that leave the file as it was, soft delete, audit, paging."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from conftest import seed_body

from exporter_tui.core.enums import Origin, RunStatus
from exporter_tui.core.times import utc_now
from exporter_tui.core.validation import parse_request
from exporter_tui.store.errors import LimitReached, NotFound, StoreError
from exporter_tui.store.schema import SCHEMA_VERSION
from exporter_tui.store.store import Store


def request():
    return parse_request(seed_body("1.1"))


def test_migrations_run_from_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "exporter.db"
    path.touch()
    store = Store(path)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"requests", "runs", "run_log", "notifications", "audit"} <= tables
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()
    Store(path).close()  # opening again migrates nothing and keeps the data
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_database_another_process_creates_meanwhile_is_opened_with_its_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two commands started at once on a new home both find no file; one creates it first."""
    path = tmp_path / "exporter.db"
    store = Store(path)
    stored = store.requests.create(request(), "tester")
    store.close()
    real_exists = Path.exists
    monkeypatch.setattr(Path, "exists", lambda self, **kw: False if self == path else real_exists(self, **kw))
    with Store(path) as again:  # it looked before the other process created the file
        assert again.requests.get(stored.id).id == stored.id


def test_a_newer_database_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "exporter.db"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}, newer than this app's {SCHEMA_VERSION}"):
        Store(path)
    assert path.read_bytes() == before


def test_a_corrupt_file_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "exporter.db"
    path.write_bytes(b"this is not sqlite at all" * 100)
    before = path.read_bytes()
    with pytest.raises(StoreError, match="not a usable exporter-tui database"):
        Store(path)
    assert path.read_bytes() == before


def test_a_foreign_sqlite_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE invoices (id INTEGER)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="not an exporter-tui database"):
        Store(path)
    assert path.read_bytes() == before


def test_soft_delete_hides_the_request_and_keeps_the_row(tmp_path: Path) -> None:
    store = Store(tmp_path / "x.db")
    keep = store.requests.create(request(), "ann")
    gone = store.requests.create(request(), "ann")
    deleted = store.requests.delete(gone.id, "bob")
    assert deleted.deleted_at is not None
    assert [r.id for r in store.requests.page().results] == [keep.id]
    with pytest.raises(NotFound, match=f"no export request with id '{gone.id}'"):
        store.requests.get(gone.id)
    assert store.requests.get(gone.id, include_deleted=True).deleted_at == deleted.deleted_at
    assert {r.id for r in store.requests.page(include_deleted=True).results} == {keep.id, gone.id}


def test_every_create_update_delete_leaves_an_audit_event(tmp_path: Path) -> None:
    store = Store(tmp_path / "x.db")
    sr = store.requests.create(request(), "ann")
    store.requests.update(sr.id, request(), "bob")
    store.requests.delete(sr.id, "cid")
    events = list(reversed(store.audit.page(entity_id=sr.id).results))
    assert [(e["action"], e["actor"], e["entity"]) for e in events] == [
        ("exporter:exports:create", "ann", "request"),
        ("exporter:exports:update", "bob", "request"),
        ("exporter:exports:delete", "cid", "request"),
    ]
    assert all(e["at"].endswith("Z") for e in events)


def test_paging_and_filters(tmp_path: Path) -> None:
    store = Store(tmp_path / "x.db")
    ids = [store.requests.create(request(), "ann").id for _ in range(5)]
    first = store.requests.page(page=1, page_size=2)
    assert (first.total, len(first.results), first.has_prev, first.has_next) == (5, 2, False, True)
    assert first.links("/exports") == {"next": "/exports?page=2&pageSize=2", "prev": None}
    last = store.requests.page(page=3, page_size=2)
    assert (len(last.results), last.has_next, last.links("/exports")["prev"]) == (1, False, "/exports?page=2&pageSize=2")
    seen = [r.id for p in (1, 2, 3) for r in store.requests.page(page=p, page_size=2).results]
    assert sorted(seen) == sorted(ids) and len(set(seen)) == 5
    assert store.requests.page(type="oneTime").total == 0
    assert store.requests.page(type="recurring").total == 5
    run = store.runs.create(ids[0], "cli", (0.0, 10.0), "ann", run_at=10.0)
    store.runs.finish(run.id, "failed", error="boom")
    assert [r.id for r in store.requests.page(status="failed").results] == [ids[0]]


def test_queue_limit_refuses_and_stores_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "x.db")
    sr = store.requests.create(request(), "ann")
    store.runs.create(sr.id, "schedule", (0.0, 10.0), "ann", run_at=10.0, max_queued=2)
    store.runs.create(sr.id, "schedule", (0.0, 10.0), "ann", run_at=10.0, max_queued=2)
    with pytest.raises(LimitReached, match="Maximum number of queued exports reached"):
        store.runs.create(sr.id, "cli", (0.0, 10.0), "ann", run_at=10.0, max_queued=2)
    assert store.runs.page().total == 2


def test_quotes_and_sql_in_values_are_stored_unchanged(tmp_path: Path) -> None:
    body = seed_body("1.1")
    nasty = 'x\'); DROP TABLE requests; --"quoted"'
    body["items"][0]["params"]["target"] = {"value": "urn:'a'\"b\";--", "label": nasty}
    body["name"] = "Robert'); DROP TABLE runs;--"
    store = Store(tmp_path / "x.db")
    sr = store.requests.create(parse_request(body), "o'brien")
    again = Store(tmp_path / "x.db").requests.get(sr.id)
    assert again.request.items[0].params.target.label == nasty
    assert again.request.items[0].params.target.value == "urn:'a'\"b\";--"
    assert again.request.name == "Robert'); DROP TABLE runs;--"
    assert again.owner == "o'brien"
    assert store.runs.page().total == 0  # the runs table is still there


def test_a_scheduled_interval_is_claimed_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "x.db")
    other = Store(tmp_path / "x.db")
    sr = store.requests.create(request(), "ann")
    assert store.runs.claim_interval(sr.id, 100.0, (0.0, 100.0), "a") is not None
    assert other.runs.claim_interval(sr.id, 100.0, (0.0, 100.0), "b") is None
    assert store.runs.page().total == 1


def test_the_database_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    Store(path).close()
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_store_opened_with_with_is_closed_after_the_block_and_keeps_what_it_wrote(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    with Store(path) as store:
        sr = store.requests.create(request(), "ann")
    with pytest.raises(StoreError, match="closed"):
        store.ping()
    with pytest.raises(ValueError, match="boom"), Store(path) as again:
        assert again.requests.get(sr.id).owner == "ann"
        raise ValueError("boom")
    with pytest.raises(StoreError, match="closed"):
        again.ping()


def test_a_statement_meant_for_a_callers_transaction_is_refused_outside_one(tmp_path: Path) -> None:
    with Store(tmp_path / "x.db") as store:
        sr = store.requests.create(request(), "ann")
        with pytest.raises(RuntimeError, match="outside a transaction"):
            store.audit.record("skip", "scheduler", "request", sr.id)
        with pytest.raises(RuntimeError, match="outside a transaction"):
            store.runs.insert(sr.id, Origin.SCHEDULE, (0.0, 10.0), 10.0, RunStatus.NOT_PROCESSED, utc_now())
        assert store.runs.page().total == 0
        assert [e["action"] for e in store.audit.page(entity_id=sr.id).results] == ["exporter:exports:create"]
