"""A run of one series' readings held as columns: what a chunk decodes to and what a write encodes.

Every column but the series' own key is either an array as long as `time` or one value that
holds for every reading (`Block.const`): a device's unit, protocol and publisher, and the text
values of a numeric target (NULL throughout), are nearly always one value, and keeping them
so costs nothing per reading. Missing values: NaN in float columns, -1 in `bool_value` (int8,
else 0 or 1), None in text columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeGuard

import numpy as np

FLOAT_FIELDS = ("value", "sum", "update_time")
TEXT_FIELDS = ("publisher", "protocol", "unit", "string_value", "data_value")
BOOL_NULL = -1
_EMPTY_TEXT = np.empty(0, dtype=object)


@dataclass
class Block:
    """Readings in ascending `time` (float64 Unix seconds). `cols` maps every field of
    FLOAT_FIELDS, TEXT_FIELDS and `bool_value` to an array as long as `time`, or to one value
    (a float column's only one-value form is None: all missing)."""

    time: np.ndarray
    cols: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.time)

    @staticmethod
    def const(value: Any) -> bool:
        return not is_array(value)

    def column(self, name: str) -> np.ndarray:
        """The column as an array as long as `time` (a one-value column filled out)."""
        v = self.cols.get(name)
        return v if is_array(v) else filled(name, v, len(self.time))

    def slice(self, start: int, stop: int) -> Block:
        return Block(self.time[start:stop], {k: v if Block.const(v) else v[start:stop] for k, v in self.cols.items()})

    def take(self, index: np.ndarray) -> Block:
        return Block(self.time[index], {k: v if Block.const(v) else v[index] for k, v in self.cols.items()})

    def window(self, start: float, end: float) -> Block:
        """The readings with start <= time < end (a binary search on the sorted times)."""
        lo, hi = np.searchsorted(self.time, [start, end], side="left")
        return self if lo == 0 and hi == len(self.time) else self.slice(int(lo), int(hi))


def is_array(value: Any) -> TypeGuard[np.ndarray]:
    """Whether a column value is an array (else it is the one value of every reading)."""
    return isinstance(value, np.ndarray)


def filled(name: str, value: Any, n: int) -> np.ndarray:
    """A one-value column as an array of n."""
    if name in FLOAT_FIELDS:
        return np.full(n, np.nan)
    if name == "bool_value":
        return np.full(n, BOOL_NULL, dtype=np.int8)
    arr = np.empty(n, dtype=object)  # None-filled
    if value is not None:
        arr.fill(value)  # one shared object; np.full would make n copies of a str
    return arr


def one_value(name: str, arr: np.ndarray) -> tuple[bool, Any]:
    """(True, v) when every reading of the column holds v (for floats and bools: only when all missing)."""
    if len(arr) == 0:
        return True, None
    if name in FLOAT_FIELDS:
        return (True, None) if np.isnan(arr).all() else (False, None)
    if name == "bool_value":
        return (True, None) if (arr == BOOL_NULL).all() else (False, None)
    first = arr[0]
    if first is None:
        return (True, None) if arr.tolist().count(None) == len(arr) else (False, None)
    return (True, first) if bool((arr == first).all()) else (False, None)


def compacted(block: Block) -> Block:
    """The block with each column that holds one value throughout stored as that value."""
    cols = {}
    for name, v in block.cols.items():
        if Block.const(v):
            cols[name] = v
        else:
            same, value = one_value(name, v)
            cols[name] = value if same else v
    return Block(block.time, cols)


def concat(blocks: Sequence[Block]) -> Block:
    """The blocks one after another (their times must already be in the order wanted)."""
    if len(blocks) == 1:
        return blocks[0]
    names = {k for b in blocks for k in b.cols}
    cols: dict[str, Any] = {}
    for name in names:
        values = [b.cols.get(name) for b in blocks]
        if all(Block.const(v) for v in values) and all(v == values[0] for v in values[1:]):
            cols[name] = values[0]
        else:
            cols[name] = np.concatenate([b.column(name) for b in blocks])
    time = np.concatenate([b.time for b in blocks]) if blocks else np.empty(0)
    return Block(time, cols)


def merged(blocks: Sequence[Block], ranks: Sequence[int]) -> Block:
    """Blocks of several series (one publisher each, `ranks` their publishers' order) as one
    block ordered by time, then publisher: the order the row store read them in."""
    if len(blocks) == 1:
        return blocks[0]
    whole = concat(blocks)
    rank = np.concatenate([np.full(len(b), r, dtype=np.int64) for b, r in zip(blocks, ranks)])
    return whole.take(np.lexsort((rank, whole.time)))


def union(old: Block, new: Block) -> Block:
    """The readings of both, one per time, `new`'s where both have one (a write replaces)."""
    if len(old) == 0:
        return new
    if len(new) == 0:
        return old
    keep = ~np.isin(old.time, new.time)
    both = concat([old.take(np.flatnonzero(keep)), new])
    return both.take(np.argsort(both.time, kind="stable"))


def text_array(values: Sequence[Any]) -> np.ndarray:
    """Text values as an object array (None for NULL), never pandas' string inference."""
    if not len(values):
        return _EMPTY_TEXT
    arr = np.empty(len(values), dtype=object)
    arr[:] = list(values)
    return arr
