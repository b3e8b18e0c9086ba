"""The compose screen keeps Textual's own attributes: a helper of the form once shadowed `visible`."""

from __future__ import annotations

from pathlib import Path

import pytest
from snapshot_apps.tui_homes import make_app, make_home, open_compose

pytestmark = pytest.mark.asyncio


async def test_the_compose_screen_and_its_widgets_say_whether_they_are_visible(tmp_path: Path) -> None:
    app = make_app(make_home(tmp_path / "home"))
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await open_compose(pilot)
        assert screen.visible is True
        assert all(isinstance(widget.visible, bool) for widget in screen.query("*"))
