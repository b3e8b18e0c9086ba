"""The installed `exporter-tui` in a real terminal (tmux, 80x24): create a request with the keyboard,
run it, and read "done" off the screen."""

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
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed, so there is no real terminal to drive"),
    pytest.mark.skipif(EXE is None, reason="the exporter-tui command is not installed in this environment"),
]


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

    def keys(self, *keys: str, literal: bool = False) -> None:
        """Send keys at a typist's pace: one key name per send, with a short gap, as a burst of
        keys in one terminal read can reach the app as one chunk of text."""
        if literal:
            self.tmux("send-keys", "-t", self.name, "-l", *keys)
            time.sleep(0.15)
            return
        for key in keys:
            self.tmux("send-keys", "-t", self.name, key)
            time.sleep(0.15)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.name)

    def wait_for(self, check: Callable[[str], bool], what: str, seconds: float = 30.0) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            text = self.screen()
            if check(text):
                return text
            time.sleep(0.1)
        raise AssertionError(f"never saw {what}; the screen was:\n{self.screen()}")

    def close(self) -> None:
        self.tmux("kill-server")


def test_create_and_run_a_request_in_a_real_terminal(tmp_path: Path) -> None:
    ctx = make_home(tmp_path / "home")
    env = {"TERM": "xterm-256color", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    term = Tmux([str(EXE), "--home", str(ctx.paths.data_dir)], env)
    try:
        term.wait_for(lambda s: "Requests (0)" in s, "the main screen")
        term.keys("n")
        term.wait_for(lambda s: "Not valid yet" in s, "the compose screen, drawn after the Name field took the focus")
        term.keys("tmux request", literal=True)  # Name has the focus
        term.keys("Tab", "Tab", "Tab")  # Type, Every (P1D), Starting
        term.keys("2025-03-01T00:00Z", literal=True)
        for _ in range(8):  # Catch up, File type, Time zone, Template, CSV delimiter, File name, Date format, + column
            term.keys("Tab")
        term.keys("Tab")  # the item's Targets
        term.keys(TEMPERATURE, literal=True)
        term.keys("Tab", "Tab")  # Labels, Channel id
        term.keys(DEMO_CHANNEL, literal=True)
        term.keys("Tab")
        term.keys("events.data", literal=True)
        term.keys("Tab")
        term.keys("2025-03-09T00:00Z", literal=True)
        term.keys("Tab")
        term.keys("2025-03-09T01:00Z", literal=True)
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
