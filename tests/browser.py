"""A real headless Chromium driven over the Chrome DevTools Protocol, for the web view.

`web_server` runs `exporter-tui --home HOME web` on a free port; `visit_web_view` opens the page that `exporter-tui web` serves, waits for the app's main
screen, presses a key, waits for the screen it opens, and records every URL the page asked
for (documents, scripts, fonts, images, websockets). The terminal is drawn on a canvas, so its
text is read from xterm.js's buffer: a script run before the page's own keeps the first
`terminal` that textual.js assigns (a setter on Object.prototype sees that assignment).

The CDP client is aiohttp's websocket client (aiohttp comes with textual-serve).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from api_server import free_port, wait_until

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

_KEEP_TERMINAL = """
Object.defineProperty(Object.prototype, "terminal", {
  configurable: true,
  set(value) {
    Object.defineProperty(this, "terminal", {value, writable: true, configurable: true, enumerable: true});
    if (value && value.buffer && !window.__webViewTerminal) window.__webViewTerminal = value;
  },
});
"""
_READ_TERMINAL = """
(() => {
  const t = window.__webViewTerminal;
  if (!t) return "";
  const b = t.buffer.active, lines = [];
  for (let y = 0; y < t.rows; y++) { const l = b.getLine(b.viewportY + y); lines.push(l ? l.translateToString(true) : ""); }
  return lines.join("\\n");
})()
"""
_DRAWN = """
document.fonts.status === "loaded" && document.fonts.check('16px "Roboto Mono"')
  && getComputedStyle(document.querySelector(".textual-terminal")).opacity === "1"
"""
_TWO_FRAMES = "new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))"
# Chromium's own traffic (updates, sync, safe browsing) is off, so what the page loads is all there is.
_QUIET = [
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--disable-extensions",
    "--metrics-recording-only",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
]


@contextmanager
def web_server(home: Path, *extra: str) -> Iterator[str]:
    """`exporter-tui --home HOME web` on a free port; its URL once the page answers. Stopped with SIGINT, as Ctrl+C does."""
    port = free_port()
    argv = [sys.executable, "-m", "exporter_tui", "--home", str(home), "web", "--port", str(port), *extra]
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("EXPORTER_TUI_")},
    )
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        assert proc.poll() is None, f"web exited with {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}"
        try:
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(answers, timeout=60, what="the web view to answer")
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "web view on http" in out


@dataclass
class WebVisit:
    first_screen: str  # the terminal's text once the main screen was drawn
    after_key: str  # ... once the key's screen was drawn
    urls: list[str] = field(default_factory=list)  # every URL the page requested, websockets included


class Chromium:
    """One headless Chromium with a private profile; `page()` connects to its first tab."""

    def __init__(self, profile: Path, width: int = 1280, height: int = 800):
        assert CHROMIUM is not None
        profile.mkdir(parents=True, exist_ok=True)
        self.profile = profile
        args = [CHROMIUM, "--headless=new", "--remote-debugging-port=0", f"--user-data-dir={profile}", f"--window-size={width},{height}"]
        self.process = subprocess.Popen([*args, *_QUIET, "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def devtools_port(self, seconds: float = 30.0) -> int:
        """The port Chromium chose, from the DevToolsActivePort file it writes once it listens."""
        active = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"chromium exited with {self.process.returncode}: {self.process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            lines = active.read_text().splitlines() if active.exists() else []
            if len(lines) >= 2:
                return int(lines[0])
            time.sleep(0.05)  # the poll interval
        raise AssertionError("chromium never wrote DevToolsActivePort")

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        assert self.process.stderr is not None
        self.process.stderr.close()


class Page:
    """A CDP session on one tab: `send` a command and await its result; events are kept in order."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse):
        self.ws = ws
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            data = json.loads(message.data)
            if "id" in data:
                future = self.pending.pop(data["id"])
                if "error" in data:
                    future.set_exception(AssertionError(f"CDP error: {data['error']}"))
                else:
                    future.set_result(data.get("result", {}))
            else:
                self.events.append((data["method"], data.get("params", {})))

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        n = next(self.ids)
        self.pending[n] = asyncio.get_running_loop().create_future()
        await self.ws.send_json({"id": n, "method": method, "params": params})
        return await asyncio.wait_for(self.pending[n], 30)

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    async def terminal_text(self) -> str:
        return str(await self.evaluate(_READ_TERMINAL) or "")

    async def wait_for_text(self, check: Callable[[str], bool], what: str, seconds: float = 60.0) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            text = await self.terminal_text()
            if check(text):
                return text
            await asyncio.sleep(0.1)  # the poll interval
        raise AssertionError(f"never saw {what} in the browser; the terminal showed:\n{await self.terminal_text()}")

    async def wait_until_drawn(self, seconds: float = 30.0) -> None:
        """Until the font is loaded, the terminal has faded in, and two frames have been painted since."""
        deadline = time.monotonic() + seconds
        while not await self.evaluate(_DRAWN):
            assert time.monotonic() < deadline, "the terminal never finished fading in"
            await asyncio.sleep(0.05)  # the poll interval
        await self.send("Runtime.evaluate", expression=_TWO_FRAMES, awaitPromise=True)

    async def press(self, key: str, code: str, key_code: int) -> None:
        """One printable key, as a keyboard sends it to the focused terminal."""
        await self.evaluate("document.querySelector('.xterm-helper-textarea').focus()")
        common = {"key": key, "code": code, "windowsVirtualKeyCode": key_code, "nativeVirtualKeyCode": key_code}
        await self.send("Input.dispatchKeyEvent", type="keyDown", text=key, **common)
        await self.send("Input.dispatchKeyEvent", type="keyUp", **common)

    def requested_urls(self) -> list[str]:
        urls = [p["request"]["url"] for m, p in self.events if m == "Network.requestWillBeSent"]
        return urls + [p["url"] for m, p in self.events if m == "Network.webSocketCreated"]

    async def close(self) -> None:
        await self.ws.close()
        self.reader.cancel()


async def visit_web_view(
    url: str,
    profile: Path,
    *,
    main_screen: Callable[[str], bool],
    key: tuple[str, str, int],
    answered: Callable[[str], bool],
    screenshot: Path | None = None,
    width: int = 1280,
    height: int = 800,
) -> WebVisit:
    """Open `url` in a page of `width` x `height` pixels, wait for `main_screen`, press `key`, wait
    for `answered` and save a `screenshot` (PNG) of that screen."""
    browser = Chromium(profile, width, height)
    try:
        port = browser.devtools_port()
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/json/list") as r:
                targets = await r.json()
            tab = next(t for t in targets if t["type"] == "page")
            async with http.ws_connect(tab["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                page = Page(ws)
                await page.send("Network.enable")
                await page.send("Page.enable")
                await page.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
                await page.send("Page.addScriptToEvaluateOnNewDocument", source=_KEEP_TERMINAL)
                await page.send("Page.navigate", url=url)
                first = await page.wait_for_text(main_screen, "the main screen")
                await page.press(*key)
                after = await page.wait_for_text(answered, f"the answer to {key[0]!r}")
                if screenshot is not None:
                    await page.wait_until_drawn()
                    shot = await page.send("Page.captureScreenshot", format="png")
                    screenshot.write_bytes(base64.b64decode(shot["data"]))
                urls = page.requested_urls()
                await page.close()
        return WebVisit(first, after, urls)
    finally:
        browser.close()
