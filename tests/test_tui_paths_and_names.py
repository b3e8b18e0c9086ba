"""A run's file path reads whole in the log pane and copies whole with `y`; the requests table
names each request, so a clone can be told from its original."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from snapshot_apps.tui_homes import CONFIG, days_ago, hourly_body, make_app, make_home, settle

from exporter_tui.core.validation import parse_request
from exporter_tui.tui.widgets.log_pane import LogPane

pytestmark = pytest.mark.asyncio


def pane_rows(app: Any, pane: LogPane) -> list[str]:
    """The text the terminal shows inside the pane, row by row (what is under the scrollbar excluded)."""
    region = pane.scrollable_content_region
    strips = app.screen._compositor.render_strips()  # the composed screen, as the terminal gets it
    return [strips[y].crop(region.x, region.right).text for y in range(region.y, region.bottom)]


async def all_log_text(pilot: Any, pane: LogPane) -> str:
    """Every row of the pane, scrolled through a page at a time, joined without the wrap breaks."""
    rows: dict[int, str] = {}
    page = pane.scrollable_content_region.height
    top = 0
    while True:
        pane.scroll_to(y=top, animate=False)
        await pilot.pause()
        at = int(pane.scroll_y)
        for i, text in enumerate(pane_rows(pilot.app, pane)):
            rows[at + i] = text.rstrip()
        if at >= pane.max_scroll_y:
            break
        top = at + page
    return "".join(rows[i] for i in sorted(rows))


async def test_a_long_file_path_reads_whole_in_the_log_and_copies_whole(tmp_path: Path) -> None:
    deep = tmp_path / ("p" * 120) / ("q" * 120)
    ctx = make_home(tmp_path / "home", config=CONFIG + f'\n[exports]\ndir = "{deep}"\n')
    store = ctx.open_store()
    stored = store.requests.create(parse_request(hourly_body("Daily temperature")), "tester", now=days_ago(1))
    app = make_app(ctx)
    async with app.run_test(size=(80, 40)) as pilot:
        await settle(pilot)
        await pilot.press("r")  # run it now: the done line in the log names the file
        await settle(pilot)
        [run] = store.runs.page(1, 10, request_id=stored.id).results
        path = run.file_path
        assert path is not None and len(path) >= 300 and Path(path).is_file()
        pane = app.main_screen.log_pane
        for i in range(30):  # enough lines after it that the pane needs its scrollbar
            app.log_event(app.event("info", f"line {i}"))
        await settle(pilot)
        assert pane.max_scroll_y > 0
        assert path in await all_log_text(pilot, pane)

        await pilot.press("y")
        await settle(pilot)
        assert app.clipboard == path


async def test_a_narrower_terminal_rewraps_the_log(tmp_path: Path) -> None:
    ctx = make_home(tmp_path / "home", demo=False)
    app = make_app(ctx)
    long_name = "/".join(["exports"] + [f"segment{i:03d}" for i in range(30)]) + ".csv"
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.log_event(app.event("done", f"run 1234abcd done: 3 rows -> {long_name}"))
        await settle(pilot)
        await pilot.resize_terminal(60, 30)
        await settle(pilot)
        assert long_name in await all_log_text(pilot, app.main_screen.log_pane)


async def test_y_without_a_file_says_so(tmp_path: Path) -> None:
    ctx = make_home(tmp_path / "home", demo=False)
    app = make_app(ctx)
    async with app.run_test() as pilot:
        await settle(pilot)
        app.copy_to_clipboard("before")
        await pilot.press("y")
        await settle(pilot)
        assert app.clipboard == "before"


async def test_the_requests_table_names_a_clone_apart_from_its_original(tmp_path: Path) -> None:
    ctx = make_home(tmp_path / "home", demo=False)
    store = ctx.open_store()
    original = store.requests.create(parse_request(hourly_body("Night temperature")), "tester", now=days_ago(2))
    store.close()
    app = make_app(ctx)
    async with app.run_test(size=(60, 20)) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        table = app.main_screen.requests_table
        names = {key: cells["name"] for key, cells in table.rows_data}
        assert names[original.id] == "Night temperature"
        [clone] = [key for key in names if key != original.id]
        assert names[clone] == "Copy of Night temperature"
        headers = [str(column.label) for column in table.columns.values()]
        assert headers[:2] == ["ID", "NAME"] and headers[-1] == "LAST"  # all three fit at 60 columns
        assert sum(column.get_render_width(table) for column in table.columns.values()) <= table.scrollable_content_region.width
