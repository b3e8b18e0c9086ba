"""The compose form's source browser and target check on the embedded demo source: pick targets
instead of typing them, across channel/subtopic pairs and past target.value's length cap; a
target with no readings is a warning that never blocks Save, and the preview names it."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from snapshot_apps.tui_homes import DEMO_END, TEMPERATURE, choose, fill, hourly_body, make_app, make_home, open_compose, settle
from textual.widgets import Input

from exporter_tui.core.models import TARGET_VALUE_MAX
from exporter_tui.sources.demo import DEMO_CHANNEL, DEMO_DEVICE, DEMO_SUBTOPIC, demo_target
from exporter_tui.sources.embedded import write_readings
from exporter_tui.tui.screens.compose import ComposeScreen
from exporter_tui.tui.screens.preview import PreviewScreen
from exporter_tui.tui.screens.source_browser import SourceBrowser
from exporter_tui.tui.widgets.form_fields import ErrorLine
from exporter_tui.tui.widgets.list_editors import ItemEditor

pytestmark = pytest.mark.asyncio

BATTERY = demo_target(DEMO_DEVICE, "battery")
PRESSURE = demo_target(DEMO_DEVICE, "pressure")  # the demo has no such metric
STATUS = "events.status"


async def wait_for(pilot: Any, ready: Callable[[], bool], what: str, seconds: float = 30.0) -> None:
    """Let the app work until `ready()` holds (workers, timers, messages), failing after `seconds`."""
    deadline = time.monotonic() + seconds
    while not ready():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await settle(pilot)
        await pilot.pause(0.05)


def items(screen: ComposeScreen) -> list[ItemEditor]:
    return [row for row in screen.form.rows("items") if isinstance(row, ItemEditor)]


def raw(item: ItemEditor, path: str) -> Any:
    return item.box(path).raw()


def shown(line: ErrorLine) -> str:
    return str(line.render()) if line.has_class("-shown") else ""


async def open_browser(pilot: Any) -> SourceBrowser:
    await pilot.press("ctrl+o")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, SourceBrowser) and pilot.app.screen.catalog.targets != [], "the browser")
    return pilot.app.screen


def table_names(browser: SourceBrowser) -> list[str]:
    return [t.name for t in browser.shown]


async def test_filter_and_pick_across_two_subtopics_make_two_items_the_second_copying_the_window(tmp_path: Path) -> None:
    ctx = make_home(tmp_path / "home")
    write_readings(
        ctx.paths.source_db,
        [
            {
                "channel": DEMO_CHANNEL,
                "subtopic": STATUS,
                "name": BATTERY,
                "unit": "%",
                "time": DEMO_END.timestamp() - 60 * i,
                "value": 90.0,
            }
            for i in range(3)
        ],
    )
    app = make_app(ctx)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await open_compose(pilot)
        first = items(screen)[0]
        await fill(pilot, first.box("params.from").control, "2025-03-09T00:00:00Z")
        await fill(pilot, first.box("params.to").control, "2025-03-09T06:00:00Z")
        await fill(pilot, first.box("params.decimation.ds").control, "15m")
        await choose(pilot, first.box("params.decimation.dsf").control, "max")
        first.box("params.target.value").focus_control()
        await pilot.pause()

        browser = await open_browser(pilot)
        assert len(browser.shown) == 21  # 20 demo targets and the battery
        await pilot.press(*"FDAB1 ")
        await settle(pilot)
        assert browser.query_one("#browser-filter", Input).value == "FDAB1 "  # a space in the filter is typed, not a pick
        assert table_names(browser) == sorted(demo_target(DEMO_DEVICE, m) for m in ("energy", "humidity", "onoff", "temperature")) + [
            BATTERY
        ]
        await pilot.press("enter")  # to the list: the first row is the group events.data
        await pilot.press("space")  # picks the whole group as filtered
        await pilot.press(*["down"] * 6, "space")  # past four targets and the events.status group: the battery
        await settle(pilot)
        assert "5 picked in 2 channel/subtopic pair(s)" in str(browser.query_one("#browser-picked").render())
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: len(items(screen)) == 2, "two items")

        data, status = items(screen)
        assert raw(data, "params.target.value") == ",".join(table_names(browser)[:4])
        assert raw(data, "params.target.label") == "energy,humidity,onoff,temperature"
        assert (raw(data, "params.channelId"), raw(data, "params.subtopic")) == (DEMO_CHANNEL, DEMO_SUBTOPIC)
        assert (raw(status, "params.target.value"), raw(status, "params.target.label")) == (BATTERY, "battery")
        assert (raw(status, "params.channelId"), raw(status, "params.subtopic")) == (DEMO_CHANNEL, STATUS)
        for path in ("params.from", "params.to", "params.decimation.ds", "params.decimation.dsf"):
            assert raw(status, path) == raw(data, path), path
        assert raw(status, "params.decimation.dsf") == "max"
        review = str(data.review.render())
        assert "4 targets:" in review and all(name in review for name in table_names(browser)[:4])
        body = screen.form.read_form()[0]
        assert [i["params"]["subtopic"] for i in body["items"]] == [DEMO_SUBTOPIC, STATUS]


async def test_a_long_pick_is_split_into_items_within_the_length_cap(tmp_path: Path) -> None:
    ctx = make_home(tmp_path / "home")
    names = [f"urn:example:site:{i:03}:{'meter' * 10}:flow" for i in range(120)]
    write_readings(
        ctx.paths.source_db,
        [{"channel": DEMO_CHANNEL, "subtopic": "bulk", "name": n, "time": DEMO_END.timestamp(), "value": 1.0} for n in names],
    )
    assert len(",".join(names)) > 2 * TARGET_VALUE_MAX
    app = make_app(ctx)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await open_compose(pilot)
        browser = await open_browser(pilot)
        await pilot.press(*"bulk", "enter", "space", "ctrl+s")
        await wait_for(pilot, lambda: len(items(screen)) == 3, "three items")
        values = [raw(item, "params.target.value") for item in items(screen)]
        labels = [raw(item, "params.target.label") for item in items(screen)]
        assert all(len(v) <= TARGET_VALUE_MAX for v in values + labels)
        assert ",".join(values).split(",") == names
        for value, label in zip(values, labels):
            assert len(label.split(",")) == len(value.split(",")) == len(set(label.split(",")))
        assert {raw(item, "params.subtopic") for item in items(screen)} == {"bulk"}
        assert all(f"{n}" in str(items(screen)[0].review.render()) for n in values[0].split(","))
        assert browser not in app.screen_stack


async def test_a_new_item_copies_from_to_and_decimation_from_the_one_before(tmp_path: Path) -> None:
    app = make_app(make_home(tmp_path / "home", demo=False))
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await open_compose(pilot)
        first = items(screen)[0]
        await fill(pilot, first.box("params.from").control, "2025-03-01T00:00")
        await fill(pilot, first.box("params.to").control, "2025-03-02T00:00")
        await fill(pilot, first.box("params.decimation.ds").control, "1h")
        await choose(pilot, first.box("params.decimation.dsf").control, "min")
        await fill(pilot, first.box("params.period").control, "P1D")
        screen.query_one("#add-item").focus()
        await pilot.press("enter")
        await settle(pilot)
        second = items(screen)[1]
        assert [raw(second, p) for p in ("params.from", "params.to", "params.decimation.ds", "params.decimation.dsf")] == [
            "2025-03-01T00:00",
            "2025-03-02T00:00",
            "1h",
            "min",
        ]
        assert raw(second, "params.period") == "" and raw(second, "params.target.value") == ""


def missing_body() -> dict[str, Any]:
    body = hourly_body("With a missing target")
    body["items"][0]["params"]["target"] = {"value": f"{TEMPERATURE},{PRESSURE}", "label": "temperature,pressure"}
    return body


async def test_a_target_without_readings_is_a_warning_and_save_still_stores_the_request(tmp_path: Path) -> None:
    ctx = make_home(tmp_path / "home")
    app = make_app(ctx)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        screen = ComposeScreen("new", missing_body())
        await app.push_screen(screen)
        item = items(screen)[0]
        await wait_for(pilot, lambda: "no readings" in str(item.review.render()), "the warning")
        review = str(item.review.render())
        assert f"{PRESSURE} -> pressure  ! no readings on this channel/subtopic yet" in review
        assert f"{TEMPERATURE} -> temperature\n" in review  # it has readings: no warning
        assert "1 target(s) with no readings in the source" in review
        assert shown(screen.query_one("#targets-warning", ErrorLine)) == ""
        assert screen.form.valid is not None and screen.form.summary_text.startswith("Valid.")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is app.main_screen, "the save")
    stored = ctx.open_store().requests.page().results
    assert [s.request.items[0].params.target.value for s in stored] == [f"{TEMPERATURE},{PRESSURE}"]


async def test_the_preview_names_the_target_that_had_no_rows(tmp_path: Path) -> None:
    app = make_app(make_home(tmp_path / "home"))
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await app.push_screen(ComposeScreen("new", missing_body()))
        await settle(pilot)
        await pilot.press("f5")
        await wait_for(pilot, lambda: isinstance(app.screen, PreviewScreen) and bool(app.screen.query(".table-title")), "the preview")
        said = [str(s.render()) for s in app.screen.query(".preview-error")]
        assert f"no rows in the window for item 1: pressure ({PRESSURE})" in said
        assert f"no rows in the window for item 1: pressure ({PRESSURE}) (nothing to plot)" in said
        assert not any("temperature" in s for s in said)


async def test_the_browser_key_is_remappable_and_the_empty_targets_field_names_the_key_in_force(tmp_path: Path) -> None:
    from snapshot_apps.tui_homes import CONFIG

    app = make_app(make_home(tmp_path / "home", config=CONFIG + '\n[tui.bindings]\nbrowse_source = "f4"\n'))
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await open_compose(pilot)
        assert str(items(screen)[0].review.render()) == "f4: pick targets from the source"
        await pilot.press("ctrl+o")
        await settle(pilot)
        assert app.screen is screen
        await pilot.press("f4")
        await wait_for(pilot, lambda: isinstance(app.screen, SourceBrowser), "the browser")
        assert not any("no such binding id" in line for line in app.main_screen.log_pane.lines_text)
