"""Work the export hands to the source, and to other processes, instead of doing it all in one.

Projection. A source that can (the embedded one, through `read_columns`) reads only the
reading fields an item's stages and output columns look at: reading SQLite through Python
costs per cell turned into a Python object. The rows and chunk boundaries stay those of a
full read, so every stage computes exactly what it computes on full chunks; the file is
byte-identical. Any other source is read whole.

Worker processes. Even so a reading costs about a microsecond of one CPU, nearly all of it
reading (holding the GIL), and a decimated table's result is a small fraction of its input.
So a big decimated long table from the embedded file runs its per-target pipeline
(`target_stream`: read, delta, decimation) in up to MAX_WORKERS child processes, targets
dealt out round-robin; each child runs ahead through its targets, buffering their small
results up to a row budget, while this process writes them in target order. A child runs
the very code the in-process path runs, with the same chunk size: the file is
byte-identical. Only when at least half a CPU is idle: on a saturated machine another
process gains nothing and costs its start (~0.5 s; measured 10-15% slower there). Raw
tables stay in-process: shipping every reading across costs about what reading it does.
Wide tables too: their k-way merge pulls from every target at once. Children get their job
on stdin and answer with pickled messages on a private pipe (never stdout, which a stray
print could corrupt): `("rows", n)` for progress, `("frame", df)`, `("note", text)` for the
run log, `("end",)` after each target, `("error", exc)`. They are killed whenever the consumer stops early, fails or is
cancelled.

Why not aggregate in SQL: a GROUP BY's sum adds in another order than numpy's pairwise
`reduceat`, so averages, sums and deviations would differ from the streaming path in the
last bits (and between SQLite versions, whose sum changed algorithm in 3.43); only min and
max would not, and they are not worth a second code path.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol, runtime_checkable

import pandas as pd

from exporter_tui.core.durations import get_zone
from exporter_tui.core.times import iso_from_unix
from exporter_tui.pipeline.columns import ColumnSpec, resolve_columns
from exporter_tui.pipeline.decimate import Decimator
from exporter_tui.pipeline.delta import DeltaStage
from exporter_tui.pipeline.pushdown import pushed_stream
from exporter_tui.sources.base import DELTA_LOOKBACK, ReadQuery, Source, SourceError
from exporter_tui.sources.embedded import EmbeddedSource

# What every stage may look at: the time, and the numeric reading (`value`, else `bool_value`).
_BASE = frozenset({"time", "value", "bool_value"})
# The reading fields behind each output column id of a long table (key fields are always there).
_LONG_FIELDS: dict[str, frozenset[str]] = {
    "publisher": frozenset({"publisher"}),
    "channel": frozenset(),
    "subtopic": frozenset(),
    "name": frozenset(),
    "unit": frozenset({"unit"}),
    "time": frozenset(),
    "value": frozenset({"string_value", "data_value"}),
    "created": frozenset({"update_time"}),
}

PARALLEL_MIN_READINGS = 2_000_000  # below this, starting a child (~0.5 s) costs more than it saves
MAX_WORKERS = 4
MIN_IDLE_CPUS = 0.5  # on a saturated machine more processes only add their start (~0.5 s) and contention
DECIMATED_BUDGET_ROWS = 250_000  # result rows a child may have written ahead of the consumer
_WORKER_ENTRY = "from exporter_tui.pipeline.streams import serve; serve()"


@runtime_checkable
class ColumnReader(Protocol):
    """A source that can read a subset of the reading fields (see EmbeddedSource.read_columns)."""

    def read_columns(self, query: ReadQuery, columns: frozenset[str], chunk_rows: int = 100_000) -> Iterator[pd.DataFrame]: ...


@dataclass(frozen=True)
class Stages:
    """What happens to each target's readings of one item; plain data, so a child can be sent it."""

    chunk_rows: int
    fields: frozenset[str] | None  # None: read every field
    zone: str  # the request's time zone name
    transform: str | None = None  # "delta" or None
    ds: str | None = None  # decimation granularity, None for raw readings
    dsf: str = "avg"
    pushed: bool = False  # the decimation is the readers service's (pipeline/pushdown.py)


def needed_fields(params: Any, columns: ColumnSpec | None) -> frozenset[str]:
    """The reading fields that can reach an item's output (ItemParams), through its stages and columns.

    Wide output shows numbers only. `delta` keeps only readings with a numeric value, so text
    values never get through it. Decimated rows carry a bucket's numeric aggregate and the
    descriptive fields of its first reading: no text value, no `update_time`.
    """
    if params.output_format == "wide":
        return _BASE
    dropped: set[str] = set()
    if params.transform == "delta" or params.decimation is not None:
        dropped |= {"string_value", "data_value"}
    if params.decimation is not None:
        dropped.add("update_time")
    fields = set(_BASE)
    for cid, _ in resolve_columns(columns):
        fields |= _LONG_FIELDS[cid] - dropped
    return frozenset(fields)


def read_stream(source: Source, query: ReadQuery, fields: frozenset[str] | None, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """The query's chunks, with only `fields` filled when the source can read a subset."""
    if fields is not None and isinstance(source, ColumnReader):
        return source.read_columns(query, fields, chunk_rows)
    return source.read(query, chunk_rows)


def target_stream(
    source: Source,
    stages: Stages,
    query: ReadQuery,
    wrap: Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]],
    note: Callable[[str], None] | None = None,
    covered: Callable[[int], None] | None = None,
) -> Iterator[pd.DataFrame]:
    """One target's chunks through delta and decimation; `wrap` sees the raw chunks as they are read,
    `note` hears what the run log should say (a delta whose first value is unknown). A pushed
    decimation reads no raw chunk: `covered(n)` hears of the n readings in each part of its buckets."""
    if stages.pushed and stages.ds is not None:
        return pushed_stream(source, stages.ds, stages.dsf, query, covered or (lambda n: None))
    stream = wrap(read_stream(source, query, stages.fields, stages.chunk_rows))
    if stages.transform == "delta":
        before = source.last_numeric_before(query.channel, query.subtopic, query.name, query.start)
        if before.exhausted and note is not None:
            when = iso_from_unix(query.start, "auto")
            note(f"{query.name}: no numeric reading among the {DELTA_LOOKBACK:,} before {when}; the first delta is unknown and was dropped")
        delta = DeltaStage(before.value)
        stream = (delta.apply(c) for c in stream)
    if stages.ds is not None:
        stream = _decimated(stream, Decimator(stages.ds, stages.dsf, get_zone(stages.zone), window_start=query.start))
    return stream


def _decimated(stream: Iterator[pd.DataFrame], decimator: Decimator) -> Iterator[pd.DataFrame]:
    for chunk in stream:
        out = decimator.feed(chunk)
        if len(out):
            yield out
    last = decimator.finish()
    if len(last):
        yield last


def worker_count(source: Source, stages: Stages, output_format: str, targets: int, readings: int | None) -> int:
    """How many child processes should run this item's targets; 0 means in this process."""
    if stages.ds is None or output_format != "long" or targets < 2 or readings is None or readings < PARALLEL_MIN_READINGS:
        return 0
    if os.name != "posix" or not sys.executable or not isinstance(source, EmbeddedSource):
        return 0
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if cpus < 2 or idle_cpus(cpus) < MIN_IDLE_CPUS:
        return 0
    return min(cpus, targets, MAX_WORKERS)


def idle_cpus(cpus: int, interval: float = 0.1) -> float:
    """How many CPUs sat idle over the next `interval` seconds (Linux /proc/stat; elsewhere all).

    Measured, not taken from the load average: that lags a minute behind and counts this
    program's own work a moment ago (a previous export, a test run) as if it still went on.
    """
    try:
        first = _cpu_times()
        time.sleep(interval)
        second = _cpu_times()
    except (OSError, ValueError, IndexError):
        return float(cpus)
    busy, idle = second[0] - first[0], second[1] - first[1]
    return cpus * idle / (busy + idle) if busy + idle > 0 else float(cpus)


def _cpu_times() -> tuple[int, int]:
    """(busy, idle) jiffies of all CPUs together since boot."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return sum(fields[:8]) - idle, idle  # user nice system idle iowait irq softirq steal


def parallel_streams(
    path: Path,
    stages: Stages,
    queries: list[ReadQuery],
    workers: int,
    on_rows: Callable[[int], None],
    on_note: Callable[[str], None] | None = None,
) -> Iterator[tuple[int, pd.DataFrame]]:
    """(query index, frame) of every query's `target_stream`, in query order, computed by `workers`
    children; `on_rows(n)` hears of each raw chunk read, and may raise to stop everything;
    `on_note` hears the streams' notes."""
    budget = DECIMATED_BUDGET_ROWS if stages.ds is not None else stages.chunk_rows
    children: list[tuple[subprocess.Popen[bytes], IO[bytes]]] = []
    try:
        for w in range(workers):
            children.append(_start(path, stages, queries[w::workers], budget))
        for i in range(len(queries)):
            child, reader = children[i % workers]
            while True:
                message = _receive(child, reader, path)
                if message[0] == "rows":
                    on_rows(message[1])
                elif message[0] == "frame":
                    yield i, message[1]
                elif message[0] == "note":
                    if on_note is not None:
                        on_note(message[1])
                elif message[0] == "end":
                    break
                else:
                    raise message[1]
    finally:
        for child, reader in children:
            if child.poll() is None:
                child.kill()
            child.wait()
            reader.close()


def _start(path: Path, stages: Stages, queries: list[ReadQuery], budget: int) -> tuple[subprocess.Popen[bytes], IO[bytes]]:
    read_fd, write_fd = os.pipe()
    try:
        child = subprocess.Popen(
            [sys.executable, "-c", _WORKER_ENTRY, str(write_fd)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(write_fd,),
        )
    except OSError:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    reader = os.fdopen(read_fd, "rb", buffering=1 << 20)
    try:
        assert child.stdin is not None
        child.stdin.write(pickle.dumps((str(path), stages, queries, budget)))
        child.stdin.close()
    except BrokenPipeError:
        pass  # the child is gone already: reading says how
    return child, reader


def _receive(child: subprocess.Popen[bytes], reader: IO[bytes], path: Path) -> tuple[Any, ...]:
    try:
        return pickle.load(reader)
    except (EOFError, pickle.UnpicklingError):
        code = child.wait()
        raise SourceError(f"source database {path}: the export worker stopped unexpectedly (exit code {code})") from None


class _Outbox:
    """A child's messages to the parent, written by a thread so the child computes ahead.

    At most `budget` frame rows wait unread (one frame always may), which bounds the
    child's memory however far behind the parent is.
    """

    def __init__(self, out: IO[bytes], budget: int) -> None:
        self.out = out
        self.budget = budget
        self.pending = 0
        self.items: deque[tuple[tuple[Any, ...], int]] = deque()
        self.closed = False
        self.broken = False
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._drain, name="export-outbox", daemon=True)
        self.thread.start()

    def put(self, message: tuple[Any, ...], rows: int = 0) -> None:
        with self.cond:
            while self.pending and self.pending + rows > self.budget and not self.broken:
                self.cond.wait()
            if self.broken:
                raise BrokenPipeError("the parent stopped reading")
            self.items.append((message, rows))
            self.pending += rows
            self.cond.notify_all()

    def counting(self, chunks: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for chunk in chunks:
            self.put(("rows", len(chunk)))
            yield chunk

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()
        self.thread.join()

    def _drain(self) -> None:
        while True:
            with self.cond:
                while not self.items and not self.closed:
                    self.cond.wait()
                if not self.items:
                    return
                message, rows = self.items.popleft()
            try:
                pickle.dump(message, self.out, protocol=pickle.HIGHEST_PROTOCOL)
                self.out.flush()
            except OSError:
                with self.cond:
                    self.broken = True
                    self.cond.notify_all()
                return
            with self.cond:
                self.pending -= rows
                self.cond.notify_all()


def serve() -> None:
    """A child's life: read the job from stdin, run each target's stream, report on the pipe in argv[1]."""
    out = os.fdopen(int(sys.argv[1]), "wb", buffering=1 << 20)
    outbox = _Outbox(out, 1)
    try:
        path, stages, queries, budget = pickle.load(sys.stdin.buffer)
        outbox.budget = budget
        with EmbeddedSource(Path(path)) as source:
            for query in queries:
                for frame in target_stream(source, stages, query, outbox.counting, lambda text: outbox.put(("note", text))):
                    outbox.put(("frame", frame), len(frame))
                outbox.put(("end",))
    except BrokenPipeError:
        return
    except Exception as exc:  # noqa: BLE001 (every failure goes to the parent, which raises it)
        with contextlib.suppress(BrokenPipeError):
            outbox.put(("error", _portable(exc)))
    finally:
        outbox.close()
        out.close()


def _portable(exc: Exception) -> Exception:
    """The exception itself when it survives pickling, else a SourceError with its text."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 (pickling may fail in any way; the text still goes)
        return SourceError(f"{type(exc).__name__}: {exc}")
