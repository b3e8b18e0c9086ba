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
