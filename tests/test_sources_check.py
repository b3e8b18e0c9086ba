"""`exporter-tui sources check`: what the source is and whether it can be read, with exit codes 0, 1, 2."""

from __future__ import annotations

from pathlib import Path

from pipeline_helpers import CH, T0, body, create, fill, item, reading
from readers_server import GENERATIONS, ReadersServer

TOKEN = "chk-T0ken-s3cret"


def ns_rows() -> list[dict]:
    return [reading("temp", (T0 + i) * 10**9, float(i)) for i in range(60)]


def readers_config(url: str, **extra: str) -> str:
    settings = {"url": url, "token": TOKEN, "auth": "client", "domain": "d0m41n", "retries": "0"} | extra
    lines = "\n".join(f'{k} = "{v}"' if k != "retries" else f"{k} = {v}" for k, v in settings.items())
    return f'[identity]\nuser = "tester"\n[source]\nkind = "readers"\n[source.readers]\n{lines}\n'


def test_readers_check_reports_the_detected_generation_and_the_stored_requests_channels(cli, home: Path, tmp_path: Path) -> None:
    with ReadersServer.from_rows(ns_rows(), tmp_path / "r.db", token=TOKEN, **GENERATIONS["supermq"]) as server:
        (home / "config.toml").write_text(readers_config(server.url))
        create(cli, tmp_path, body([item("temp", **{"from": T0, "to": T0 + 60})]))
        r = cli("sources", "check", "--json")
        text = cli("sources", "check")
    assert r.code == 0, r.err
    report = r.json()
    assert report["kind"] == "readers" and report["url"] == server.url
    assert (report["api"], report["apiSetting"], report["detected"], report["timeUnit"]) == ("magistrala", "auto", True, "nanoseconds")
    assert report["serverVersion"] == "v0.18.0"
    assert report["channels"] == [{"channel": CH, "ok": True, "newest": "2026-06-01T10:00:59.000Z", "error": None}]
    assert text.code == 0 and "timeUnit: nanoseconds" in text.out and f"channel {CH}: newest reading 2026-06-01T10:00:59.000Z" in text.out
    assert TOKEN not in r.out + text.out


def test_readers_check_fails_with_exit_1_naming_what_is_wrong(cli, home: Path, tmp_path: Path) -> None:
    with ReadersServer.from_rows(ns_rows(), tmp_path / "r.db", token=TOKEN, **GENERATIONS["supermq"]) as server:
        (home / "config.toml").write_text(readers_config(server.url, api="magistrala-0.14"))
        wrong_api = cli("sources", "check", "--channel", CH, "--json")
        (home / "config.toml").write_text(readers_config(server.url, token="nope"))
        wrong_token = cli("sources", "check", "--channel", CH, "--channel", "other")
    assert wrong_api.code == 1
    [c] = wrong_api.json()["channels"]
    assert not c["ok"] and "source.readers.api = 'magistrala-0.14' reads times in float seconds" in c["error"]
    assert wrong_token.code == 1 and "401 Unauthorized (check source.readers.token" in wrong_token.out
    assert "channel other: FAILED" in wrong_token.out and "nope" not in wrong_token.out


def test_a_bad_readers_config_exits_2(cli, home: Path) -> None:
    (home / "config.toml").write_text('[source]\nkind = "readers"\n[source.readers]\npage_size = 2000\n')
    r = cli("sources", "check")
    assert r.code == 2 and "source.readers.page_size" in r.err


def test_embedded_check_counts_readings_and_targets(cli, home: Path) -> None:
    fill(home, [reading("temp", T0 + i, float(i)) for i in range(7)] + [reading("hum", T0 + i, 1.0) for i in range(3)])
    r = cli("sources", "check", "--json")
    assert r.code == 0
    assert r.json() == {"kind": "embedded", "path": str(home / "source.db"), "readings": 10, "targets": 2, "ok": True}
