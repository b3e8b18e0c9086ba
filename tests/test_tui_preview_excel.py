"""The preview of an Excel request shows the workbook's header row, which is not the CSV's."""

from __future__ import annotations

from pathlib import Path

import pytest
from snapshot_apps.tui_homes import days_ago, hourly_body, make_app, make_home, settle
from textual.widgets import DataTable

from exporter_tui.core.validation import parse_request
from exporter_tui.tui.screens.preview import PreviewScreen

pytestmark = pytest.mark.asyncio


async def test_the_preview_of_an_xlsx_request_has_the_workbooks_headers(tmp_path: Path) -> None:
    ctx = make_home(tmp_path / "home")
    body = hourly_body("Excel", format={**hourly_body()["format"], "extension": "xlsx"})  # Europe/Rome
    store = ctx.open_store()
    store.requests.create(parse_request(body), "tester", now=days_ago(1))
    store.close()
    app = make_app(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, PreviewScreen)
        grid = screen.query_one(".preview-table", DataTable)
        assert [str(c.label) for c in grid.columns.values()] == ["time (Europe/Rome)", "time offset", "celsius"]
        first = [str(cell) for cell in grid.get_row_at(0)]
        assert first[0].count(":") == 2 and "T" not in first[0] and first[1] in ("+01:00", "+02:00")
        title = str(screen.query_one(".table-title").render())
        assert title.endswith("exactly as the file will have them")
