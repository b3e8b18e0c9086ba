"""A running run's heartbeat: how every other process tells it from a dead one.

Every way of running a run beats (the scheduler's jobs, `exporter-tui run`, the TUI and the
API), not only the scheduler's: a run whose source is slow between two progress steps (a
readers server answering a big aggregation, a retry waiting out a 503) would otherwise be
taken for dead by a scheduler sharing the database, and run twice.

Each beat is a conditional write: it holds only while the run is still this claimant's.
When it does not (this process stalled past the timeout, was taken for dead, and the run was
queued again), `lost` is set, the export stops at its next step, and its end is not recorded.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from datetime import datetime

from exporter_tui.store.errors import StoreError
from exporter_tui.store.store import Store


class Heartbeat:
    def __init__(self, store: Store, run_id: str, holder: str | None, every: float, clock: Callable[[], datetime]):
        self.store = store
        self.run_id = run_id
        self.holder = holder
        self.every = every
        self.clock = clock
        self.lost = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{run_id[:8]}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(timeout=self.every)  # a beat stuck on a busy database may finish later: harmless

    def _beat(self) -> None:
        while not self._done.wait(self.every):
            try:
                if not self.store.runs.heartbeat(self.run_id, self.holder, now=self.clock()):
                    self.lost.set()
                    return
            except (StoreError, sqlite3.Error):
                pass  # the next beat tries again; a run is stale only after several missed beats
