"""A SenML pack (a JSON array) read a piece at a time, so memory stays bounded by the piece.

A piece is cut after a `}` and parsed as an array: parsing from a true boundary between
elements goes exactly as parsing the whole file would, so a piece parses only when its cut
falls between two elements (a `}` inside a string or a nested object leaves the piece
unfinished, and an earlier `}` is tried). An element that is not an object passes through
to be refused by the caller.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from typing import Any

from exporter_tui.sources.ingest.refusals import FileInvalid, shown


class JsonArray:
    """A JSON array read piece by piece, `block` characters at a time, with the line and column
    of any syntax error in the whole file."""

    def __init__(self, text: io.TextIOBase, name: str, block: int, loads: Callable[[str], Any] = json.loads) -> None:
        self.text = text
        self.loads = loads  # the decoder (the reader's keeps NaN and Infinity to refuse them)
        self.name = name
        self.block = block
        self.max_piece = 32 * block  # a piece that still does not parse is a broken file, not a huge record
        self.buf = ""
        self.line = 1  # the line and column where self.buf starts
        self.col = 1
        self.eof = False

    def _more(self) -> bool:
        data = self.text.read(self.block)
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def _drop(self, k: int) -> None:
        dropped = self.buf[:k]
        newlines = dropped.count("\n")
        if newlines:
            self.line += newlines
            self.col = k - dropped.rfind("\n")
        else:
            self.col += k
        self.buf = self.buf[k:]

    def _place(self, k: int) -> str:
        before = self.buf[:k]
        newlines = before.count("\n")
        if newlines:
            return f"line {self.line + newlines} column {k - before.rfind(chr(10))}"
        return f"line {self.line} column {self.col + k}"

    def _fail(self, what: str, k: int) -> FileInvalid:
        return FileInvalid(f"{self.name}: not valid JSON: {what} at {self._place(k)}")

    def read_start(self) -> str:
        """Skip to the document's first character: '[' (a pack, consumed) or '{' (a page, left)."""
        while not self.buf.strip() and self._more():
            pass
        stripped = self.buf.lstrip()
        self._drop(len(self.buf) - len(stripped))
        if not stripped:
            raise FileInvalid(f"{self.name}: the file is empty; a SenML pack is a JSON array of records")
        if stripped[0] == "[":
            self._drop(1)
            return "["
        if stripped[0] == "{":
            return "{"
        raise FileInvalid(f"{self.name}: a SenML JSON file is an array of records ('[' first), not {shown(stripped[:20])}...")

    def rest(self) -> str:
        while self._more():
            pass
        return self.buf

    def pieces(self) -> Iterator[list[Any]]:
        """The array's elements, a piece at a time."""
        first = True
        while True:
            values, cut = self._piece(first)
            if values is not None:
                first = False
                self._drop(cut)
                if values:
                    yield values
                continue
            if self.eof:
                break
            if len(self.buf) > self.max_piece:
                self._raise_for(self.buf, first)
            self._more()
        yield from self._tail(first)

    def _piece(self, first: bool) -> tuple[list[Any] | None, int]:
        """The elements up to the last '}' that ends an element, or (None, 0) when none does yet."""
        cut = self.buf.rfind("}")
        for _ in range(3):  # a '}' inside a string, or inside a nested object, makes the piece fail: try an earlier one
            if cut < 0:
                return None, 0
            body, _ = self._body(self.buf[: cut + 1], first)
            if body is not None:
                try:
                    return self.loads("[" + body + "]"), cut + 1
                except json.JSONDecodeError:
                    pass
            cut = self.buf.rfind("}", 0, cut)
        return None, 0

    def _body(self, piece: str, first: bool) -> tuple[str | None, int]:
        """The piece without the comma that separates it from the one before (None when that comma is missing)."""
        stripped = piece.lstrip()
        offset = len(piece) - len(stripped)
        if first:
            return stripped, offset
        if not stripped.startswith(","):
            return None, offset
        return stripped[1:], offset + 1

    def _tail(self, first: bool) -> Iterator[list[Any]]:
        """What follows the last object: whitespace and ']' (or elements that are not objects, then ']')."""
        stripped = self.buf.rstrip()
        if not stripped.endswith("]"):
            where = len(stripped)
            raise self._fail(
                "the array is not closed (']' expected)" if stripped.strip() == "" or "]" not in stripped else "extra data after the array",
                where,
            )
        body = stripped[:-1]
        if body.strip():
            yield self._raise_or_values(body, first)

    def _raise_or_values(self, body: str, first: bool) -> list[Any]:
        inner, offset = self._body(body, first)
        if inner is None:
            raise self._fail("',' expected between records", offset)
        try:
            return list(self.loads("[" + inner + "]"))
        except json.JSONDecodeError as e:
            raise self._fail(e.msg, offset + e.pos - 1) from None

    def _raise_for(self, piece: str, first: bool) -> None:
        """No element ends in a piece this long: a syntax error in it, or a record too long to take."""
        self._raise_or_values(piece[: piece.rfind("}") + 1] if "}" in piece else piece, first)
        raise self._fail(f"a record longer than {self.max_piece} characters", 0)
