"""Delete asks first; bodies come in from a file or a paste and go out to a file and the clipboard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from snapshot_apps.tui_homes import days_ago, hourly_body, make_app, make_home, open_compose, paste, settle

from exporter_tui.core.validation import parse_request
from exporter_tui.tui.screens.compose import ComposeScreen
from exporter_tui.tui.screens.dialogs import ConfirmDialog, PasteDialog, PathPrompt
from exporter_tui.tui.widgets.form_fields import ErrorLine, FieldBox

pytestmark = pytest.mark.asyncio

FIXTURES = Path(__file__).parent / "fixtures"


def error_of(box: FieldBox) -> str:
    line = box.query_one(ErrorLine)
    return str(line.render()) if line.has_class("-shown") else ""


async def test_delete_asks_and_only_yes_deletes(tmp_path: Path) -> None:
    ctx = make_home(tmp_path / "home", demo=False)
    store = ctx.open_store()
    keep = store.requests.create(parse_request(hourly_body("keep me")), "tester", now=days_ago(2))
    doomed = store.requests.create(parse_request(hourly_body("delete me")), "tester", now=days_ago(1))
    app = make_app(ctx)
    async with app.run_test() as pilot:
        await settle(pilot)
        table = app.main_screen.requests_table
        assert table.selected_key() == doomed.id  # newest first
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        assert doomed.short_id in str(app.screen.question)
        await pilot.press("n")
        await settle(pilot)
        assert [r.id for r in store.requests.page().results] == [doomed.id, keep.id]

        await pilot.press("d")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert [r.id for r in store.requests.page().results] == [keep.id]
        assert store.requests.get(doomed.id, include_deleted=True).deleted_at is not None
        assert [k for k, _ in table.rows_data] == [keep.id]
        assert "deleted" in app.main_screen.log_pane.lines_text[-1]
    store.close()


async def test_import_the_seed_body_from_a_file_and_save_it(tmp_path: Path) -> None:
    ctx = make_home(tmp_path / "home", demo=False)
    seed = FIXTURES / "connhex-1.1-example.json"
    app = make_app(ctx)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await open_compose(pilot)
        await pilot.press("f6")
        await settle(pilot)
        prompt = app.screen
        assert isinstance(prompt, PathPrompt)
        await pilot.press("end", "ctrl+u")
        await paste(pilot, str(seed))
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is screen
        assert screen.form.field("periodicity").raw() == "P1Y6M4DT12H30M5S"
        assert screen.form.field("format.timezone").raw() == "utc"
        columns = screen.form.rows("columns")
        assert [[b.raw() for b in row.fields()] for row in columns] == [["unit", "unit of measure"]]
        item = screen.form.rows("items")[0]
        values = {b.path: b.raw() for b in item.fields()}
        assert values["params.from"] == "" and values["params.to"] == ""  # 0 means absent
        assert values["params.decimation.ds"] == "15m"
        assert screen.form.valid is not None
        await pilot.press("ctrl+s")
        await settle(pilot)
    store = ctx.open_store()
    stored = store.requests.page().results
    store.close()
    assert len(stored) == 1
    assert stored[0].request.to_body() == parse_request(json.loads(seed.read_text())).to_body()


async def test_pasted_body_shows_each_error_next_to_its_field(tmp_path: Path) -> None:
    ctx = make_home(tmp_path / "home", demo=False)
    latest = (FIXTURES / "connhex-latest-example.json").read_text()
    app = make_app(ctx)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await open_compose(pilot)
        await pilot.press("f7")
        await settle(pilot)
        assert isinstance(app.screen, PasteDialog)
        await paste(pilot, latest)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is screen
        assert screen.form.valid is None
        delimiter = screen.form.field("format.csvDelimiter")
        assert error_of(delimiter) == "! must be exactly one character, got 6"
        column_id = screen.form.rows("columns")[0].fields()[0]
        assert error_of(column_id).startswith("! 'string' is not one of publisher, channel")
        # the other fields carry no error
        assert error_of(screen.form.field("periodicity")) == ""

        await pilot.press("ctrl+s")  # refused: nothing half-done is stored
        await settle(pilot)
        assert app.screen is screen
    store = ctx.open_store()
    assert store.requests.page().total == 0
    store.close()


async def test_export_writes_the_body_and_copies_it(tmp_path: Path) -> None:
    ctx = make_home(tmp_path / "home", demo=False)
    store = ctx.open_store()
    stored = store.requests.create(parse_request(hourly_body()), "tester")
    store.close()
    target = tmp_path / "out.json"
    app = make_app(ctx)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        assert isinstance(app.screen, ComposeScreen)
        await pilot.press("f8")
        await settle(pilot)
        assert isinstance(app.screen, PathPrompt)
        await pilot.press("end", "ctrl+u")
        await paste(pilot, str(target))
        await pilot.press("enter")
        await settle(pilot)
        written = target.read_text(encoding="utf-8")
        assert json.loads(written) == stored.request.to_body()
        assert app.clipboard == written
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.json")] == []
