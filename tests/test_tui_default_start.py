"""A new recurring request's Start: filled with the last boundary of its periodicity, said so
under the field, followed as Every and the zone change until the user types a start, and
stored as `periodStart` on save; a body without one keeps Connhex's default (creation time)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from snapshot_apps.tui_homes import TEMPERATURE, choose, fill, hourly_body, make_app, make_home, open_compose, paste, settle

from exporter_tui.core.validation import parse_request
from exporter_tui.sources.demo import DEMO_CHANNEL, DEMO_SUBTOPIC, generate_demo
from exporter_tui.tui.screens.compose import ComposeScreen
from exporter_tui.tui.screens.preview import PreviewScreen
from exporter_tui.tui.widgets.form_fields import FieldBox

pytestmark = pytest.mark.asyncio

NOW = datetime(2025, 3, 13, 14, 37, 12, tzinfo=UTC)  # a Thursday


def start_box(screen: ComposeScreen) -> FieldBox:
    return screen.form.field("periodStart")


def note(box: FieldBox) -> str:
    return str(box.note_line.render()) if box.note_line.has_class("-shown") else ""


@pytest.mark.parametrize(
    ("every", "shown", "rule"),
    [
        ("P1D", "2025-03-13T00:00:00Z", "the last midnight"),
        ("P1W", "2025-03-10T00:00:00Z", "Monday 00:00"),
        ("P1M", "2025-03-01T00:00:00Z", "the 1st of the month"),
        ("P1Y", "2025-01-01T00:00:00Z", "1 January"),
        ("PT1H", "2025-03-13T14:00:00Z", "the last whole hour"),
        ("PT15M", "2025-03-13T14:00:00Z", "the last whole hour"),
        ("PT10S", "2025-03-13T14:00:00Z", "the last whole hour"),
    ],
)
async def test_start_follows_every_on_the_apps_clock(tmp_path: Path, every: str, shown: str, rule: str) -> None:
    app = make_app(make_home(tmp_path / "home", demo=False), clock=lambda: NOW)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await open_compose(pilot)
        await fill(pilot, screen.form.field("periodicity").control, every)
        box = start_box(screen)
        assert box.raw() == shown
        assert note(box) == f"default: {rule} in UTC (Every {every}); type another start to change it"
        assert screen.form.read_form()[0]["periodStart"] == datetime.fromisoformat(shown).timestamp()


async def test_start_follows_the_zone_and_the_type_until_the_user_types_one(tmp_path: Path) -> None:
    app = make_app(make_home(tmp_path / "home", demo=False), clock=lambda: datetime(2025, 3, 13, 23, 30, tzinfo=UTC))
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await open_compose(pilot)
        box = start_box(screen)
        assert box.raw() == "2025-03-13T00:00:00Z"  # P1D, UTC: the form's defaults
        await fill(pilot, screen.form.field("format.timezone").control, "Asia/Tokyo")
        assert box.raw() == "2025-03-14T00:00:00+09:00"  # already the 14th in Tokyo
        assert "in Asia/Tokyo" in note(box)

        await choose(pilot, screen.form.field("type").control, "oneTime")
        assert box.raw() == "" and note(box) == ""  # a oneTime request runs when saved
        await choose(pilot, screen.form.field("type").control, "recurring")
        assert box.raw() == "2025-03-14T00:00:00+09:00"

        await fill(pilot, box.control, "2025-02-01T06:00")
        assert note(box) == ""
        await fill(pilot, screen.form.field("periodicity").control, "P1M")
        assert box.raw() == "2025-02-01T06:00"  # the user's start stays


async def test_save_stores_the_default_and_the_preview_of_a_new_daily_request_shows_data(tmp_path: Path) -> None:
    now = datetime(2025, 3, 9, 12, 0, tzinfo=UTC)
    ctx = make_home(tmp_path / "home", demo=False)
    generate_demo(ctx.paths.source_db, days=1, end=now)  # readings up to now: a start of now would show none
    app = make_app(ctx, clock=lambda: now)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await open_compose(pilot)
        item = screen.form.rows("items")[0]
        fields = {b.path: b for b in item.fields()}
        await fill(pilot, fields["params.target.value"].control, TEMPERATURE)
        await fill(pilot, fields["params.channelId"].control, DEMO_CHANNEL)
        await fill(pilot, fields["params.subtopic"].control, DEMO_SUBTOPIC)
        await settle(pilot)
        assert screen.form.valid is not None

        await pilot.press("f5")
        await settle(pilot)
        preview = app.screen
        assert isinstance(preview, PreviewScreen)
        titles = [str(s.render()) for s in preview.query(".table-title")]
        assert titles and titles[0].endswith("first 50 row(s), exactly as the file will have them")
        await pilot.press("escape")
        await settle(pilot)

        await pilot.press("ctrl+s")
        await settle(pilot)
        assert not isinstance(app.screen, ComposeScreen)
    with ctx.open_store() as store:
        (stored,) = store.requests.page().results
    assert stored.request.period_start == datetime(2025, 3, 9, tzinfo=UTC).timestamp()


async def test_an_imported_body_without_a_start_keeps_none(tmp_path: Path) -> None:
    """Connhex's default for a body without periodStart is its creation time; the form adds none."""
    body = hourly_body()
    del body["periodStart"]
    app = make_app(make_home(tmp_path / "home", demo=False), clock=lambda: NOW)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await open_compose(pilot)
        assert start_box(screen).raw() != ""
        await pilot.press("f7")  # paste a JSON body
        await settle(pilot)
        await paste(pilot, json.dumps(body))
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is screen
        assert start_box(screen).raw() == "" and note(start_box(screen)) == ""
        assert "periodStart" not in screen.form.read_form()[0]
        await fill(pilot, screen.form.field("periodicity").control, "P1W")
        assert start_box(screen).raw() == ""
    assert parse_request(body).period_start is None
