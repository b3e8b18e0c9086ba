"""Compose a request field by field in the TUI, watch a validation error come and go, save it,
run it, and read the written file back against the source."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from snapshot_apps.tui_homes import TEMPERATURE, choose, fill, make_app, make_home, open_compose, settle

from exporter_tui.sources.base import ReadQuery
from exporter_tui.sources.demo import DEMO_CHANNEL, DEMO_SUBTOPIC
from exporter_tui.sources.embedded import EmbeddedSource
from exporter_tui.tui.screens.compose import ComposeScreen
from exporter_tui.tui.widgets.form_fields import ErrorLine, FieldBox
from exporter_tui.tui.widgets.list_editors import ColumnRow, ItemEditor

pytestmark = pytest.mark.asyncio

WINDOW_FROM = datetime(2025, 3, 9, 0, 0, tzinfo=UTC)
WINDOW_TO = datetime(2025, 3, 9, 0, 30, tzinfo=UTC)


def error_of(box: FieldBox) -> str:
    line = box.query_one(ErrorLine)
    return str(line.render()) if line.has_class("-shown") else ""


def box(screen: ComposeScreen, path: str, row: ItemEditor | ColumnRow | None = None) -> FieldBox:
    boxes = row.fields() if row is not None else screen.form.top_fields()
    return next(b for b in boxes if b.path == path)


async def test_compose_save_run_and_read_the_file(tmp_path: Path) -> None:
    ctx = make_home(tmp_path / "home")
    app = make_app(ctx)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await open_compose(pilot)

        await fill(pilot, box(screen, "name").control, "Half hour of temperature")
        every = box(screen, "periodicity")
        await fill(pilot, every.control, "P1X")
        assert "'P1X' is not an ISO 8601 duration" in error_of(every)
        assert screen.form.valid is None
        await fill(pilot, every.control, "P1D")
        assert error_of(every) == ""
        await fill(pilot, box(screen, "periodStart").control, "2025-03-01T00:00")
        await fill(pilot, box(screen, "format.timezone").control, "Europe/Rome")

        for column_id, label in (("time", "when"), ("value", "celsius")):
            screen.query_one("#add-column").focus()
            await pilot.press("enter")
            await pilot.pause()
            row = screen.form.rows("columns")[-1]
            await choose(pilot, box(screen, "id", row).control, column_id)
            await fill(pilot, box(screen, "label", row).control, label)

        item = screen.form.rows("items")[0]
        await fill(pilot, box(screen, "params.target.value", item).control, TEMPERATURE)
        await fill(pilot, box(screen, "params.target.label", item).control, "temperature")
        await fill(pilot, box(screen, "params.channelId", item).control, DEMO_CHANNEL)
        await fill(pilot, box(screen, "params.subtopic", item).control, DEMO_SUBTOPIC)
        start = box(screen, "params.from", item)
        await fill(pilot, start.control, "yesterday")
        assert "'yesterday' is not an ISO 8601 date-time" in error_of(start)
        await fill(pilot, start.control, "2025-03-09T00:00:00Z")
        assert error_of(start) == ""
        await fill(pilot, box(screen, "params.to", item).control, str(int(WINDOW_TO.timestamp())))
        await fill(pilot, box(screen, "filename", item).control, "half-hour")
        assert screen.form.valid is not None, screen.query_one("#summary").render()

        await pilot.press("ctrl+s")
        await settle(pilot)
        assert not isinstance(app.screen, ComposeScreen)

        stored = ctx.open_store().requests.page().results
        assert len(stored) == 1
        body = stored[0].request.to_body()
        assert body["name"] == "Half hour of temperature"
        assert body["format"]["columns"] == [{"id": "time", "label": "when"}, {"id": "value", "label": "celsius"}]
        assert body["items"][0]["params"]["from"] == WINDOW_FROM.timestamp()
        # typed without an offset, so read in the request's zone (Rome is UTC+1 in March)
        assert body["periodStart"] == datetime(2025, 2, 28, 23, 0, tzinfo=UTC).timestamp()
        assert app.main_screen.requests_table.selected_key() == stored[0].id

        await pilot.press("r")
        await settle(pilot)
        runs = app.main_screen.runs
        assert [r.status for r in runs] == ["done"]
        assert runs[0].rows == 30
        assert "done" in "\n".join(app.main_screen.log_pane.lines_text)

        path = Path(runs[0].file_path)
        assert path.exists() and path.name == "half-hour_20250309T000000Z.csv"
        with path.open(newline="", encoding="utf-8") as f:
            written = list(csv.reader(f))

    with EmbeddedSource(ctx.paths.source_db) as source:
        target = next(t for t in source.targets() if t.name == TEMPERATURE)
        frames = source.read(ReadQuery(target.channel, target.subtopic, TEMPERATURE, WINDOW_FROM.timestamp(), WINDOW_TO.timestamp()))
        expected = [(t, v) for frame in frames for t, v in zip(frame["time"], frame["value"])]
    rome = ZoneInfo("Europe/Rome")
    assert written[0] == ["when", "celsius"]
    assert len(written) == 1 + 30 == 1 + len(expected)
    first_local = (WINDOW_FROM + timedelta(minutes=0)).astimezone(rome).isoformat()
    assert written[1][0] == first_local == "2025-03-09T01:00:00+01:00"
    for (when, value), (t, v) in zip(written[1:], expected):
        assert when == datetime.fromtimestamp(t, rome).isoformat()
        assert float(value) == v
