"""`exporter-tui web`: the app in a browser through textual-serve, on loopback only, loading
nothing from other hosts; driven once in a real headless Chromium."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import httpx
import pytest
from api_server import free_port
from browser import CHROMIUM, visit_web_view, web_server
from snapshot_apps.tui_homes import days_ago, hourly_body, make_home

from exporter_tui.context import Context
from exporter_tui.core.validation import parse_request

pytestmark = pytest.mark.slow  # starts the web server and its app processes

NEEDS_CHROMIUM = pytest.mark.skipif(
    CHROMIUM is None and os.environ.get("CI") != "true", reason="chromium is not installed (CI installs it and runs this)"
)


def web_home(root: Path) -> Context:
    ctx = make_home(root)
    with ctx.open_store() as store:
        store.requests.create(parse_request(hourly_body("Web temperature")), "tester", now=days_ago(1))
    return ctx


def app_processes(home: Path) -> list[int]:
    """The app processes running on `home` (their command line names it)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if proc.name.isdigit() and str(home).encode() in argv and b"web" not in argv:
            found.append(int(proc.name))
    return found


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "example.com"])
def test_a_host_other_machines_reach_is_refused(cli, host: str) -> None:
    r = cli("web", "--host", host, "--port", str(free_port()))
    assert r.code == 2
    assert f"--host {host} is not a loopback address" in r.err
    assert "no authentication" in r.err and "reverse proxy" in r.err


@pytest.mark.parametrize("url", ["exports.example.com", "ftp://exports.example.com", "https://"])
def test_a_public_url_that_is_no_web_address_is_refused(cli, url: str) -> None:
    r = cli("web", "--public-url", url, "--port", str(free_port()))
    assert r.code == 2 and f"--public-url {url!r} is not an http:// or https:// address" in r.err


def test_the_page_loads_nothing_from_another_host(tmp_path: Path) -> None:
    ctx = web_home(tmp_path / "home")
    with web_server(ctx.paths.data_dir) as url:
        page = httpx.get(url, timeout=10).text
        loads = re.findall(r"""(?:href|src)=["']([^"']+)|url\(["']?([^"')]+)""", page)
        urls = [a or b for a, b in loads]
        assert urls and all(u.startswith(f"{url}/static/") for u in urls), urls
        assert "fonts.googleapis.com" not in page
        assert f"{url}/static/fonts/RobotoMono-VariableFont_wght.ttf" in urls  # the terminal's font, from here
        for u in urls:
            assert httpx.get(u, timeout=10).status_code == 200, u


def test_behind_a_reverse_proxy_the_page_points_at_the_public_url(tmp_path: Path) -> None:
    ctx = web_home(tmp_path / "home")
    with web_server(ctx.paths.data_dir, "--public-url", "https://exports.example.com/") as url:
        page = httpx.get(url, timeout=10).text
    assert 'src="https://exports.example.com/static/js/textual.js"' in page
    assert 'data-session-websocket-url="wss://exports.example.com/ws"' in page
    assert "127.0.0.1" not in page


def test_a_browser_tab_gets_the_app_on_this_home_and_leaves_no_process_behind(tmp_path: Path) -> None:
    """The websocket textual-serve relays carries the app opened on this home (its request is
    listed); closing the tab ends that app, and so does stopping `web` with a tab still open."""
    ctx = web_home(tmp_path / "home")
    home = ctx.paths.data_dir

    async def screen_of(ws: aiohttp.ClientWebSocketResponse) -> str:
        seen = b""
        async with asyncio.timeout(60):
            while b"Web temperature" not in seen:
                message = await ws.receive()
                assert message.type == aiohttp.WSMsgType.BINARY, message
                seen += message.data
        return seen.decode("utf-8", "replace")

    async def until_closed(ws: aiohttp.ClientWebSocketResponse) -> None:
        async with asyncio.timeout(30):
            while (await ws.receive()).type not in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                pass

    async def until_no_app() -> None:
        async with asyncio.timeout(30):
            while app_processes(home):
                await asyncio.sleep(0.05)  # the poll interval

    async def visits() -> None:
        server = web_server(home)
        url = server.__enter__()
        async with aiohttp.ClientSession() as http:
            tab = f"{url.replace('http', 'ws', 1)}/ws?width=120&height=40"
            async with http.ws_connect(tab) as ws:
                assert "Requests (1)" in await screen_of(ws)
                assert len(app_processes(home)) == 1
            await until_no_app()  # the tab closed
            async with http.ws_connect(tab) as still_open:
                await screen_of(still_open)
                # Ctrl+C (SIGINT) while the tab is open and reading, as a browser's is: the server closes it
                closed = asyncio.ensure_future(until_closed(still_open))
                await asyncio.to_thread(server.__exit__, None, None, None)
                await closed
            await until_no_app()  # web stopped

    asyncio.run(visits())


@NEEDS_CHROMIUM
def test_the_web_view_in_a_real_chromium(tmp_path: Path) -> None:
    ctx = web_home(tmp_path / "home")
    with web_server(ctx.paths.data_dir) as url:
        visit = asyncio.run(
            visit_web_view(
                url,
                tmp_path / "chromium",
                main_screen=lambda s: "Requests (1)" in s and "NAME" in s and "Web temperature" in s,
                key=("h", "KeyH", 72),
                answered=lambda s: "Run history" in s,
                screenshot=tmp_path / "web.png",
            )
        )
    assert "Requests (1)" not in visit.after_key  # the history screen replaced the main one
    assert (tmp_path / "web.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    hosts = {urlsplit(u).hostname for u in visit.urls}
    assert hosts == {"127.0.0.1"}, visit.urls
    assert any(u.startswith("ws://127.0.0.1") for u in visit.urls)  # the terminal's websocket came from here too


def test_a_page_template_that_would_load_from_another_host_is_not_served() -> None:
    """Should a textual-serve release add a load this module does not know, the page is refused, not served leaking."""
    from exporter_tui.tui.web import local_page

    page = local_page('<head><link rel="stylesheet" href="https://fonts.example/css" /></head>')
    assert "fonts.example" not in page and "RobotoMono-VariableFont_wght.ttf" in page
    with pytest.raises(RuntimeError, match="loads from another host"):
        local_page('<head><style>@import "https://cdn.example/x.css";</style></head>')
