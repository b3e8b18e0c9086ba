"""The source browser and target check on the readers source, against the test readers server
(SQLite-backed): it cannot list targets, so the browser samples the newest 1000 readings of a
channel in one query and says so; each target is checked with one `limit=1` query; a source
that cannot be reached is one warning, and no key is blocked."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from readers_server import ReadersServer
from snapshot_apps.tui_homes import CONFIG, make_app, make_home, open_compose, settle
from test_tui_source_browser import items, raw, shown, wait_for
from textual.widgets import Input

from exporter_tui.core.validation import parse_request
from exporter_tui.tui.screens.compose import ComposeScreen
from exporter_tui.tui.screens.source_browser import SourceBrowser
from exporter_tui.tui.widgets.form_fields import ErrorLine

pytestmark = pytest.mark.asyncio

CH = "0115c85d-ef3e-4de9-9732-d0c5c4f2c482"
CH2 = "9b2e4c71-3f6a-4d8e-a1c5-7e0d2b9f4a36"
T0 = 1_741_478_400.0  # 2025-03-09T00:00:00Z
TOKEN = "br0wse-t0ken"


def readers_config(url: str) -> str:
    return CONFIG + f'\n[source]\nkind = "readers"\n[source.readers]\nurl = "{url}"\ntoken = "{TOKEN}"\nretries = 0\ntimeout = 5\n'


def rows() -> list[dict[str, Any]]:
    """1,500 readings on CH: 'old' only in the oldest 300 (outside the newest 1000), 'temp' and
    'hum' alternating after; 5 on CH2."""
    out: list[dict[str, Any]] = []
    for i in range(1500):
        name = "old" if i < 300 else ("temp" if i % 2 else "hum")
        out.append({"channel": CH, "subtopic": "events.data", "publisher": "p", "name": name, "unit": "Cel", "time": T0 + i, "value": 1.0})
    out += [
        {"channel": CH2, "subtopic": "other", "publisher": "p", "name": "flow", "unit": "l", "time": T0 + i, "value": 2.0} for i in range(5)
    ]
    return out


def body(channel: str, names: str) -> dict[str, Any]:
    return {
        "type": "oneTime",
        "format": {"extension": "csv"},
        "items": [{"params": {"target": {"value": names}, "channelId": channel, "subtopic": "events.data", "from": T0, "to": T0 + 3600}}],
    }


def message_queries(server: ReadersServer) -> list[dict[str, str]]:
    return [q for q, target in zip(server.query_params(), list(server.requests)) if "/messages" in target]


async def test_the_browser_samples_the_stored_and_typed_channels_and_says_it_is_a_sample(tmp_path: Path) -> None:
    with ReadersServer.from_rows(rows(), tmp_path / "readers.db", token=TOKEN) as server:
        ctx = make_home(tmp_path / "home", config=readers_config(server.url), demo=False)
        store = ctx.open_store()
        store.requests.create(parse_request(body(CH, "temp")), "tester")
        store.close()
        app = make_app(ctx)
        async with app.run_test(size=(110, 40)) as pilot:
            screen = await open_compose(pilot)
            before = len(server.requests)
            await pilot.press("ctrl+o")
            await wait_for(pilot, lambda: isinstance(app.screen, SourceBrowser) and bool(app.screen.catalog.samples), "the sample")
            browser = app.screen
            assert isinstance(browser, SourceBrowser)
            status = str(browser.query_one("#browser-status").render())
            assert f"a sample: the newest 1,000 of 1,500 readings of channel {CH}" in status
            assert "names not among them are not shown" in status
            assert message_queries(server)[before:] == [{"offset": "0", "limit": "1000"}]  # one query for the stored request's channel
            assert [(t.subtopic, t.name, t.count) for t in browser.shown] == [("events.data", "hum", 500), ("events.data", "temp", 500)]
            temp = browser.shown[1]
            assert (temp.unit, temp.first_time, temp.last_time) == ("Cel", T0 + 501, T0 + 1499)

            browser.query_one("#browser-channel", Input).focus()
            await pilot.press(*CH2, "enter")
            await wait_for(pilot, lambda: any(t.channel == CH2 for t in browser.shown), "the typed channel's sample")
            assert f"a sample: the newest 5 of 5 readings of channel {CH2}" in str(browser.query_one("#browser-status").render())
            browser.query_one("#browser-filter", Input).focus()
            await pilot.press(*"flow", "enter", "down", "space", "ctrl+s")
            await wait_for(pilot, lambda: raw(items(screen)[0], "params.target.value") == "flow", "the form filled")
            item = items(screen)[0]
            assert (raw(item, "params.channelId"), raw(item, "params.subtopic"), raw(item, "params.target.label")) == (CH2, "other", "flow")

            # the check of the picked target: one limit=1 query for it
            await wait_for(pilot, lambda: any(q.get("name") == "flow" for q in message_queries(server)), "the check")
            asked = [q for q in message_queries(server) if q.get("name") == "flow"]
            assert asked == [{"subtopic": "other", "name": "flow", "offset": "0", "limit": "1"}]
            assert "no readings" not in str(item.review.render())


async def test_a_missing_target_on_the_readers_source_warns_after_one_query_per_target(tmp_path: Path) -> None:
    with ReadersServer.from_rows(rows(), tmp_path / "readers.db", token=TOKEN) as server:
        app = make_app(make_home(tmp_path / "home", config=readers_config(server.url), demo=False))
        async with app.run_test(size=(110, 40)) as pilot:
            await settle(pilot)
            screen = ComposeScreen("new", body(CH, "temp,nothing"))
            await app.push_screen(screen)
            item = items(screen)[0]
            await wait_for(pilot, lambda: "no readings" in str(item.review.render()), "the warning")
            assert "nothing  ! no readings on this channel/subtopic yet" in str(item.review.render())
            assert sorted(q["name"] for q in message_queries(server) if q.get("limit") == "1" and "name" in q) == ["nothing", "temp"]
            assert screen.form.valid is not None


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_an_unreachable_readers_source_is_one_warning_and_blocks_no_key(tmp_path: Path) -> None:
    ctx = make_home(tmp_path / "home", config=readers_config(f"http://127.0.0.1:{closed_port()}"), demo=False)
    app = make_app(ctx)
    async with app.run_test(size=(110, 40)) as pilot:
        await settle(pilot)
        screen = ComposeScreen("new", body(CH, "temp,hum,flow"))
        await app.push_screen(screen)
        warning = screen.query_one("#targets-warning", ErrorLine)
        await wait_for(pilot, lambda: shown(warning) != "", "the warning")
        assert shown(warning).startswith("! cannot check the targets against the source: readers API GET")
        assert "no readings" not in str(items(screen)[0].review.render())
        assert len(screen.query(".-shown").filter(".row-error")) == 0 and screen.form.valid is not None
        assert not any("Check targets" in line for line in app.main_screen.log_pane.lines_text)  # no error was reported

        await pilot.press("ctrl+o")
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, SourceBrowser) and "cannot sample" in str(app.screen.query_one("#browser-status").render()),
            "the browser",
        )
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is app.main_screen, "the save")
    stored = ctx.open_store().requests.page().results
    assert [s.request.items[0].params.target.value for s in stored] == ["temp,hum,flow"]


async def test_leaving_the_browser_while_it_samples_drops_the_sample_and_keeps_the_form(tmp_path: Path) -> None:
    with ReadersServer.from_rows(rows(), tmp_path / "readers.db", token=TOKEN, mode="slow", slow_seconds=3.0) as server:
        app = make_app(make_home(tmp_path / "home", config=readers_config(server.url), demo=False))
        async with app.run_test(size=(110, 40)) as pilot:
            await settle(pilot)
            screen = ComposeScreen("new", body(CH, "temp"))
            await app.push_screen(screen)
            await pilot.press("ctrl+o")
            await wait_for(pilot, lambda: isinstance(app.screen, SourceBrowser), "the browser")
            browser = app.screen
            assert [w.state.name for w in app.workers if w.group == "browse"] == ["RUNNING"]  # the server waits 3 s
            await pilot.press("escape")
            await pilot.pause()
            assert app.screen is screen and not browser.is_attached
            server.mode = "ok"
            await wait_for(
                pilot, lambda: not [w for w in app.workers if w.group in ("browse", "target-check") and w.is_running], "the workers"
            )
            assert raw(items(screen)[0], "params.target.value") == "temp"
            assert not any("Source browser" in line for line in app.main_screen.log_pane.lines_text)
