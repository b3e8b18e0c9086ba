"""The form speaks in its own words: errors name the labels the user sees ("Item 1, Subtopic"),
never a JSON path, under the fields, in the summary and in the toast; every placeholder starts
with "e.g. ", so without colour (NO_COLOR) it still reads as an example, not as a value."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from snapshot_apps.tui_homes import choose, fill, make_app, make_home, open_compose, settle

from exporter_tui.tui.screens.compose import ComposeScreen
from exporter_tui.tui.screens.dialogs import PathPrompt
from exporter_tui.tui.widgets.form_fields import ErrorLine
from exporter_tui.tui.widgets.list_editors import ColumnRow

pytestmark = pytest.mark.asyncio
JSON_PATH = re.compile(r"items\[|params\.|format\.|notification\.|\w+\[\d+\]")


def shown_errors(screen: ComposeScreen) -> list[str]:
    return [str(line.render()) for line in screen.query(ErrorLine) if line.has_class("-shown")]


async def test_errors_name_the_forms_labels_under_the_fields_in_the_summary_and_in_the_toast(tmp_path: Path) -> None:
    app = make_app(make_home(tmp_path / "home", demo=False))
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await open_compose(pilot)
        await fill(pilot, screen.form.field("periodicity").control, "PX")
        for column_id in ("time", "time"):
            screen.query_one("#add-column").focus()
            await pilot.press("enter")
            await pilot.pause()
            await choose(pilot, screen.form.rows("columns")[-1].fields()[0].control, column_id)
        await pilot.press("ctrl+s")  # refused: every error shows, with a toast
        await settle(pilot)

        assert isinstance(app.screen, ComposeScreen)
        problems = screen.form.problems
        assert "Every: 'PX' is not an ISO 8601 duration (e.g. P1D, PT15M, P1Y6M4DT12H30M5S)" in problems
        assert "Item 1, Subtopic: must not be empty" in problems or "Item 1, Subtopic: is required" in problems
        assert any(p.startswith("Item 1, Channel id: ") for p in problems)
        assert any(p.startswith("Item 1, Targets: ") for p in problems)
        assert "Column 2, Label: is required" in problems
        summary = str(screen.query_one("#summary").render())
        assert summary.startswith(f"Not valid yet: {len(problems)} problem(s). ")
        toasts = [n.message for n in app._notifications]
        assert any(f"First: {problems[0]}." in t for t in toasts)

        second = screen.form.rows("columns")[1]
        assert isinstance(second, ColumnRow)
        assert str(second.fields()[1].error_line.render()) == "! is required"  # under the field: the reason alone
        for text in [*problems, summary, *toasts, *shown_errors(screen)]:
            assert not JSON_PATH.search(text), text


async def test_every_placeholder_reads_as_an_example_also_without_colour(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    from textual.widgets import Input

    app = make_app(make_home(tmp_path / "home", demo=False))
    async with app.run_test(size=(100, 40)) as pilot:
        assert app.no_color
        await settle(pilot)
        placeholders = [i.placeholder for i in app.screen.query(Input)]
        screen = await open_compose(pilot)
        for button in ("#add-column", "#add-message"):
            screen.query_one(button).focus()
            await pilot.press("enter")
            await pilot.pause()
        placeholders += [i.placeholder for i in screen.query(Input)]
        screen.action_import_file()
        await settle(pilot)
        assert isinstance(app.screen, PathPrompt)
        app.screen.query_one(Input).value = ""
        placeholders += [i.placeholder for i in app.screen.query(Input)]
        await pilot.press("escape")
        await settle(pilot)

        given = [p for p in placeholders if p]
        assert len(given) >= 20
        assert [p for p in given if not p.startswith("e.g. ")] == []
        # what the terminal shows for an empty field, without colour: the example, marked as one
        item = screen.form.rows("items")[0]
        subtopic = next(b for b in item.fields() if b.path == "params.subtopic")
        subtopic.scroll_visible()
        await settle(pilot)
        assert "e.g. events.data" in app.export_screenshot().replace("&#160;", " ")
