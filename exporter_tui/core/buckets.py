"""Where sub-day decimation buckets (`s`, `m`, `h` units) start: on the request's local clock.

The rule: a bucket of `width` seconds has a boundary at every instant whose local wall clock,
counted from 1970-01-01 00:00 local, is a multiple of `width`. For a width that divides 24 h
that is every multiple of the width after each local midnight (a `6h` day is 00 06 12 18
local, and the bucket holding a daylight-saving change lasts 5 or 7 hours; `1h` and `15m`
buckets never change length). A wall time that occurs twice gives two boundaries, one that
is skipped gives none. A time's bucket starts at the last boundary at or before it.

`boundaries` is the rule itself; `bucket_starts` places many times at once, by local
arithmetic where no offset change is near and by `boundaries` where one is. Neither needs
pandas: the instants of a wall time are found among the zone's constant-offset pieces.
"""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import numpy as np

# More than any change of a zone's UTC offset in tzdata (Samoa skipped a whole day in 2011),
# so a window of wall times this much wider than a range holds every boundary of the range.
MAX_JUMP = 26 * 3600
# Up to this width no two offset changes fall within one bucket, so a time whose offset equals
# its candidate bucket start's has no change in between (tzdata's changes are weeks apart).
_LOCAL_ARITHMETIC_MAX = 7 * 86_400


def wall_seconds(times: np.ndarray, zone: ZoneInfo | timezone) -> np.ndarray:
    """The local wall clock of whole Unix seconds, as seconds since 1970-01-01 00:00 local (int64).

    A zone's offset is constant between its changes, which are weeks apart (_LOCAL_ARITHMETIC_MAX):
    a run of ascending times no longer than that whose first and last share an offset holds no
    change, and takes that offset. Other runs are halved until they are such runs or single
    times, so a chunk costs a few offset lookups instead of a time-zone conversion per time.
    Unsorted times (a few, from `boundaries`) are looked up one by one."""
    whole = times.astype("int64")
    n = len(whole)
    if n > 2 and bool(np.all(whole[1:] >= whole[:-1])):
        out = np.empty(n, dtype="int64")
        runs = [(0, n - 1)]
        while runs:
            lo, hi = runs.pop()
            first, last = _offset(int(whole[lo]), zone), _offset(int(whole[hi]), zone)
            if first == last and whole[hi] - whole[lo] <= _LOCAL_ARITHMETIC_MAX:
                out[lo : hi + 1] = whole[lo : hi + 1] + first
            elif hi - lo <= 1:
                out[lo], out[hi] = whole[lo] + first, whole[hi] + last
            else:
                mid = (lo + hi) // 2
                runs += [(lo, mid), (mid + 1, hi)]
        return out
    return np.array([t + _offset(t, zone) for t in whole.tolist()], dtype="int64")


def _offset(t: int, zone: ZoneInfo | timezone) -> int:
    """The zone's UTC offset at Unix second t, in seconds."""
    offset = datetime.fromtimestamp(t, zone).utcoffset()
    return 0 if offset is None else int(offset.total_seconds())


def boundaries(start: float, end: float, width: int, zone: ZoneInfo | timezone) -> np.ndarray:
    """Every boundary b with start <= b <= end, after the last one before `start` (Unix seconds, ascending)."""
    quick = _local_boundaries(start, end, width, zone)
    if quick is not None:
        return quick
    first, last = wall_seconds(np.array([np.floor(start), np.floor(end)]), zone)
    lo = (first - width - MAX_JUMP) // width * width
    walls = np.arange(lo, last + MAX_JUMP + 1, width, dtype="int64")
    found = _instants_of(walls, zone).astype("float64")
    before = np.searchsorted(found, start, side="right") - 1
    return found[max(before, 0) : np.searchsorted(found, end, side="right")]


def _instants_of(walls: np.ndarray, zone: ZoneInfo | timezone) -> np.ndarray:
    """Every instant (Unix seconds, ascending, each once) whose local wall clock is one of `walls`
    (ascending wall seconds): none for a skipped wall time, two for a repeated one. On a piece of
    constant offset o the wall clock is t + o, so a wall time w is reached there at t = w - o
    if that falls within the piece."""
    found = [
        instants[(instants >= begin) & (instants < end)]
        for begin, end, offset in _pieces(int(walls[0]) - MAX_JUMP, int(walls[-1]) + MAX_JUMP, zone)
        for instants in [walls - offset]
    ]
    return np.unique(np.concatenate(found))


def first_instants(walls: np.ndarray, zone: ZoneInfo | timezone) -> np.ndarray:
    """The instant (Unix seconds, int64) each wall time first occurs (`walls`: wall seconds, say
    local midnights): the earlier of two for a repeated one, and for one a change skipped, the
    first instant after the gap (the change itself, whose wall time is the next that exists)."""
    pieces = _pieces(int(walls.min()) - MAX_JUMP, int(walls.max()) + MAX_JUMP, zone)
    out = np.full(len(walls), np.iinfo(np.int64).max)
    for begin, end, offset in pieces:
        instants = walls - offset
        out = np.where((instants >= begin) & (instants < end), np.minimum(out, instants), out)
    for (_, change, before), (_, _, after) in zip(pieces, pieces[1:]):
        if after > before:  # the wall times change + before up to change + after were skipped
            out = np.where((walls >= change + before) & (walls < change + after), change, out)
    return out


def _pieces(lo: int, hi: int, zone: ZoneInfo | timezone) -> list[tuple[int, int, int]]:
    """The instants lo..hi as pieces `(begin, end, offset)` of one UTC offset, begin <= t < end, in
    order. A change is found by halving a span whose ends differ in offset (or which is longer
    than changes are apart, _LOCAL_ARITHMETIC_MAX) down to the second it happens."""
    pieces: list[tuple[int, int, int]] = []
    spans = [(lo, hi + 1)]  # end exclusive; popped in order, earliest first
    while spans:
        begin, end = spans.pop()
        first, last = _offset(begin, zone), _offset(end - 1, zone)
        if first == last and end - 1 - begin <= _LOCAL_ARITHMETIC_MAX:
            if pieces and pieces[-1][2] == first and pieces[-1][1] == begin:
                pieces[-1] = (pieces[-1][0], end, first)
            else:
                pieces.append((begin, end, first))
        elif end - begin == 2:
            pieces += [(begin, begin + 1, first), (begin + 1, end, last)]
        else:
            mid = (begin + end) // 2
            spans += [(mid, end), (begin, mid)]
    return pieces


def _local_boundaries(start: float, end: float, width: int, zone: ZoneInfo | timezone) -> np.ndarray | None:
    """`boundaries` by local arithmetic, when no offset change can fall between the last boundary
    before `start` and `end` (the same offset at both and at most _LOCAL_ARITHMETIC_MAX apart);
    else None."""
    whole_start, whole_end = int(np.floor(start)), int(np.floor(end))
    offset = _offset(whole_start, zone)
    wall = whole_start + offset
    first = wall - wall % width - offset
    if whole_end - first > _LOCAL_ARITHMETIC_MAX or _offset(whole_end, zone) != offset or _offset(first, zone) != offset:
        return None
    return np.arange(first + offset, whole_end + offset + 1, width, dtype="int64").astype("float64") - offset


def bucket_starts(times: np.ndarray, width: int, zone: ZoneInfo | timezone) -> np.ndarray:
    """The start (Unix seconds) of each time's bucket; `times` ascending."""
    if len(times) == 0:
        return np.empty(0)
    if width > _LOCAL_ARITHMETIC_MAX:
        return _by_search(times, boundaries(float(times[0]), float(times[-1]), width, zone))
    whole = np.floor(times)
    walls = wall_seconds(whole, zone)
    starts = (whole - walls % width).astype("float64")  # right while the offset stays the same since
    heads = np.flatnonzero(np.r_[True, starts[1:] != starts[:-1]])  # starts ascend: each distinct one once
    offsets = np.repeat(wall_seconds(starts[heads], zone) - starts[heads], np.diff(np.r_[heads, len(starts)]))
    changed = offsets != walls - whole
    if changed.any():
        # Near an offset change: the rule itself, once per cluster of such times.
        where = np.flatnonzero(changed)
        groups = np.split(where, np.flatnonzero(np.diff(times[where]) > 2 * width) + 1)
        for group in groups:
            starts[group] = _by_search(times[group], boundaries(float(times[group[0]]), float(times[group[-1]]), width, zone))
    return starts


def _by_search(times: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    return bounds[np.maximum(np.searchsorted(bounds, times, side="right") - 1, 0)]
