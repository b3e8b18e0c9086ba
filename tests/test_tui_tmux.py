"""The installed `exporter-tui` in a real terminal (tmux, 80x24): create a request with the keyboard,
run it, and read "done" off the screen.

No step sleeps: each waits (polling the screen, with a deadline) for the screen it needs. The
Tabs and the text after them go out together, as from a typist faster than a busy app, so the
test also holds the app to its promise that keys take effect in the order typed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from snapshot_apps.tui_homes import TEMPERATURE, make_home

from exporter_tui.sources.demo import DEMO_CHANNEL

EXE = shutil.which("exporter-tui", path=os.path.dirname(sys.executable))
pytestmark = [
    pytest.mark.slow,  # the installed app in a real terminal
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed, so there is no real terminal to drive"),
    pytest.mark.skipif(EXE is None, reason="the exporter-tui command is not installed in this environment"),
]


BOX_EDGE = "│"  # an item's fields sit inside its box


class Tmux:
    """One detached tmux session on a private server socket, 80 columns by 24 rows."""

    def __init__(self, command: list[str], env: dict[str, str]):
        self.socket = f"exporter-tui-test-{uuid.uuid4().hex[:8]}"
        self.name = "tui"
        exports = [f"{k}={v}" for k, v in env.items()]
        self.tmux("new-session", "-d", "-x", "80", "-y", "24", "-s", self.name, "env", *exports, *command)

    def tmux(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", *args], capture_output=True, text=True, timeout=10)
        return done.stdout

    def keys(self, *keys: str) -> None:
        """Key names (Tab, C-s) or single characters, sent as the terminal would send them."""
        self.tmux("send-keys", "-t", self.name, *keys)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", self.name, "-l", text)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.name)

    def wait_for(self, check: Callable[[str], bool], what: str, seconds: float = 30.0) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            text = self.screen()
            if check(text):
                return text
            time.sleep(0.05)  # the poll interval, not a wait for something to happen
        raise AssertionError(f"never saw {what}; the screen was:\n{self.screen()}")

    def field_line(self, caption: str, screen: str) -> str:
        """The line of the form field captioned `caption` ("" when it is scrolled out of sight)."""
        return next((line for line in screen.splitlines() if line.lstrip(" " + BOX_EDGE).startswith(caption + "  ")), "")

    def fill(self, tabs: int, caption: str, text: str, clear: bool = False) -> None:
        """Tab `tabs` times and type `text` at once, as a typist does (emptying a filled field first
        with ctrl+a ctrl+k when `clear`), then wait until the field captioned `caption` shows it (its
        tail, as a long value scrolls): the keys after a Tab go to the next field however busy the
        app is, so nothing here waits for the focus to move."""
        self.keys(*["Tab"] * tabs)
        if clear:
            self.keys("C-a", "C-k")
        self.type(text)
        self.wait_for(lambda s: text[-20:] in self.field_line(caption, s), f"{text!r} in the field {caption!r}")

    def close(self) -> None:
        self.tmux("kill-server")


def test_create_and_run_a_request_in_a_real_terminal(tmp_path: Path) -> None:
    ctx = make_home(tmp_path / "home")
    env = {"TERM": "xterm-256color", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    term = Tmux([str(EXE), "--home", str(ctx.paths.data_dir)], env)
    try:
        term.wait_for(lambda s: "Requests (0)" in s, "the main screen")
        term.keys("n")
        term.wait_for(lambda s: "Not valid yet" in s, "the compose screen")
        term.fill(0, "Name", "tmux request")  # Name has the focus
        term.fill(3, "Starting", "2025-03-01T00:00Z", clear=True)  # past Type and Every (P1D); it holds the default start
        # past Catch up, Delay, Ending, Days, Rerun late, File type, Time zone, Template, CSV delimiter, File name, Date format, + column
        term.fill(13, "Targets", TEMPERATURE)
        term.fill(2, "Channel id", DEMO_CHANNEL)  # past Labels
        term.fill(1, "Subtopic", "events.data")
        term.fill(1, "From", "2025-03-09T00:00Z")
        term.fill(1, "To", "2025-03-09T01:00Z")
        term.wait_for(lambda s: "Valid. ctrl+s saves it" in s, "a valid form")
        term.keys("C-s")
        screen = term.wait_for(lambda s: "Requests (1)" in s, "the saved request")
        assert "temperature" in screen
        term.keys("r")
        screen = term.wait_for(
            lambda s: any(line.startswith("│ done") and " 60 " in line for line in s.splitlines()), "the run done with 60 rows"
        )
        assert "file: exports/" in screen
        lines = screen.splitlines()
        assert len(lines) == 24 and all(len(line) <= 80 for line in lines)
        term.keys("C-q")
        term.wait_for(lambda s: "Requests" not in s, "the app to quit", seconds=15)
    finally:
        term.close()
    csv_files = list((ctx.paths.exports_dir).rglob("*.csv"))
    assert csv_files and all(len(f.read_text().splitlines()) == 61 for f in csv_files)  # a header and 60 readings
