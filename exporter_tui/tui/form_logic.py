"""The compose form's rules that need no widgets: times, JSON paths and bodies.

Times are typed as ISO 8601 date-times or Unix seconds; a date-time without an offset is
wall-clock time in the request's zone, which is also how stored times are shown.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime, tzinfo
from typing import Any

from exporter_tui.core.durations import DurationError, get_zone
from exporter_tui.core.times import parse_iso

MAX_BODY_BYTES = 10_000_000
_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")
_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def zone_or_utc(name: str | None) -> tzinfo:
    try:
        return get_zone(name or "utc")
    except DurationError:
        return UTC


def parse_time(text: str, zone: tzinfo) -> float:
    """Unix seconds from `1741478400` or an ISO 8601 date-time; naive means `zone`. ValueError says why not."""
    text = text.strip()
    if _NUMBER.match(text):
        value = float(text)
        if not math.isfinite(value):
            raise ValueError("must be a finite number of Unix seconds")
        return value
    try:
        dt = parse_iso(text)
    except ValueError:
        raise ValueError(f"'{text}' is not an ISO 8601 date-time (2025-03-09T00:00) or Unix seconds") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=zone)
    return dt.timestamp()


def format_time(ts: float, zone: tzinfo) -> str:
    """An instant as ISO 8601 in `zone`, to the second (or finer when it has a fraction)."""
    dt = datetime.fromtimestamp(ts, zone)
    spec = "seconds" if float(ts).is_integer() else "milliseconds"
    return dt.isoformat(timespec=spec).replace("+00:00", "Z")


def path_parts(path: str) -> list[str | int]:
    """`items[0].params.from` -> ['items', 0, 'params', 'from']."""
    return [int(idx) if idx else key for key, idx in _PART.findall(path)]


def join_path(parts: Iterable[str | int]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + part
    return out


def nearest(path: str, known: Iterable[str]) -> str | None:
    """The longest path in `known` that `path` lies under (itself included), or None."""
    parts = path_parts(path)
    known_set = set(known)
    for n in range(len(parts), 0, -1):
        candidate = join_path(parts[:n])
        if candidate in known_set:
            return candidate
    return None


def set_path(body: dict[str, Any], path: str, value: Any) -> None:
    """Set a dotted key path in a nested dict, creating the dicts on the way (no list indices)."""
    keys = path.split(".")
    node = body
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value


def get_path(body: dict[str, Any], path: str) -> Any:
    node: Any = body
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def decode_body(raw: bytes | str) -> dict[str, Any]:
    """A JSON object from file bytes or pasted text; ValueError with a readable reason otherwise."""
    if isinstance(raw, bytes):
        if len(raw) > MAX_BODY_BYTES:
            raise ValueError(f"the body is larger than {MAX_BODY_BYTES} bytes")
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise ValueError(f"not UTF-8 text (byte {e.start})") from None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ValueError(f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object")
    return data


def body_json(body: dict[str, Any]) -> str:
    return json.dumps(body, indent=2, ensure_ascii=False) + "\n"


def write_atomic(path: str, text: str) -> None:
    """Write a whole file or nothing: a temporary name in the same folder, then a rename."""
    import os
    import tempfile

    target = os.path.abspath(os.path.expanduser(path))
    folder = os.path.dirname(target)
    fd, temp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, target)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise
