"""The TUI and late data: the compose form keeps `rerunLate`, and a run with late readings is marked."""

from __future__ import annotations

from pathlib import Path

import pytest
from snapshot_apps.tui_homes import choose, hourly_body, make_app, make_home, open_compose, settle

from exporter_tui.core.enums import RunStatus
from exporter_tui.tui.formatting import status_text


@pytest.mark.asyncio
async def test_the_compose_form_keeps_rerun_late_and_sets_it(tmp_path: Path) -> None:
    app = make_app(make_home(tmp_path / "home"))
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await open_compose(pilot)
        await screen.form.load_body(hourly_body(rerunLate=True))
        await settle(pilot)
        assert "rerunLate" not in screen.form.load_problems
        request = screen.form.validate()
        assert request is not None and request.rerun_late is True
        flag = next(b for b in screen.form.top_fields() if b.path == "rerunLate")
        await choose(pilot, flag.control, "false")
        request = screen.form.validate()
        assert request is not None and request.rerun_late is False


def test_a_done_run_with_late_readings_is_marked(tmp_path: Path) -> None:
    from exporter_tui.store.runs import Run

    fields = {name: None for name in Run.__dataclass_fields__}
    run = Run(
        **{
            **fields,
            "id": "r",
            "request_id": "q",
            "status": RunStatus.DONE,
            "origin": "schedule",
            "attempt": 1,
            "progress": 0,
            "created_at": "",
        }
    )
    assert status_text(run) == "done"
    run.late_readings = 12
    assert status_text(run) == "done +12 late"
