"""`sources list` on a home whose embedded source has nothing yet."""

from __future__ import annotations

from pathlib import Path


def test_sources_list_in_a_fresh_home_says_the_source_is_empty_and_how_to_fill_it(cli, home: Path) -> None:
    r = cli("sources", "list")
    assert r.code == 0, r.err
    assert (
        r.out.strip()
        == f"the embedded source ({home / 'source.db'}) is empty; fill it with demo telemetry: exporter-tui --home {home} demo"
    )
    assert "Traceback" not in r.err
    j = cli("sources", "list", "--json")
    assert j.code == 0 and j.json() == [] and "is empty" in j.err


def test_a_source_that_cannot_be_read_is_one_error_line_with_exit_1(cli, home: Path) -> None:
    (home / "source.db").write_bytes(b"not a database" * 64)
    r = cli("sources", "list")
    assert r.code == 1
    assert "error: source failed: " in r.err and "Traceback" not in r.err


def test_sources_compact_seals_todays_readings_and_keeps_them(cli, home: Path) -> None:
    import time

    from exporter_tui.sources.embedded import ReadingsWriter

    now = time.time()
    with ReadingsWriter(home / "source.db") as writer:  # today's readings: they wait in the head
        writer.write([{"channel": "c", "name": "n", "time": now - i, "value": float(i)} for i in range(3)])
    r = cli("sources", "compact", "--json")
    assert r.code == 0, r.err
    assert r.json()["sealed"] == 3
    again = cli("sources", "compact")
    assert again.code == 0 and "0 readings sealed" in again.out
    listed = cli("sources", "list", "--json")
    assert [t["count"] for t in listed.json()] == [3]


def test_sources_migrate_converts_a_row_layout_file_and_then_has_nothing_to_do(cli, home: Path) -> None:
    from test_source_migration import row_file

    row_file(home / "source.db", [("c", "", "", None, "n", "Cel", 1.7e9 + i, float(i), None, None, None, None, None) for i in range(5)])
    r = cli("sources", "migrate", "--json")
    assert r.code == 0, r.err
    assert r.json()["readings"] == 5 and r.json()["converted"] is True
    assert "nothing to convert" in cli("sources", "migrate").out
    assert [t["count"] for t in cli("sources", "list", "--json").json()] == [5]


def test_sources_compact_refuses_the_readers_source(cli, home: Path) -> None:
    (home / "config.toml").write_text(
        (home / "config.toml").read_text() + '\n[source]\nkind = "readers"\n[source.readers]\nurl = "http://127.0.0.1:9"\n'
    )
    r = cli("sources", "compact")
    assert r.code == 2 and "only the embedded source" in r.err
