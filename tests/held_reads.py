"""Hold an export after its first chunk until the test says go, so "the run is still reading"
is a fact of the test, not a race against a fast machine.

In this process: `monkeypatch.setattr(streams, "read_stream", held(real, go.is_set, holding.set))`.
In another one: `python tests/held_reads.py DIR --home H run ID` runs the real CLI, makes
DIR/holding once its first chunk is read and holds until DIR/go exists; with HELD_READS_FROM=N
in the environment the first N reads of the process pass unheld (a backfill's first N runs).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

HOLD_SECONDS = 60.0  # a test that never says go fails on its own deadline, not a hung thread


def held(
    read: Callable[..., Iterator[Any]], go: Callable[[], bool], holding: Callable[[], object], after: int = 0
) -> Callable[..., Iterator[Any]]:
    """`read`, calling `holding()` after its first chunk and then waiting for `go()` (from its `after`-th call on)."""
    calls = [0]

    def reading(*args: Any, **kwargs: Any) -> Iterator[Any]:
        calls[0] += 1
        if calls[0] <= after:
            yield from read(*args, **kwargs)
            return
        for i, chunk in enumerate(read(*args, **kwargs)):
            yield chunk
            if i == 0:
                holding()
            deadline = time.monotonic() + HOLD_SECONDS
            while i == 0 and not go() and time.monotonic() < deadline:
                time.sleep(0.01)

    return reading


if __name__ == "__main__":
    from exporter_tui.cli.main import main
    from exporter_tui.pipeline import streams

    signals = Path(sys.argv[1])
    after = int(os.environ.get("HELD_READS_FROM", "0"))
    streams.read_stream = held(streams.read_stream, (signals / "go").exists, (signals / "holding").touch, after)
    sys.exit(main(sys.argv[2:]))
