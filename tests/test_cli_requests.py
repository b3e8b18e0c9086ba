"""The CLI contract for requests, validation, runs and the audit trail: output, exit codes, nothing half-stored."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC
from pathlib import Path

from conftest import seed_body


def write(tmp_path: Path, name: str, body) -> str:
    p = tmp_path / name
    p.write_text(json.dumps(body) if not isinstance(body, str) else body)
    return str(p)


def test_create_prints_the_stored_request(cli, tmp_path: Path) -> None:
    r = cli("requests", "create", write(tmp_path, "b.json", seed_body("1.1")))
    assert r.code == 0, r.err
    stored = r.json()
    assert len(stored["id"]) == 36 and stored["deletedAt"] is None
    assert stored["createdAt"].endswith("Z") and stored["createdAt"] == stored["updatedAt"]
    assert stored["items"][0]["params"]["target"] == {"value": "urn:cpt:smartdevice:nid:D0CF5EFFFE26FDAB1:onoff", "label": "onoff"}


def test_create_from_stdin(cli) -> None:
    r = cli("requests", "create", "-", stdin=json.dumps(seed_body("1.1")))
    assert r.code == 0, r.err
    assert cli("requests", "list", "--json").json()["total"] == 1


def test_export_gives_back_the_seed_with_the_same_meaning(cli, tmp_path: Path) -> None:
    rid = cli("requests", "create", write(tmp_path, "b.json", seed_body("1.1"))).json()["id"]
    exported = cli("requests", "export", rid).json()
    assert not {"id", "createdAt", "updatedAt", "deletedAt"} & exported.keys()
    # Same meaning: importing the export stores an equal request.
    again = cli("requests", "create", write(tmp_path, "again.json", exported)).json()
    assert {k: v for k, v in again.items() if k not in ("id", "createdAt", "updatedAt")} == {
        k: v
        for k, v in cli("requests", "show", rid, "--json").json().items()
        if k not in ("id", "createdAt", "updatedAt", "paused", "owner", "finished", "nextRuns")
    }
    seed = seed_body("1.1")
    assert exported["periodicity"] == seed["periodicity"]
    assert exported["items"][0]["params"]["decimation"] == seed["items"][0]["params"]["decimation"]
    assert exported["format"]["columns"] == seed["format"]["columns"]
    assert exported["notification"] == seed["notification"]


def test_the_latest_seed_is_refused_with_exit_2_and_nothing_stored(cli, tmp_path: Path) -> None:
    r = cli("requests", "create", write(tmp_path, "l.json", seed_body("latest")))
    assert r.code == 2
    assert "format.columns[0].id: must be one of" in r.err and "format.csvDelimiter: must be exactly one character, got 6" in r.err
    assert r.out == ""
    assert cli("requests", "list", "--json").json()["total"] == 0
    j = cli("requests", "create", write(tmp_path, "l.json", seed_body("latest")), "--json")
    assert j.code == 2
    assert j.json() == {
        "detail": "The export request is not valid",
        "validationErrors": [
            {
                "path": "format.columns[0].id",
                "reason": "must be one of 'publisher', 'channel', 'subtopic', 'name', 'unit', 'time', 'value' or 'created'",
            },
            {"path": "format.csvDelimiter", "reason": "must be exactly one character, got 6"},
        ],
    }


def test_validate_does_not_store(cli, tmp_path: Path) -> None:
    r = cli("validate", write(tmp_path, "b.json", seed_body("1.1")))
    assert (r.code, r.out.strip()) == (0, "valid")
    assert cli("requests", "list", "--json").json()["total"] == 0
    bad = cli("validate", write(tmp_path, "bad.json", "{not json"))
    assert bad.code == 2
    assert "not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2" in bad.err


def test_json_constants_and_deep_nesting_are_refused(cli, tmp_path: Path) -> None:
    nan = cli("validate", write(tmp_path, "nan.json", '{"type": NaN}'))
    assert nan.code == 2 and "NaN is not a number JSON allows" in nan.err
    deep = cli("validate", write(tmp_path, "deep.json", "[" * 100_000 + "]" * 100_000))
    assert deep.code == 2 and "nested too deeply" in deep.err


def test_update_with_a_bad_body_keeps_the_stored_one(cli, tmp_path: Path) -> None:
    rid = cli("requests", "create", write(tmp_path, "b.json", seed_body("1.1"))).json()["id"]
    before = cli("requests", "show", rid, "--json").json()
    bad = seed_body("1.1")
    bad["format"]["timezone"] = "Nowhere/Land"
    r = cli("requests", "update", rid, write(tmp_path, "bad.json", bad))
    assert r.code == 2 and "format.timezone" in r.err
    assert cli("requests", "show", rid, "--json").json() == before
    good = seed_body("1.1")
    good["format"]["timezone"] = "Europe/Rome"
    updated = cli("requests", "update", rid, write(tmp_path, "good.json", good)).json()
    assert updated["format"]["timezone"] == "Europe/Rome" and updated["createdAt"] == before["createdAt"]


def test_delete_is_soft_and_audited(cli, tmp_path: Path) -> None:
    rid = cli("requests", "create", write(tmp_path, "b.json", seed_body("1.1"))).json()["id"]
    assert cli("requests", "delete", rid).code == 0
    assert cli("requests", "list", "--json").json()["total"] == 0
    missing = cli("requests", "show", rid)
    assert missing.code == 2 and f"no export request with id '{rid}'" in missing.err
    actions = [e["action"] for e in cli("audit", "--json").json()["results"]]
    assert actions == ["exporter:exports:delete", "exporter:exports:create"]
    assert all(e["actor"] == "tester" for e in cli("audit", "--json").json()["results"])


def test_unknown_id_is_exit_2(cli) -> None:
    for args in (("requests", "show", "nope"), ("requests", "delete", "nope"), ("runs", "show", "nope"), ("run", "nope")):
        r = cli(*args)
        assert r.code == 2, args


def test_list_pages_with_next_and_prev(cli, tmp_path: Path) -> None:
    path = write(tmp_path, "b.json", seed_body("1.1"))
    for _ in range(3):
        cli("requests", "create", path)
    page = cli("requests", "list", "--page-size", "2", "--json").json()
    assert (page["page"], page["pageSize"], page["total"], len(page["results"])) == (1, 2, 3, 2)
    assert page["links"] == {"next": "/exports?page=2&pageSize=2", "prev": None}
    page2 = cli("requests", "list", "--page", "2", "--page-size", "2", "--json").json()
    assert page2["links"] == {"next": None, "prev": "/exports?page=1&pageSize=2"} and len(page2["results"]) == 1
    text = cli("requests", "list", "--page-size", "2")
    assert "page 1/2, 3 in all (next: --page 2)" in text.out


def test_missing_identity_refuses_creation(cli, home: Path, tmp_path: Path) -> None:
    (home / "config.toml").write_text('[identity]\nuser = ""\n')
    r = cli("requests", "create", write(tmp_path, "b.json", seed_body("1.1")), "--json")
    assert r.code == 2
    assert r.json()["detail"] == "Missing user identity id"
    assert "Missing user identity id" in r.err
    assert r.json()["validationErrors"] == [{"path": "identity.user", "reason": "is empty"}]
    assert 'set [identity] user = "your name"' in r.err  # the same advice the TUI gives
    (home / "config.toml").write_text('[identity]\nuser = "tester"\n')
    assert cli("requests", "list", "--json").json()["total"] == 0


def test_queue_full_refuses_with_exit_3_and_stores_nothing(cli, home: Path, tmp_path: Path) -> None:
    (home / "config.toml").write_text('[identity]\nuser = "tester"\n[limits]\nmax_queued_runs = 1\n')
    one_time = {
        "type": "oneTime",
        "format": {"extension": "csv"},
        "items": [{"params": {"target": {"value": "urn:x"}, "channelId": "c", "subtopic": "s", "period": "P1D"}}],
        "periodStart": 4_000_000_000,
    }
    path = write(tmp_path, "o.json", one_time)
    assert cli("requests", "create", path).code == 0  # queues its run
    r = cli("requests", "create", path)
    assert r.code == 3 and "Maximum number of queued exports reached" in r.err
    assert cli("requests", "list", "--json").json()["total"] == 1
    runs = cli("runs", "--json").json()
    assert runs["total"] == 1 and runs["results"][0]["status"] == "notProcessed"


def test_bad_config_is_exit_2_naming_the_field(cli, home: Path) -> None:
    (home / "config.toml").write_text("[scheduler]\nmax_parallel = 0\ncatch_up = 'sometimes'\n")
    before = (home / "config.toml").read_bytes()
    r = cli("requests", "list")
    assert r.code == 2
    assert "scheduler.max_parallel: Input should be greater than or equal to 1" in r.err
    assert "scheduler.catch_up:" in r.err
    assert (home / "config.toml").read_bytes() == before
    (home / "config.toml").write_text("[scheduler\n")
    r = cli("requests", "list")
    assert r.code == 2 and "not valid TOML" in r.err


def test_unknown_setting_is_named(cli, home: Path) -> None:
    (home / "config.toml").write_text("[exports]\ndirr = 'x'\n")
    r = cli("requests", "list")
    assert r.code == 2 and "exports.dirr: unknown setting" in r.err


def test_runs_list_and_show(cli, tmp_path: Path) -> None:
    one_time = {
        "type": "oneTime",
        "format": {"extension": "csv"},
        "items": [{"params": {"target": {"value": "urn:x"}, "channelId": "c", "subtopic": "s", "period": "P1D"}}],
        "periodStart": 4_000_000_000,
    }
    rid = cli("requests", "create", write(tmp_path, "o.json", one_time)).json()["id"]
    runs = cli("runs", "--request", rid, "--json").json()
    run = runs["results"][0]
    assert set(run) >= {
        "id",
        "requestId",
        "status",
        "origin",
        "attempt",
        "window",
        "progress",
        "total",
        "filePath",
        "createdAt",
        "finishedAt",
        "error",
    }
    assert run["window"] == {"from": "2096-10-01T07:06:40.000Z", "to": "2096-10-02T07:06:40.000Z"}
    shown = cli("runs", "show", run["id"][:8], "--json").json()
    assert shown["id"] == run["id"] and shown["log"] == [] and shown["notifications"] == []
    assert cli("runs", "--status", "done", "--json").json()["total"] == 0


def test_console_script_and_module_entry_points(home: Path) -> None:
    for cmd in ([sys.executable, "-m", "exporter_tui"], [str(Path(sys.executable).parent / "exporter-tui")]):
        out = subprocess.run([*cmd, "--home", str(home), "requests", "list", "--json"], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["total"] == 0


def test_show_prints_the_next_five_run_times_in_utc_and_local(cli, home: Path, tmp_path: Path) -> None:
    from datetime import datetime

    from exporter_tui.scheduler.schedules import next_runs
    from exporter_tui.store.store import Store

    body = seed_body("1.1")
    body.update(periodicity="P1D", periodStart=1_790_290_800)  # 2026-09-25T23:00:00Z = 01:00 in Rome
    body["format"]["timezone"] = "Europe/Rome"
    rid = cli("requests", "create", write(tmp_path, "b.json", body)).json()["id"]
    assert len(cli("requests", "show", rid, "--json").json()["nextRuns"]) == 5
    assert "next runs:" in cli("requests", "show", rid).out
    store = Store(home / "exporter.db")
    times = next_runs(store.requests.get(rid), now=datetime(2026, 10, 23, 12, tzinfo=UTC))
    store.close()
    assert [t.pop("window") for t in times][0] == {"from": "2026-10-22T23:00:00.000Z", "to": "2026-10-23T23:00:00.000Z"}
    assert times == [  # the wall clock stays at 01:00 over the end of summer time on 25 October
        {"utc": "2026-10-23T23:00:00Z", "local": "2026-10-24T01:00:00+02:00"},
        {"utc": "2026-10-24T23:00:00Z", "local": "2026-10-25T01:00:00+02:00"},
        {"utc": "2026-10-26T00:00:00Z", "local": "2026-10-26T01:00:00+01:00"},
        {"utc": "2026-10-27T00:00:00Z", "local": "2026-10-27T01:00:00+01:00"},
        {"utc": "2026-10-28T00:00:00Z", "local": "2026-10-28T01:00:00+01:00"},
    ]
