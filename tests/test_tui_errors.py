"""Errors reach the user as words: exit codes before the app starts, notifications and log lines after."""

from __future__ import annotations

from pathlib import Path

import pytest
from snapshot_apps.tui_homes import CONFIG, hourly_body, make_app, make_home, settle

from exporter_tui.core.validation import parse_request
from exporter_tui.tui.app import run_app


def test_a_bad_config_is_exit_2_with_the_field_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text("[exports]\nbogus = 1\n", encoding="utf-8")
    assert run_app(str(home), None) == 2
    err = capsys.readouterr().err
    assert "exports.bogus: unknown setting" in err
    assert "Traceback" not in err


def test_an_unusable_database_is_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "exporter.db").write_bytes(b"this is not sqlite at all, just text" * 100)
    assert run_app(str(home), None) == 1
    err = capsys.readouterr().err
    assert "not a usable exporter-tui database" in err
    assert (home / "exporter.db").read_bytes().startswith(b"this is not sqlite")


@pytest.mark.asyncio
async def test_a_failed_export_is_a_notification_and_a_log_line(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the exports folder should be", encoding="utf-8")
    ctx = make_home(tmp_path / "home", config=CONFIG + f'\n[exports]\ndir = "{blocker}"\n')
    store = ctx.open_store()
    stored = store.requests.create(parse_request(hourly_body()), "tester")
    app = make_app(ctx)
    async with app.run_test(notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("r")
        await settle(pilot)
        run = store.runs.page(request_id=stored.id).results[0]
        assert run.status == "failed"
        assert run.error.startswith("cannot write the export file")
        failed = [line for line in app.main_screen.log_pane.lines_text if " failed " in line]
        assert failed and run.error in failed[-1]
        toasts = [str(t.render()) for t in app.screen.query("Toast")]
        assert any(run.error in t for t in toasts), toasts
        assert app.main_screen.runs_table.rows_data[0][1]["status"] == "failed"
    store.close()
