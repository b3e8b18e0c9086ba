"""Every reading of a window exactly once from an API that only sorts by time, newest first.

The readers service answers `ORDER BY time DESC LIMIT l OFFSET o` and nothing else:
readings that share a time come in no promised order, and PostgreSQL may order them
differently on every request. An offset pager then loses some and repeats others at
each page boundary that falls inside a group of equal times; and a deep offset costs
the server time that grows with the offset. So no offset is ever sent. Instead:

Slices, oldest first. The window [lo, hi) is cut into time slices [a, b) of about
SLICE_PAGES pages each, their width guessed from the readings per unit of time seen so
far. Every answer's `total` counts only its own slice, so the server's count stays as
cheap on the last slice as on the first. A slice whose first answer shows more than
SHRINK_AT times that is not read: a narrower one is asked instead (a different request;
no page is ever fetched twice except to retry a failed one).

Inside a slice, newest first, `to` moving down. An answer holds the newest `limit`
readings of [a, to). Those newer than its oldest time t are all of [a, to) newer than t,
whatever the tie order. The group at t may be cut: the next request, [a, t), tells by its
total how big the group is. When the page held all of it nothing more is asked (the
common case); else the group is fetched on its own, [t, after(t)), and when it exceeds
one page it is split by the `publisher` filter (the group's own pages, at offsets no
deeper than the group, name its publishers). One publisher with more than `limit`
readings at one time cannot be read exactly once: the read fails, naming both.

A slice is yielded oldest first once it is whole, so memory holds one slice at most.
Each answer is checked: newest first and inside the asked window, else the read fails
with "the readers service does not return readings newest first" (Cassandra's readers
order per publisher only). At the end the window is counted again: when that total is
not the number read, readings arrived or went away in the part already read, and the
read fails naming both numbers (readings arriving ahead of the read are read anyway).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from exporter_tui.sources.base import SourceError
from exporter_tui.sources.readers.client import Page, snip
from exporter_tui.sources.readers.generations import Generation

SLICE_PAGES = 4  # the readings a slice aims at, in pages
SHRINK_AT = 4  # a slice over SHRINK_AT * SLICE_PAGES pages is asked again, narrower
MAX_GROWTH = 8.0  # a slice is at most this many times wider than the one before
GROUP_WALKS = 16  # walks at most through an over-full group of equal times to find its publishers

# fetch(from, to, limit, publisher, offset): one answer of the readers service for [from, to)
Fetch = Callable[[float, float, int, str | None, int], Page]
Time = float  # a time in the server's unit, as the float64 the server compares it as


class WindowReader:
    def __init__(self, fetch: Fetch, generation: Generation, limit: int, where: str):
        self._fetch = fetch
        self._gen = generation
        self._limit = limit
        self._where = where  # names the channel's path in errors
        self.read = 0  # readings yielded so far

    def slices(self, lo: Time, hi: Time, total: int) -> Iterator[list[dict[str, Any]]]:
        """Every reading with lo <= time < hi, one list per slice, oldest slice first, each ascending.
        `total` is the window's count, used only to guess the first slice's width."""
        if total == 0 or hi <= lo:
            return
        target = SLICE_PAGES * self._limit
        width = (hi - lo) * min(1.0, target / total)
        a = lo
        while a < hi:
            b = self._slice_end(a, hi, width)
            page = self._page(a, b)
            if page.total > SHRINK_AT * target and b > self._gen.after(a):
                width = (b - a) * target / page.total
                continue
            readings = self._slice(a, b, page)
            self.read += len(readings)
            if readings:
                yield readings
            width = (b - a) * min(MAX_GROWTH, target / max(page.total, 1))
            a = b

    def _slice_end(self, a: Time, hi: Time, width: float) -> Time:
        b = self._gen.up(a + width)
        return min(b if b > a else self._gen.after(a), hi)

    def _slice(self, a: Time, b: Time, page: Page) -> list[dict[str, Any]]:
        """Every reading of [a, b) given its first answer, ascending."""
        newest_first: list[dict[str, Any]] = []
        to = b
        while True:
            msgs = page.messages
            if page.total <= len(msgs):  # the rest of the slice, whole
                newest_first += msgs
                break
            if len(msgs) < self._limit:
                raise SourceError(
                    f"readers API answered {self._where} with {len(msgs)} readings of {page.total} for "
                    f"[{self._gen.param(a)}, {self._gen.param(to)}) and limit {self._limit}: the answer is cut short"
                )
            t = float(msgs[-1]["time"])
            strict = [m for m in msgs if float(m["time"]) > t]
            edge = msgs[len(strict) :]
            newest_first += strict
            older = self._page(a, t) if t > a else Page(0, [])
            group = page.total - older.total - len(strict)
            newest_first += edge if group == len(edge) else self._group(t, edge)
            if older.total == 0:
                break
            page, to = older, t
        newest_first.reverse()
        return newest_first

    def _group(self, t: Time, seen: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Every reading at time t: in one answer, else one answer per publisher.

        The publishers are found by walking the group's own pages; when the server's tie
        order hid one, another walk starts at another offset (never the same request twice)."""
        after = self._gen.after(t)
        page = self._page(t, after)
        if page.total <= len(page.messages):
            return page.messages
        todo = _publishers([*seen, *page.messages])
        done: set[str] = set()
        out: list[dict[str, Any]] = []
        walks = min(GROUP_WALKS, self._limit)  # each walk starts at its own offset modulo limit
        for walk in range(walks):
            start = walk * self._limit // walks
            offsets = range(start, page.total, self._limit) if walk else range(self._limit, page.total, self._limit)
            for offset in offsets:
                todo += _publishers(self._page(t, after, offset=offset).messages)
                out += self._publishers(t, after, [p for p in dict.fromkeys(todo) if p not in done], done)
                if len(out) == page.total:
                    return out
            out += self._publishers(t, after, [p for p in dict.fromkeys(todo) if p not in done], done)
            if len(out) >= page.total:
                break
        if len(out) != page.total:
            raise SourceError(
                f"{page.total} readings share the time {self._gen.param(t)} in {self._where}, more than one answer holds "
                f"({self._limit}), and asking publisher by publisher found {len(out)} of them; they cannot be read exactly once"
            )
        return out

    def _publishers(self, t: Time, after: Time, publishers: list[str], done: set[str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for publisher in publishers:
            part = self._page(t, after, publisher)
            if part.total > len(part.messages):
                raise SourceError(
                    f"{part.total} readings of publisher {snip(publisher)!r} share the time {self._gen.param(t)} in {self._where}: "
                    f"more than one answer of the readers service holds ({self._limit}), so they cannot be read exactly once"
                )
            done.add(publisher)
            out += part.messages
        return out

    def _page(self, a: Time, b: Time, publisher: str | None = None, offset: int = 0) -> Page:
        page = self._fetch(a, b, self._limit, publisher, offset)
        for m in page.messages:
            if not isinstance(m, dict):
                raise SourceError(f"readers API sent a message that is not an object for {self._where}: {snip(repr(m))}")
            t = m.get("time")
            if t is None:
                raise SourceError(f"readers API sent a message without a time for {self._where}: {snip(repr(m))}")
            if type(t) not in (int, float):
                raise SourceError(f"readers API sent a message whose time is not a number for {self._where}: {snip(repr(t))}")
        self._check_order(page.messages, a, b)
        return page

    def _check_order(self, msgs: list[dict[str, Any]], a: Time, b: Time) -> None:
        prev: Time | None = None
        for m in msgs:
            t = float(m["time"])
            if not a <= t < b or (prev is not None and t > prev):
                raise SourceError(
                    f"the readers service does not return readings newest first: {self._where} answered time "
                    f"{self._gen.param(t)} after {self._gen.param(prev) if prev is not None else 'nothing'} for "
                    f"[{self._gen.param(a)}, {self._gen.param(b)})"
                )
            prev = t


def _publishers(messages: list[dict[str, Any]]) -> list[str]:
    """The publishers named in `messages`, in order; a reading without one cannot be asked for alone."""
    return [p for p in dict.fromkeys(str(m.get("publisher") or "") for m in messages) if p]
