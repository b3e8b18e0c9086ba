"""A chunk's bytes: one series' readings of one UTC day, column by column.

A chunk row carries its metadata in plain columns (first and last time, count, min and max
value: what counts and summaries read without decoding) and its readings in three blobs,
so a read decodes only what it asks for:

- `times`: the float64 times, strictly increasing;
- `vals`: the float64 values, NULL when the chunk has none;
- `extra`: every other column that varies within the chunk, NULL when none does; `meta`
  (JSON text) names them in order and holds the one value of each column that does not vary.

Floats are stored bit for bit. Times that are exactly first + i * step (regular sampling,
checked bit for bit when the chunk is written) are stored as that step alone, in `meta`.
The `codec` of a chunk says how its blobs are packed: RAW as they are (the default:
decoding is a copy, ~20x cheaper than inflating); ZLIB each float array byte-shuffled (the k-th byte of every number
together, which puts the slowly changing sign, exponent and high mantissa bytes side by
side) and deflated, `extra` deflated. Text arrays go as JSON lists, which keep every
string exactly (ensure_ascii escapes even lone surrogates, and loads restores them).
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from exporter_tui.sources.embedded.block import FLOAT_FIELDS, TEXT_FIELDS, Block, compacted, is_array

RAW = 0
ZLIB = 1
CODECS = {"none": RAW, "zlib": ZLIB}
_ZLIB_LEVEL = 1  # measured: higher levels shrink float arrays by a few per cent at several times the cost
# The columns a chunk keeps beyond time and value (publisher is the series').
CHUNK_FIELDS = ("protocol", "unit", "string_value", "bool_value", "data_value", "sum", "update_time")
ALL_FIELDS = frozenset({*TEXT_FIELDS, *FLOAT_FIELDS, "bool_value"})
_LEN = struct.Struct("<I")


@dataclass(frozen=True)
class Encoded:
    first_time: float
    last_time: float
    count: int
    vmin: float | None
    vmax: float | None
    codec: int
    times: bytes
    vals: bytes | None
    meta: str
    extra: bytes | None


def pack_floats(arr: np.ndarray, codec: int) -> bytes:
    raw = np.ascontiguousarray(arr, dtype="<f8")
    if codec == RAW:
        return raw.tobytes()
    shuffled = raw.view(np.uint8).reshape(-1, 8).T.tobytes()
    return zlib.compress(shuffled, _ZLIB_LEVEL)


def unpack_floats(data: bytes, codec: int) -> np.ndarray:
    if codec == RAW:
        return np.frombuffer(data, dtype="<f8").copy()  # a writable array of its own, like every frame column
    shuffled = np.frombuffer(zlib.decompress(data), dtype=np.uint8)
    return shuffled.reshape(8, -1).T.copy().view("<f8").ravel()


def _step(times: np.ndarray) -> float | None:
    """The step of times that are exactly first + i * step (regular sampling), else None."""
    if len(times) < 2:
        return None
    step = float(times[1] - times[0])
    regular = times[0] + np.arange(len(times)) * step
    return step if regular.view(np.int64).tobytes() == times.view(np.int64).tobytes() else None


def encode(block: Block, codec: int = RAW) -> Encoded:
    """A block of one series (times strictly increasing) as a chunk row."""
    block = compacted(block)
    value = block.cols.get("value")
    values = value if is_array(value) and not np.isnan(value).all() else None
    consts: dict[str, Any] = {}
    arrays: list[str] = []
    parts: list[bytes] = []
    for name in CHUNK_FIELDS:
        v = block.cols.get(name)
        if not is_array(v):
            consts[name] = v
            continue
        arrays.append(name)
        if name in FLOAT_FIELDS:
            data = np.ascontiguousarray(v, dtype="<f8").tobytes()
        elif name == "bool_value":
            data = np.ascontiguousarray(v, dtype=np.int8).tobytes()
        else:
            data = json.dumps(v.tolist()).encode()
        parts.append(_LEN.pack(len(data)) + data)
    extra = b"".join(parts) if parts else None
    step = _step(block.time)
    if extra is not None and codec == ZLIB:
        extra = zlib.compress(extra, _ZLIB_LEVEL)
    return Encoded(
        first_time=float(block.time[0]),
        last_time=float(block.time[-1]),
        count=len(block),
        vmin=None if values is None else float(np.nanmin(values)),
        vmax=None if values is None else float(np.nanmax(values)),
        codec=codec,
        times=b"" if step is not None else pack_floats(block.time, codec),
        vals=None if values is None else pack_floats(values, codec),
        meta=json.dumps({"const": consts, "arrays": arrays} | ({} if step is None else {"step": step, "count": len(block)})),
        extra=extra,
    )


def times_of(codec: int, first: float, times: bytes, meta: str) -> np.ndarray:
    """A chunk row's times alone."""
    return chunk_times(codec, times, json.loads(meta), first)


def chunk_times(codec: int, times: bytes, info: dict[str, Any], first: float) -> np.ndarray:
    """A chunk's times from its `times` blob, or from its first time and step when regular."""
    step = info.get("step")
    if step is None:
        return unpack_floats(times, codec)
    return first + np.arange(info["count"]) * step


def decode(
    codec: int,
    first: float,
    times: bytes,
    vals: bytes | None,
    meta: str,
    extra: bytes | None,
    publisher: str,
    wanted: frozenset[str],
) -> Block:
    """A chunk row's readings; columns not in `wanted` come back missing (one None)."""
    info = json.loads(meta)
    time = chunk_times(codec, times, info, first)
    cols: dict[str, Any] = {name: None for name in (*TEXT_FIELDS, *FLOAT_FIELDS, "bool_value")}
    cols["publisher"] = publisher if "publisher" in wanted else None
    if vals is not None and "value" in wanted:
        cols["value"] = unpack_floats(vals, codec)
    for name, v in info["const"].items():
        if name in wanted:
            cols[name] = v
    if extra is not None and any(name in wanted for name in info["arrays"]):
        data = zlib.decompress(extra) if codec == ZLIB else extra
        at = 0
        for name in info["arrays"]:
            (size,) = _LEN.unpack_from(data, at)
            at += _LEN.size
            if name in wanted:
                cols[name] = _array(name, data[at : at + size])
            at += size
    return Block(time, cols)


def _array(name: str, data: bytes) -> np.ndarray:
    if name in FLOAT_FIELDS:
        return np.frombuffer(data, dtype="<f8").copy()
    if name == "bool_value":
        return np.frombuffer(data, dtype=np.int8).copy()
    values = json.loads(data)
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr
