"""`exporter-tui web`: the same app in a browser, through textual-serve.

textual-serve starts one app process per browser tab (`app_command`, which carries this
process's home and config file) and relays its terminal over a websocket. It has no
authentication of its own, so it listens on a loopback address only; a reverse proxy with
authentication goes in front of it for anyone else (README "Web view").

Its page template links a stylesheet of Google Fonts for Roboto Mono, the terminal's font.
The page served here drops every stylesheet or script from another host and loads the same
font from the copy textual-serve ships in its static files, so a browser fetches nothing from
anywhere but this server.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
import jinja2
from aiohttp import web
from textual_serve.server import Server

from exporter_tui.config import Paths
from exporter_tui.context import Context
from exporter_tui.core.hosts import is_loopback

TITLE = "exporter-tui"

# A <link> or <script> element that loads from another host; the page keeps everything else.
_EXTERNAL_ELEMENT = re.compile(r"""<(link|script)\b[^>]*\b(?:href|src)\s*=\s*["']?(?:https?:)?//[^>]*>(?:\s*</script>)?""", re.I)
# Any load from another host left after that (an @import, a url(), an <img>): the page is refused.
_EXTERNAL_LOAD = re.compile(r"""(?:\b(?:href|src)\s*=\s*["']?|@import\s+["']?|url\(\s*["']?)(?:https?:)?//""", re.I)
_LOCAL_FONT = """\
<style>
  @font-face { font-family: "Roboto Mono"; font-style: normal; font-weight: 100 700;
    src: url("{{ config.static.url }}fonts/RobotoMono-VariableFont_wght.ttf") format("truetype"); }
  @font-face { font-family: "Roboto Mono"; font-style: italic; font-weight: 100 700;
    src: url("{{ config.static.url }}fonts/RobotoMono-Italic-VariableFont_wght.ttf") format("truetype"); }
</style>
"""


class WebRefused(ValueError):
    """web cannot start as asked (a host other machines could reach)."""


@dataclass(frozen=True)
class WebOptions:
    host: str = "127.0.0.1"
    port: int = 8760
    public_url: str | None = None  # the address browsers use, when a reverse proxy serves the page


def check_options(options: WebOptions) -> None:
    if options.public_url is not None:
        parts = urlsplit(options.public_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise WebRefused(f"--public-url {options.public_url!r} is not an http:// or https:// address, e.g. https://exports.example.com")
    if not is_loopback(options.host):
        raise WebRefused(
            f"--host {options.host} is not a loopback address; the web view has no authentication, so it listens on "
            "127.0.0.1, ::1 or localhost only: put a reverse proxy with authentication in front of it for other machines"
        )


def app_command(paths: Paths) -> str:
    """The shell command textual-serve runs for each browser tab: this app on this home and config file."""
    argv = [sys.executable, "-m", "exporter_tui"]
    if paths.home is not None:
        argv += ["--home", str(paths.home)]
    return shlex.join([*argv, "--config", str(paths.config_file)])


def public_url(options: WebOptions) -> str:
    if options.public_url:
        return options.public_url.rstrip("/")
    host = f"[{options.host}]" if ":" in options.host else options.host
    return f"http://{host}:{options.port}"


def local_page(template: str) -> str:
    """textual-serve's page template with its fonts served from here and nothing loaded from elsewhere."""
    page = _EXTERNAL_ELEMENT.sub("", template)
    leftover = _EXTERNAL_LOAD.search(page)
    if leftover:
        raise RuntimeError(f"textual-serve's page loads from another host ({page[leftover.start() : leftover.start() + 80]!r})")
    return page.replace("</head>", _LOCAL_FONT + "</head>", 1)


class _LocalPageLoader(jinja2.FileSystemLoader):
    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)
        return local_page(source), filename, uptodate


class WebServer(Server):
    """textual-serve's server with the local page, a start-up line of our own, and a prompt stop:
    Ctrl+C ends each open tab's app at once (textual-serve alone waits for the tabs to close)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tabs: set[asyncio.Task[Any]] = set()

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        task = asyncio.current_task()
        assert task is not None
        self._tabs.add(task)
        try:
            return await super().handle_websocket(request)
        finally:
            self._tabs.discard(task)

    async def on_shutdown(self, app: web.Application) -> None:
        for task in list(self._tabs):
            task.cancel()  # textual-serve then closes the websocket and quits that tab's app

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        aiohttp_jinja2.setup(app, loader=_LocalPageLoader(self.templates_path))
        return app

    async def on_startup(self, app: web.Application) -> None:
        print(f"exporter-tui web view on {self.public_url} (no authentication: this machine only); Ctrl+C stops it", flush=True)


def serve_web(ctx: Context, options: WebOptions) -> int:
    check_options(options)
    WebServer(app_command(ctx.paths), host=options.host, port=options.port, title=TITLE, public_url=public_url(options)).serve()
    return 0
