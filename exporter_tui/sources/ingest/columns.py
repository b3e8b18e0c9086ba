"""A batch of records as columns, and the checks that turn a column of raw values into typed
arrays, noting each bad value against its record.

Every check has a fast path over the whole column (the set of value types, one numpy
conversion, the distinct values of a text column) and looks at single values only where
the fast path found something wrong, so a clean column costs a few C-level passes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC
from typing import Any, Literal

import numpy as np
import pandas as pd

from exporter_tui.core.fields import has_control
from exporter_tui.core.times import parse_iso
from exporter_tui.sources.ingest.refusals import shown

_NONE = type(None)
TextCheck = Literal["unicode", "label", "none"]


class JsonConstant:
    """NaN, Infinity or -Infinity in a JSON file: Python's json reads them, JSON does not allow them."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


class Problems:
    """The reasons each record of a batch is refused, by row."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.reasons: dict[int, list[str]] = {}

    def add(self, row: int | np.integer, reason: str) -> None:
        self.reasons.setdefault(int(row), []).append(reason)

    def add_rows(self, mask: np.ndarray, reason: str | Callable[[int], str]) -> None:
        for row in np.flatnonzero(mask):
            self.add(row, reason if isinstance(reason, str) else reason(int(row)))

    def bad(self) -> np.ndarray:
        mask = np.zeros(self.size, dtype=bool)
        if self.reasons:
            mask[list(self.reasons)] = True
        return mask


class Column:
    """One field's raw values in a batch: JSON values (None where a record lacks it) or, from
    CSV, text ('' where the cell is empty)."""

    def __init__(self, label: str, values: Sequence[Any], text: bool) -> None:
        self.label = label
        self.values = values
        self.text = text


def absent(size: int) -> np.ndarray:
    return np.zeros(size, dtype=bool)


def objects(values: Sequence[Any]) -> np.ndarray:
    """A 1-d object array of the values as they are (np.array would make lists of equal length a 2-d array)."""
    return np.fromiter(values, dtype=object, count=len(values))


def _given_rows(out: np.ndarray, values: Sequence[Any]) -> np.ndarray | None:
    """The rows that hold a value (not None), or None when every row does (list.count is C-fast)."""
    return np.flatnonzero(out != None) if values.count(None) else None  # noqa: E711  (elementwise)


def _given_mask(size: int, rows: np.ndarray | None) -> np.ndarray:
    if rows is None:
        return np.ones(size, dtype=bool)
    given = absent(size)
    given[rows] = True
    return given


def numbers(col: Column | None, size: int, problems: Problems) -> tuple[np.ndarray, np.ndarray]:
    """(float64 values with NaN where absent or bad, given mask); a value that is given but not
    a finite number is a problem. JSON true/false is not a number."""
    if col is None:
        return np.full(size, np.nan), absent(size)
    if col.text:
        arr, given, bad = _numbers_from_text(col, problems)
    else:
        # Only the rows holding a value are looked at: a base field is in one record of a thousand.
        out = objects(col.values)
        rows = _given_rows(out, col.values)
        sub = out if rows is None else out[rows]
        given = _given_mask(size, rows)
        arr = np.full(size, np.nan)
        bad = absent(size)
        converted = None
        if set(map(type, sub)) <= {float, int}:
            try:
                converted = sub.astype(np.float64)  # no NaN among them: JSON's NaN is a JsonConstant
            except OverflowError:  # an integer past the float range
                pass
        if converted is None:
            converted = _numbers_one_by_one(col.label, sub, problems, rows, bad)
        if rows is None:
            arr = converted
        else:
            arr[rows] = converted
    infinite = given & ~bad & ~np.isfinite(arr)
    if infinite.any():
        problems.add_rows(infinite, lambda i: f"'{col.label}' must be a finite number, got {shown(col.values[i])}")
        arr = np.where(infinite, np.nan, arr)
    return arr, given


def _numbers_one_by_one(label: str, values: np.ndarray, problems: Problems, rows: np.ndarray | None, bad: np.ndarray) -> np.ndarray:
    """The values as floats, each looked at: a bad one is refused (its row marked in `bad`) and NaN."""
    arr = np.full(len(values), np.nan)
    for j, v in enumerate(values):
        i = j if rows is None else int(rows[j])
        if type(v) in (int, float):
            try:
                arr[j] = float(v)
                continue
            except OverflowError:
                problems.add(i, f"'{label}' must be a finite number, got {shown(v)}")
        elif isinstance(v, JsonConstant):
            problems.add(i, f"'{label}' must be a finite number, got {v!r}")
        else:
            problems.add(i, f"'{label}' must be a number, got {shown(v)}")
        bad[i] = True
    return arr


def _numbers_from_text(col: Column, problems: Problems) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    values = col.values
    given = np.fromiter(map(bool, values), dtype=bool, count=len(values))
    bad = absent(len(values))
    try:
        return np.array([v or "nan" for v in values], dtype=np.float64), given, bad
    except ValueError:
        pass
    arr = np.full(len(values), np.nan)
    times = col.label in ("t", "time")
    for i, v in enumerate(values):
        if not v:
            continue
        try:
            arr[i] = float(v)
            continue
        except ValueError:
            pass
        if times:  # a CSV time may be an ISO 8601 date-time; without an offset it is UTC
            try:
                dt = parse_iso(v.strip())
                arr[i] = dt.timestamp() if dt.tzinfo else dt.replace(tzinfo=UTC).timestamp()
                continue
            except ValueError:
                problems.add(i, f"'{col.label}' must be Unix seconds or an ISO 8601 date-time, got {shown(v)}")
        else:
            problems.add(i, f"'{col.label}' must be a number, got {shown(v)}")
        bad[i] = True
    return arr, given, bad


def texts(col: Column | None, size: int, problems: Problems, *, check: TextCheck = "unicode") -> tuple[np.ndarray, np.ndarray]:
    """(object array of str with None where absent or bad, given mask). `check`: "unicode", text
    must be valid Unicode; "label", nor hold a control character (ids, names, units); "none", for
    text checked later as a whole (a SenML name is checked once joined)."""
    if col is None:
        return np.empty(size, dtype=object), absent(size)  # None-filled
    values = col.values
    out = objects(values)
    if col.text:
        given = out != ""
        if not given.all():
            out[~given] = None
    else:
        rows = _given_rows(out, values)
        given = _given_mask(size, rows)
        sub = out if rows is None else out[rows]
        if not set(map(type, sub)) <= {str}:
            for j, v in enumerate(sub):
                if type(v) is not str:
                    i = j if rows is None else int(rows[j])
                    problems.add(i, f"'{col.label}' must be text, got {shown(v)}")
                    out[i] = None
    if check != "none":
        _check_text(col.label, out, given, problems, check == "label")
    return out, given


def _check_text(label: str, out: np.ndarray, given: np.ndarray, problems: Problems, label_like: bool) -> None:
    """Refuse lone surrogates (bytes that were not UTF-8, or a JSON `\\ud800` escape) and, in
    label-like text, control characters; over the distinct values, so a repeated id costs once."""
    present = out[given]
    if not len(present):
        return
    distinct = pd.unique(present[present != None])  # noqa: E711  (bad values were set to None)
    bad: dict[str, str] = {}
    try:
        "".join(distinct).encode("utf-8")
    except UnicodeEncodeError:
        for v in distinct:
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                bad[v] = f"'{label}' is not valid UTF-8 text ({_first_surrogate(v)})"
    if label_like and not "".join(distinct).isprintable():
        for v in distinct:
            if v not in bad and has_control(v):
                bad[v] = f"'{label}' has a control character: {shown(v)}"
    if bad:
        rows = np.flatnonzero(given & pd.Series(out).isin(list(bad)).to_numpy())
        for i in rows:
            problems.add(i, bad[out[i]])
            out[i] = None


def _first_surrogate(text: str) -> str:
    """What makes text unencodable: a byte that was not UTF-8 (decoded with surrogateescape) or a lone surrogate escape."""
    for i, ch in enumerate(text):
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:
            return f"byte 0x{code - 0xDC00:02x} at character {i + 1}"
        if 0xD800 <= code <= 0xDFFF:
            return f"a lone surrogate \\u{code:04x} at character {i + 1}"
    return "unencodable"


def bools(col: Column | None, size: int, problems: Problems) -> tuple[np.ndarray, np.ndarray]:
    """(object array of True/False with None where absent or bad, given mask). JSON takes true
    and false; CSV also takes 1 and 0, in any case."""
    out = np.empty(size, dtype=object)
    if col is None:
        return out, absent(size)
    values = col.values
    given = absent(size)
    if col.text:
        for i, v in enumerate(values):
            if not v:
                continue
            given[i] = True
            word = v.strip().lower()
            if word in ("true", "1"):
                out[i] = True
            elif word in ("false", "0"):
                out[i] = False
            else:
                problems.add(i, f"'{col.label}' must be true or false, got {shown(v)}")
        return out, given
    types = set(map(type, values))
    out = objects(values)
    given = out != None if _NONE in types else np.ones(size, dtype=bool)  # noqa: E711
    if not types <= {bool, _NONE}:
        for i, v in enumerate(values):
            if v is not None and type(v) is not bool:
                problems.add(i, f"'{col.label}' must be true or false, got {shown(v)}")
                out[i] = None
    return out, given


def version(col: Column | None, size: int, problems: Problems, newest: int) -> None:
    """`bver`: a whole number from 1 to `newest` (RFC 8428 is version 10); anything else is refused."""
    if col is None:
        return
    values = objects(col.values)
    for i in np.flatnonzero((values != None) & (values != "")):  # noqa: E711  (elementwise)
        v = values[i]
        number: Any = v
        if col.text:
            try:
                number = int(v)
            except ValueError:
                number = None
        if type(number) is float and number.is_integer():
            number = int(number)
        if type(number) is not int:
            problems.add(i, f"'{col.label}' must be a whole number, got {shown(v)}")
        elif number > newest:
            problems.add(i, f"'{col.label}' {number} is a SenML version newer than {newest}, the one this program reads (RFC 8428)")
        elif number < 1:
            problems.add(i, f"'{col.label}' must be at least 1, got {number}")
