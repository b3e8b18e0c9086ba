"""Small things a new user hit in the CLI: hints, zones of --from/--to, short ids, notifications, file modes."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

from pipeline_helpers import T0, body, create, fill, item, reading, run


def test_the_demo_hint_carries_the_home_it_was_given(cli, home: Path) -> None:
    r = cli("demo", "--days", "1", "--end", "2026-06-01T00:00:00Z")
    assert r.code == 0, r.err
    assert f"(try: exporter-tui --home {home} run " in r.out


def test_from_and_to_without_an_offset_are_read_in_the_request_zone(cli, home: Path, tmp_path: Path) -> None:
    fill(home, [reading("urn:a", T0 + 60 * i, float(i)) for i in range(10)])
    rid = create(cli, tmp_path, body([item("urn:a", **{"from": T0, "to": T0 + 600})], timezone="Europe/Rome"))
    out = run(cli, rid, "--from", "2026-06-01T12:00", "--to", "2026-06-01T12:05")  # 10:00Z .. 10:05Z
    assert out["window"] == {"from": "2026-06-01T10:00:00.000Z", "to": "2026-06-01T10:05:00.000Z"} and out["rows"] == 5
    days = run(cli, rid, "--from", "2026-06-01", "--to", "2026-06-02")
    assert days["window"] == {"from": "2026-05-31T22:00:00.000Z", "to": "2026-06-01T22:00:00.000Z"}


def test_an_id_under_four_characters_is_too_short(cli) -> None:
    for args in (("requests", "show", "abc"), ("runs", "show", "ab"), ("run", "a")):
        r = cli(*args)
        assert r.code == 2 and "is too short: give at least 4 characters" in r.err, args


def test_a_failed_notification_is_shown_in_the_run_output(cli, home: Path, tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (home / "config.toml").write_text(
        f'[identity]\nuser = "tester"\n[notify]\nattempts = 1\nbackoff = 0\n[notify.email]\nhost = "127.0.0.1"\nport = {port}\n'
    )
    (home / "config.toml").chmod(0o600)
    fill(home, [reading("urn:a", T0, 1.0)])
    b = body([item("urn:a", **{"from": T0, "to": T0 + 60})])
    b["notification"] = {"messages": [{"target": "ops@example.com", "policy": "onSuccess", "medium": "email", "title": "t", "text": "x"}]}
    rid = create(cli, tmp_path, b)
    r = cli("run", rid)
    assert r.code == 0, r.err
    [line] = [line for line in r.out.splitlines() if line.startswith("  notify")]
    assert line.startswith("  notify  email to ops@example.com: failed after 1 attempt(s): ")


def test_the_temporary_file_has_the_file_mode_from_its_first_byte(cli, home: Path, tmp_path: Path, monkeypatch) -> None:
    from exporter_tui.pipeline.writers import hashed

    fill(home, [reading("urn:a", T0 + i, float(i)) for i in range(100)])
    rid = create(cli, tmp_path, body([item("urn:a", **{"from": T0, "to": T0 + 100})]))
    modes: list[int] = []
    real_open = open

    def watching_open(file, mode="r", *args, **kwargs):  # the writer opening its temporary file
        if "w" in str(mode) and ".tmp-" in str(file):
            modes.append(stat.S_IMODE(os.stat(file).st_mode) if os.path.exists(file) else -1)
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(hashed, "open", watching_open, raising=False)  # where the CSV writer opens its file
    old = os.umask(0o022)
    try:
        out = run(cli, rid)
    finally:
        os.umask(old)
    assert out["status"] == "done" and modes == [0o600]
