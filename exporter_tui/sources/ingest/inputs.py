"""Reading a file of readings, in batches, into Records (see resolve.py).

Formats:
- `senml`: one JSON document, a SenML pack (an array of records; RFC 8428), or a readers
  API page (`{"messages": [...]}`). A pack is read a piece at a time (pack.py); a readers
  page is parsed whole.
- `jsonl`: one JSON value a line: a record, a readers API message, or a SenML pack (an
  array) whose base fields apply within that line.
- `csv`: a header row naming SenML labels or readers API fields (and the envelope), one
  record a row; an empty cell is no value.
Text is UTF-8 (a BOM is skipped); bytes that are not UTF-8 make the record that holds them
invalid, not the file.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import io
import itertools
import json
import operator
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from exporter_tui.sources.base import READING_COLUMNS
from exporter_tui.sources.ingest.columns import Column, JsonConstant, Problems
from exporter_tui.sources.ingest.labels import ENVELOPE, MESSAGE_KEYS, SENML_LABELS, Kind, canonical, is_known, kind_of, mixed_reason
from exporter_tui.sources.ingest.pack import JsonArray
from exporter_tui.sources.ingest.refusals import FileInvalid, Refusal, shown
from exporter_tui.sources.ingest.resolve import Defaults, PackState, Records, resolve

FORMATS = ("auto", "senml", "csv", "jsonl")
EXTENSIONS = {".json": "senml", ".senml": "senml", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".jsonlines": "jsonl"}
BATCH_RECORDS = 50_000
BLOCK_CHARS = 2 << 20  # text read at a time; a pack piece of this size holds ~50,000 small records
_HEAD = 1 << 16  # bytes looked at to tell the format
_MAX_PIECE = 32 * BLOCK_CHARS  # a pack piece that still does not parse is a broken file, not a huge record
_DELIMITERS = (",", ";", "\t", "|")


@dataclass
class Batch:
    """What one batch of the file gave: the valid readings, the refused records, how many records in all."""

    frame: pd.DataFrame
    refused: list[Refusal]
    records: int
    bytes_read: int


class _Counted(io.RawIOBase):
    """A binary stream that counts the bytes served, with the bytes already read to sniff put back in front."""

    def __init__(self, stream: BinaryIO, head: bytes) -> None:
        self._stream = stream
        self._head = head
        self.served = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._head:
            n = min(len(view), len(self._head))
            view[:n] = self._head[:n]
            self._head = self._head[n:]
        else:
            data = self._stream.read(len(view))
            n = len(data)
            view[:n] = data
        self.served += n
        return n


_DECODER = json.JSONDecoder(parse_constant=JsonConstant)
# The C scanner: one JSON value at a position, with where it ends (set by JSONDecoder.__init__; not in the stubs).
_SCAN: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]


def _loads(text: str) -> Any:
    return _DECODER.decode(text)


def detect_format(name: str, head: str) -> str:
    """The format by the file's extension, else by its first bytes: not JSON is CSV; a first
    line that is a JSON value by itself with more lines after it is JSON lines; else one JSON document."""
    ext = os.path.splitext(name)[1].lower()
    if ext in EXTENSIONS:
        return EXTENSIONS[ext]
    text = head.lstrip()
    if not text:
        return "jsonl"
    if text[0] not in "[{":
        return "csv"
    first, _, rest = text.partition("\n")
    try:
        value = _loads(first)
    except ValueError:
        return "senml"  # a document over several lines (or a first line longer than the head)
    if rest.strip():
        return "jsonl"
    return "senml" if isinstance(value, list) or (isinstance(value, dict) and "messages" in value) else "jsonl"


@dataclass
class _Chunk:
    """A batch of a file: its records as columns, by kind, and what was refused before any
    field was looked at (a line that is not JSON, a CSV row of the wrong width)."""

    records: list[Records]
    refused: list[Refusal]
    count: int  # records in all, refused ones included


class FileReader:
    """The batches of readings in one file (or stdin); iterate once."""

    def __init__(self, stream: BinaryIO, name: str, fmt: str = "auto", defaults: Defaults | None = None) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt}")
        self.name = name
        self.defaults = defaults or Defaults()
        head = stream.read(_HEAD)
        self._raw = _Counted(stream, head)
        self.format = detect_format(name, head.decode("utf-8-sig", "replace")) if fmt == "auto" else fmt
        self._text = io.TextIOWrapper(io.BufferedReader(self._raw, 1 << 20), encoding="utf-8-sig", errors="surrogateescape", newline="")
        self.ignored: set[str] = set()  # fields of no known kind, left out
        self._state = PackState()  # a pack's base fields, from one piece to the next

    @property
    def bytes_read(self) -> int:
        return self._raw.served

    def __iter__(self) -> Iterator[Batch]:
        chunks = {"senml": self._pack, "jsonl": self._lines, "csv": self._csv}[self.format]()
        while True:
            with _collector_paused():
                chunk = next(chunks, None)
                if chunk is None:
                    return
                batch = self._resolved(chunk)
            yield batch

    def _resolved(self, chunk: _Chunk) -> Batch:
        frames: list[pd.DataFrame] = []
        refused = list(chunk.refused)
        for records in chunk.records:
            done = resolve(records, self.defaults, self._state if records.kind == "senml" else None)
            frames.append(done.frame)
            refused += done.refused
        refused.sort(key=lambda r: r.seq)
        frame = frames[0] if len(frames) == 1 else (pd.concat(frames, ignore_index=True) if frames else _empty_frame())
        return Batch(frame, refused, chunk.count, self.bytes_read)

    # -- JSON values to records --------------------------------------------------------

    def _objects(self, values: list[Any], where: Callable[[int], str], starts: np.ndarray, what: str) -> _Chunk:
        """The objects among decoded values as records; any other value is refused in its place."""
        if set(map(type, values)) <= {dict}:
            return _Chunk(self._split(values, np.arange(len(values)), where, starts), [], len(values))
        keep = np.array([i for i, v in enumerate(values) if type(v) is dict], dtype=np.int64)
        refused = [
            Refusal(i, where(i), f"must be a JSON object ({what}), got {shown(v)}") for i, v in enumerate(values) if type(v) is not dict
        ]
        records = self._split([values[i] for i in keep], keep, _mapped(where, keep), starts[keep])
        return _Chunk(records, refused, len(values))

    def _split(self, values: list[dict[str, Any]], seq: np.ndarray, where: Callable[[int], str], starts: np.ndarray) -> list[Records]:
        """The records by kind (SenML records, readers API messages), as columns."""
        if not values:
            return []
        keys: set[str] = set().union(*values)
        self.ignored |= {k for k in keys if not is_known(k) and not k.endswith("_")}
        must = sorted(k for k in keys if k.endswith("_") and not is_known(k))
        kind = kind_of(keys)
        if kind is not None:
            groups: list[tuple[Kind, np.ndarray | None]] = [(kind, None)]
            mixed: set[int] = set()
        else:  # a mix: each record by its own keys; one with both kinds of field is refused
            kinds = [kind_of(set(d)) for d in values]
            mixed = {i for i, k in enumerate(kinds) if k is None}
            senml = np.array([k != "message" for k in kinds])
            groups = [("senml", np.flatnonzero(senml)), ("message", np.flatnonzero(~senml))]
        out: list[Records] = []
        for kind, rows in groups:
            part = values if rows is None else [values[i] for i in rows]
            if not part:
                continue
            problems = Problems(len(part))
            for j, i in enumerate(rows if rows is not None else ()):
                if i in mixed:
                    problems.add(j, mixed_reason(set(values[i])))
            for key in must:
                for j, d in enumerate(part):
                    if key in d:
                        problems.add(j, f"'{key}' is a must-understand field (RFC 8428 section 4.4) this program does not know")
            out.append(
                Records(
                    kind,
                    len(part),
                    _columns(part, keys if rows is None else set().union(*part), kind),
                    seq if rows is None else seq[rows],
                    where if rows is None else _mapped(where, rows),
                    problems,
                    starts if rows is None else starts[rows],
                )
            )
        return out

    # -- senml: one JSON document -----------------------------------------------------

    def _pack(self) -> Iterator[_Chunk]:
        doc = JsonArray(self._text, self.name, BLOCK_CHARS, _loads)
        if doc.read_start() == "{":
            yield from self._page(doc.rest())
            return
        index = 0
        for values in doc.pieces():
            starts = np.zeros(len(values), dtype=bool)
            starts[0] = index == 0
            yield self._objects(values, _indexed(index), starts, "a SenML record")
            index += len(values)

    def _page(self, text: str) -> Iterator[_Chunk]:
        """A readers API page, `{"messages": [...], ...}`, parsed whole."""
        try:
            page = _loads(text)
        except json.JSONDecodeError as e:
            raise FileInvalid(f"{self.name}: not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
        messages = page.get("messages") if isinstance(page, dict) else None
        if not isinstance(messages, list):
            raise FileInvalid(
                f"{self.name}: a JSON document is read as a SenML pack (an array of records) or a readers API page "
                '({"messages": [...]}); this one is an object without a "messages" array'
            )
        for start in range(0, len(messages), BATCH_RECORDS):
            values = messages[start : start + BATCH_RECORDS]
            yield self._objects(values, _indexed(start, "messages"), np.ones(len(values), dtype=bool), "a readers API message")

    # -- jsonl ------------------------------------------------------------------------

    def _lines(self) -> Iterator[_Chunk]:
        """Each line decoded by itself: joining lines into one array would be as fast, but a line
        holding two values could then pass for two lines."""
        batch = _LineBatch()
        lineno = 0  # lines before the slice
        for block in _line_blocks(self._text):
            while block:
                piece, block = block[: BATCH_RECORDS - batch.count], block[BATCH_RECORDS - batch.count :]
                if not batch.add_objects(piece, lineno):
                    for i, line in enumerate(piece, start=lineno + 1):
                        batch.add_line(line, i)
                lineno += len(piece)
                if batch.count >= BATCH_RECORDS:
                    yield batch.chunk(self)
                    batch = _LineBatch()
        if batch.count:
            yield batch.chunk(self)

    # -- csv --------------------------------------------------------------------------

    def _csv(self) -> Iterator[_Chunk]:
        first = self._text.readline()
        header_line = 1
        while first and not first.strip():
            first = self._text.readline()
            header_line += 1
        if not first:
            return
        delimiter = _delimiter(first)
        header = next(csv.reader([first], delimiter=delimiter))
        labels, kind = self._header(header)
        reader = csv.reader(self._text, delimiter=delimiter)
        last = header_line  # the line the previous row ended on
        while True:
            rows: list[list[str]] = []
            ends: list[int] = []
            add_row, add_end = rows.append, ends.append
            for row in itertools.islice(reader, BATCH_RECORDS):
                add_row(row)
                add_end(reader.line_num)  # a quoted field may hold line breaks: a row ends where the reader is
            if not rows:
                return
            end_lines = header_line + np.array(ends, dtype=np.int64)
            start_lines = np.concatenate(([last + 1], end_lines[:-1] + 1))
            last = int(end_lines[-1])
            yield self._csv_chunk(rows, start_lines, labels, kind)

    def _csv_chunk(self, rows: list[list[str]], lines: np.ndarray, labels: list[str | None], kind: Kind) -> _Chunk:
        """A batch of CSV rows: blank ones skipped, ones of the wrong width refused, the rest as text columns."""
        width = len(labels)
        widths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
        blank = widths == 0
        for i in np.flatnonzero(widths == 1):
            blank[i] = not rows[i][0].strip()
        ords = np.cumsum(~blank) - 1  # each row's ordinal, blank rows left out
        good = (widths == width) & ~blank
        refused = [
            Refusal(int(ords[i]), f"line {lines[i]}", f"has {widths[i]} fields; the header has {width}")
            for i in np.flatnonzero(~good & ~blank)
        ]
        records = []
        if good.any():
            kept = rows if good.all() else [rows[i] for i in np.flatnonzero(good)]
            cells = list(zip(*kept))
            columns = {label: Column(label, cells[i], text=True) for i, label in enumerate(labels) if label is not None}
            records.append(Records(kind, len(kept), columns, ords[good], _lined(lines[good]), Problems(len(kept))))
        return _Chunk(records, refused, int((~blank).sum()))

    def _header(self, header: Sequence[str]) -> tuple[list[str | None], Kind]:
        labels: list[str | None] = []
        seen: dict[str, str] = {}
        for raw in header:
            name = raw.strip()
            label = canonical(name)
            if not is_known(label):
                if name.endswith("_"):
                    raise FileInvalid(
                        f"{self.name}: column '{name}' is a must-understand SenML field (RFC 8428 section 4.4) this program does not know"
                    )
                self.ignored.add(name)
                labels.append(None)
                continue
            if label in seen:
                raise FileInvalid(f"{self.name}: the header names '{label}' twice ('{seen[label]}' and '{name}')")
            seen[label] = name
            labels.append(label)
        known = {label for label in labels if label is not None}
        kind = kind_of(known)
        if kind is None:
            raise FileInvalid(f"{self.name}: the header {mixed_reason(known)}")
        if not known - set(ENVELOPE):
            raise FileInvalid(
                f"{self.name}: the header names no SenML label (n, t, v, ...) nor readers API field (name, time, value, ...); "
                "is the first line a header?"
            )
        return labels, kind


class _LineBatch:
    """The JSON lines of one batch as they are read: objects with their line, index within a
    line's pack (-1: a line of one object), pack start and ordinal; the lines refused."""

    def __init__(self) -> None:
        self.values: list[dict[str, Any]] = []
        self.lines: list[int] = []
        self.subs: list[int] = []
        self.starts: list[bool] = []
        self.ords: list[int] = []
        self.refused: list[Refusal] = []
        self.count = 0

    def add_objects(self, lines: list[str], before: int) -> bool:
        """The common case at C speed: every line one JSON object and nothing else; False (and
        nothing added) when any line is anything else, to be taken line by line."""
        try:
            decoded = list(map(_SCAN, lines, itertools.repeat(0)))
        except (json.JSONDecodeError, StopIteration):
            return False
        if list(map(operator.itemgetter(1), decoded)) != list(map(len, lines)):
            return False  # something after the value, if only a \r or a blank
        values = list(map(operator.itemgetter(0), decoded))
        if not set(map(type, values)) <= {dict}:
            return False
        n = len(values)
        self.values += values
        self.lines += range(before + 1, before + n + 1)
        self.subs += itertools.repeat(-1, n)
        self.starts += itertools.repeat(True, n)
        self.ords += range(self.count, self.count + n)
        self.count += n
        return True

    def add_line(self, line: str, lineno: int) -> None:
        try:
            value, end = _SCAN(line, 0)
        except (json.JSONDecodeError, StopIteration):  # leading blanks, a blank line, or not JSON
            line = line.strip()
            if not line:
                return
            try:
                value, end = _SCAN(line, 0)
            except (json.JSONDecodeError, StopIteration) as e:
                self.refuse(f"line {lineno}", _json_reason(line, e))
                return
        if end != len(line) and not line[end:].isspace():
            self.refuse(f"line {lineno}", f"not valid JSON: Extra data at column {len(line) - len(line[end:].lstrip()) + 1}")
        elif type(value) is dict:
            self._add(value, lineno, -1, True)
        elif type(value) is list:  # a SenML pack: the first object starts it
            start = True
            for j, v in enumerate(value):
                if type(v) is dict:
                    self._add(v, lineno, j, start)
                    start = False
                else:
                    self.refuse(f"line {lineno} [{j}]", f"must be a JSON object (a SenML record), got {shown(v)}")
        else:
            self.refuse(
                f"line {lineno}",
                f"must be a JSON object (a record or a readers API message) or an array (a SenML pack), got {shown(value)}",
            )

    def _add(self, value: dict[str, Any], line: int, sub: int, start: bool) -> None:
        self.values.append(value)
        self.lines.append(line)
        self.subs.append(sub)
        self.starts.append(start)
        self.ords.append(self.count)
        self.count += 1

    def refuse(self, where: str, reason: str) -> None:
        self.refused.append(Refusal(self.count, where, reason))
        self.count += 1

    def chunk(self, reader: FileReader) -> _Chunk:
        lines, subs = np.array(self.lines, dtype=np.int64), np.array(self.subs, dtype=np.int64)

        def where(i: int) -> str:
            return f"line {lines[i]}" + (f" [{subs[i]}]" if subs[i] >= 0 else "")

        starts = np.array(self.starts, dtype=bool)
        return _Chunk(reader._split(self.values, np.array(self.ords, dtype=np.int64), where, starts), self.refused, self.count)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a batch is parsed: a batch makes tens of thousands
    of containers (a dict a record, a list a CSV row) that die with it, and the collector would
    walk them again at every collection as they pile up (a third of a pack's parse time)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _line_blocks(text: io.TextIOBase) -> Iterator[list[str]]:
    """The lines of the text, a block at a time (str.split is C-fast; iterating a file line by line is not)."""
    rest = ""
    while True:
        data = text.read(BLOCK_CHARS)
        if not data:
            if rest:
                yield [rest]
            return
        data = rest + data
        cut = data.rfind("\n")
        if cut < 0:
            rest = data
            continue
        rest = data[cut + 1 :]
        yield data[:cut].split("\n")


def _json_reason(text: str, e: Exception) -> str:
    if isinstance(e, json.JSONDecodeError):
        return f"not valid JSON: {e.msg} at column {e.colno}"
    return f"not valid JSON: it starts with {shown(text[:20])}"


def _delimiter(header: str) -> str:
    """The delimiter that splits the header into the most field names this program knows (',' on a tie)."""

    def known(d: str) -> int:
        return sum(is_known(canonical(c.strip())) for c in next(csv.reader([header], delimiter=d)))

    return max(_DELIMITERS, key=lambda d: (known(d), d == ","))


def _columns(records: list[dict[str, Any]], keys: set[str], kind: Kind) -> dict[str, Column]:
    """Each field of this kind among `keys` (those of the records), as a column (None where a record lacks it)."""
    wanted = (SENML_LABELS if kind == "senml" else MESSAGE_KEYS) | set(ENVELOPE)
    columns: dict[str, Column] = {}
    for key in sorted(keys & wanted, key=lambda k: k != canonical(k)):  # snake_case first; camelCase fills its gaps
        label = canonical(key)
        values = list(map(dict.get, records, itertools.repeat(key)))
        if label in columns:
            values = [a if a is not None else b for a, b in zip(columns[label].values, values)]
        columns[label] = Column(label, values, text=False)
    return columns


def _lined(lines: np.ndarray) -> Callable[[int], str]:
    return lambda i: f"line {lines[i]}"


def _indexed(start: int, prefix: str = "") -> Callable[[int], str]:
    return lambda i: f"{prefix}[{start + i}]"


def _mapped(where: Callable[[int], str], rows: np.ndarray) -> Callable[[int], str]:
    return lambda i: where(int(rows[i]))


def _empty_frame() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in READING_COLUMNS})
