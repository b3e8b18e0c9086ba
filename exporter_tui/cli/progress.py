"""The one-line progress bar the foreground commands draw on stderr (`run`, `runs rerun`, `ingest`)."""

from __future__ import annotations

from typing import TextIO


class ProgressBar:
    """A one-line progress bar on a terminal stream (nothing when it is not a terminal), counting `unit`s."""

    def __init__(self, stream: TextIO, width: int = 30, unit: str = "readings"):
        self.stream = stream
        self.width = width
        self.unit = unit
        self.tty = stream.isatty()
        self._last = -1

    def update(self, done: int, total: int | None) -> None:
        if not self.tty:
            return
        if total:
            frac = min(done / total, 1.0)
            pct = int(frac * 100)
            if pct == self._last:
                return
            self._last = pct
            filled = int(frac * self.width)
            self.stream.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {pct:3d}% {done}/{total} {self.unit}")
        else:
            self.stream.write(f"\r{done} {self.unit}")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
