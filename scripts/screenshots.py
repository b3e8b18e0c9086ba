"""Write an SVG of every screen of the TUI into screenshots/, at 60x20, 80x24 and 120x40, and
web.png, the web view's run history in a headless Chromium (when chromium is installed).

    .venv/bin/python scripts/screenshots.py [--out screenshots] [--sizes 60x20,80x24,120x40] [--no-web]

The web view runs `exporter-tui web` on the same home, with the real clock (its next-run and
log times differ from one run to the next). The app runs headless (App.run_test) on a throwaway home with three days of demo data, a
fixed clock and counter ids, the same fixtures the snapshot tests use, so the pictures only
change when the screens do.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

# The demo homes live with the tests, so they are importable only after the path above.
from browser import CHROMIUM, visit_web_view, web_server
from snapshot_apps.tui_homes import (
    FIXED_NOW,
    SequentialIds,
    days_ago,
    hourly_body,
    make_app,
    make_home,
    no_blink,
    settle,
)

import exporter_tui.store.family as store_family
from exporter_tui.core.enums import Origin
from exporter_tui.core.validation import parse_request
from exporter_tui.service.runs import run_now

Step = Callable[[Any], Awaitable[None]]


async def keys(pilot: Any, *names: str) -> None:
    await pilot.press(*names)
    await settle(pilot)


async def tab(pilot: Any, tabs: str, pane: str) -> None:
    pilot.app.screen.query_one(tabs).active = pane
    await settle(pilot)


async def compose_with_error(pilot: Any) -> None:
    await keys(pilot, "n")
    screen = pilot.app.screen
    screen.form.field("name").control.focus()
    await keys(pilot, *"Night temperature")
    screen.form.field("periodicity").control.focus()
    await keys(pilot, "end", "backspace", "X", "tab")


async def compose_buttons(pilot: Any) -> None:
    await keys(pilot, "n")
    pilot.app.screen.query_one("#form").scroll_end(animate=False)
    await settle(pilot)


async def compose_item(pilot: Any) -> None:
    await keys(pilot, "e")
    item = pilot.app.screen.form.rows("items")[0]
    item.scroll_visible(top=True, animate=False)
    item.fields()[0].control.focus()
    await settle(pilot)


async def source_browser(pilot: Any) -> None:
    """The browser opened from the first item, filtered to temperatures, two of them picked."""
    await keys(pilot, "n")
    pilot.app.screen.form.rows("items")[0].fields()[0].control.focus()
    await keys(pilot, "ctrl+o")
    await keys(pilot, *"temperature", "enter", "down", "space", "down", "space")


SCREENS: dict[str, list[Step]] = {
    "main": [lambda p: keys(p, "down")],
    "compose": [compose_with_error],
    "compose-item": [lambda p: keys(p, "down"), compose_item],
    "compose-buttons": [compose_buttons],
    "source-browser": [source_browser],
    "preview-window": [lambda p: keys(p, "down", "p")],
    "preview-rows": [lambda p: keys(p, "down", "p"), lambda p: tab(p, "#preview-tabs", "tab-rows")],
    "preview-plot": [lambda p: keys(p, "down", "p"), lambda p: tab(p, "#preview-tabs", "tab-plot")],
    "history": [lambda p: keys(p, "h")],
    "run-detail": [lambda p: keys(p, "h", "enter")],
    "run-detail-manifest": [lambda p: keys(p, "h", "enter"), lambda p: tab(p, "#run-tabs", "tab-manifest")],
    "help": [lambda p: keys(p, "f1")],
    "delete-confirm": [lambda p: keys(p, "d")],
    "backfill": [lambda p: keys(p, "down", "b", *"2025-03-02T00:00Z", "tab", *"2025-03-10T00:00Z")],
}


def build_home(root: Path):
    """Two requests, one run done and one failed, three days of demo data."""
    store_family.uuid = SequentialIds()  # type: ignore[assignment]  # counter ids, in this throwaway process only
    ctx = make_home(root, days=3)
    store = ctx.open_store()
    daily = store.requests.create(parse_request(hourly_body("Daily temperature")), "tester", now=days_ago(2))
    run_now(ctx, daily.id, origin=Origin.TUI, now=FIXED_NOW, store=store)
    weekly = hourly_body("Weekly climate", periodicity="P1W", format={"extension": "xlsx", "timezone": "UTC"})
    store.requests.create(parse_request(weekly), "tester", now=days_ago(1))
    store.close()
    return ctx


async def shoot(ctx, name: str, steps: list[Step], size: tuple[int, int], out: Path) -> Path:
    app = make_app(ctx)
    target = out / f"{name}-{size[0]}x{size[1]}.svg"
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        for step in steps:
            await step(pilot)
        no_blink(app)
        await settle(pilot)
        app.save_screenshot(target.name, str(out))
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "screenshots"))
    parser.add_argument("--sizes", default="60x20,80x24,120x40")
    parser.add_argument("--no-web", action="store_true", help="leave web.png as it is")
    args = parser.parse_args(argv)
    sizes = [tuple(int(n) for n in s.split("x")) for s in args.sizes.split(",")]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    os.environ["TZ"] = "UTC"  # the log pane shows local times
    time.tzset()
    with tempfile.TemporaryDirectory() as tmp:
        ctx = build_home(Path(tmp) / "home")
        for size in sizes:
            for name, steps in SCREENS.items():
                path = asyncio.run(shoot(ctx, name, steps, size, out))  # type: ignore[arg-type]
                print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
        if not args.no_web:
            if CHROMIUM is None:
                print("chromium is not installed: web.png left as it is", file=sys.stderr)
            else:
                print(shoot_web(ctx, Path(tmp) / "chromium", out))
    return 0


def shoot_web(ctx, profile: Path, out: Path) -> Path:
    """The run history of the web view, as a browser draws it (the main screen's log shows
    this machine's name and the home's path)."""
    target = out / "web.png"
    with web_server(ctx.paths.data_dir) as url:
        asyncio.run(
            visit_web_view(
                url,
                profile,
                main_screen=lambda s: "Requests (2)" in s and "Weekly climate" in s,
                key=("h", "KeyH", 72),
                answered=lambda s: "Run history" in s,
                screenshot=target,
            )
        )
    return target


if __name__ == "__main__":
    raise SystemExit(main())
