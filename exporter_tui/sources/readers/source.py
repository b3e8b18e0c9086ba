"""Readings from a Mainflux/Magistrala/SuperMQ readers service, as a `Source`.

Before a channel's first query its newest reading is asked (`limit=1`, no window): the
magnitude of its time says seconds or nanoseconds. With `api = "auto"` that decides the
generation (a channel without readings falls back to what `/health` or `/version` says);
with an explicit `api` a disagreement fails the read, naming `source.readers.api`. What
was decided goes to the run log through `take_notes`.

How every reading is read exactly once is in paging.py; buckets the server aggregates itself
(pushdown) in aggregation.py, the decision to ask for them in pipeline/pushdown.py. `targets()` returns []: the
readers API has no endpoint that lists channels, subtopics or names; `sample_targets` finds those in a
channel's newest readings (one query).

An empty `subtopic` or `name` in a query means "any", as it does for the API.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import numpy as np
import pandas as pd

from exporter_tui.config import READERS_MAX_LIMIT, ReadersSettings
from exporter_tui.sources.base import DELTA_LOOKBACK, READING_COLUMNS, Lookback, ReadQuery, TargetInfo, TargetSample, normalise_frame
from exporter_tui.sources.readers.aggregation import Aggregates
from exporter_tui.sources.readers.client import Page, ReadersClient, snip
from exporter_tui.sources.readers.generations import GENERATIONS, Generation, by_magnitude, by_version
from exporter_tui.sources.readers.paging import WindowReader
from exporter_tui.sources.readers.sample import targets_in

# Columns some deployments send in camelCase.
_CAMEL: dict[str, str] = {
    "string_value": "stringValue",
    "bool_value": "boolValue",
    "data_value": "dataValue",
    "update_time": "updateTime",
}


class ReadersSource:
    """A `Source` over the readers HTTP API; `close()` ends its connection."""

    def __init__(
        self,
        settings: ReadersSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._settings = settings
        self._page_size = settings.page_size
        self.client = ReadersClient(settings, transport=transport, sleep=sleep)
        self._gen: Generation | None = None if settings.api == "auto" else GENERATIONS[settings.api]
        self._detected = False  # the generation was decided from what the server said
        self._whole: bool | None = None  # float seconds compared as whole ones (a Timescale reader up to 0.14); None: not known yet
        self.newest: dict[str, float | None] = {}  # each checked channel's newest reading time (Unix seconds)
        self._counts: dict[ReadQuery, int] = {}
        self._newest_in: dict[ReadQuery, dict[str, Any] | None] = {}  # a probed window's newest reading
        self._notes: list[str] = []
        self._version: tuple[Generation, str] | None = None
        self._version_asked = False

    def __repr__(self) -> str:
        return f"ReadersSource(url={self.client.url!r})"

    # -- Source protocol -------------------------------------------------------------

    def read(self, query: ReadQuery, chunk_rows: int = 100_000) -> Iterator[pd.DataFrame]:
        """Chunks of at most `chunk_rows` readings, ascending by time; nothing when empty."""
        if chunk_rows < 1:
            raise ValueError("chunk_rows must be at least 1")
        return _rechunk(self._frames(query), chunk_rows)

    def count(self, query: ReadQuery) -> int:
        if query.end <= query.start:
            return 0
        gen = self.generation(query.channel)
        n = self._fetch(query, gen.to_server(query.start), gen.to_server(query.end), 1).total
        self._counts[query] = n
        return n

    def last_before(self, channel: str, subtopic: str, name: str, before: float) -> dict[str, Any] | None:
        gen = self.generation(channel)
        params = _filters(subtopic, name) | {"to": gen.param(gen.to_server(before)), "offset": "0", "limit": "1"}
        page = self.client.messages(channel, params)
        if not page.messages:
            return None
        frame = self._frame(page.messages[:1], channel, gen)
        return {c: _plain(frame.at[0, c]) for c in READING_COLUMNS}

    def last_numeric_before(self, channel: str, subtopic: str, name: str, before: float, within: int = DELTA_LOOKBACK) -> Lookback:
        """Newest first, a page at a time, until a reading with a numeric `value` (at most `within` readings)."""
        gen = self.generation(channel)
        seen = 0
        total = 0
        while seen < within:
            limit = min(self._page_size, within - seen)
            params = _filters(subtopic, name) | {"to": gen.param(gen.to_server(before)), "offset": str(seen), "limit": str(limit)}
            page = self.client.messages(channel, params)
            total = page.total
            if not page.messages:
                return Lookback(None, exhausted=False)
            values = self._frame(page.messages, channel, gen)["value"].to_numpy(dtype="float64", na_value=np.nan)
            numeric = np.flatnonzero(~np.isnan(values))
            if len(numeric):
                return Lookback(float(values[numeric[0]]), exhausted=False)
            seen += len(values)
            if seen >= total:
                return Lookback(None, exhausted=False)
        return Lookback(None, exhausted=total > seen)

    def targets(self) -> list[TargetInfo]:
        """Always []: the readers API cannot list what it holds (see the module docstring)."""
        return []

    def has_readings(self, channel: str, subtopic: str, name: str) -> bool:
        """One `limit=1` query without a window."""
        page = self.client.messages(channel, _filters(subtopic, name) | {"offset": "0", "limit": "1"})
        return page.total > 0 or bool(page.messages)

    def sample_targets(self, channel: str, size: int = READERS_MAX_LIMIT) -> TargetSample:
        """The subtopics and names among the channel's newest `size` readings (one query; the readers' largest page)."""
        page = self.client.messages(channel, {"offset": "0", "limit": str(size)})
        gen = self._gen if channel in self.newest and self._gen is not None else self._settle(channel, page)
        found = targets_in(self._frame(page.messages, channel, gen), channel) if page.messages else []
        return TargetSample(channel, found, len(page.messages), page.total)

    def close(self) -> None:
        self.client.close()

    def take_notes(self) -> list[str]:
        """What the run log should say about the service (the generation decided); said once."""
        notes, self._notes = self._notes, []
        return notes

    # -- the generation --------------------------------------------------------------

    def generation(self, channel: str) -> Generation:
        """The generation to read `channel` with, checked against its newest reading once, as
        the server compares times (see `_compares_whole_seconds`)."""
        gen = self._gen
        if channel not in self.newest or gen is None:
            gen = self._settle(channel, self.client.messages(channel, {"offset": "0", "limit": "1"}))
        if gen.nanoseconds:
            return gen
        if self._whole is None:
            self._whole = self._compares_whole_seconds(channel, gen)
        return gen.whole() if self._whole else gen

    def _compares_whole_seconds(self, channel: str, gen: Generation) -> bool | None:
        """Whether a float-seconds server keeps whole seconds and truncates the bounds it is sent
        (the Timescale reader up to Magistrala 0.14, see generations.py); None while the channel
        has no reading to tell it by. [t, nextafter(t)) around the newest reading's time t holds
        it on a server that compares floats, and nothing on one that truncates; then [t, t + 1)
        must hold a reading at t, so that a reading removed in between is not taken for truncation."""
        t = self.newest.get(channel)
        if t is None:
            return None
        if not t.is_integer():
            return False  # a server that truncates stores no fraction
        exact = self._probe(channel, gen, t, gen.after(t))
        if exact.total or exact.messages:
            return False
        second = self._probe(channel, gen, t, t + 1).messages
        if not second or not isinstance(second[0], dict) or second[0].get("time") != t:
            return None  # the newest reading went away: ask again at the next read
        self._note(
            "the readers service keeps whole seconds and truncates the window bounds it is sent (a Timescale reader of "
            "Magistrala 0.14 or earlier): bounds are sent rounded up to whole seconds, which selects the same readings"
        )
        return True

    def _settle(self, channel: str, page: Page) -> Generation:
        """Decide or check the generation by the first reading of `page`, the newest of the channel."""
        newest = page.messages[0].get("time") if page.messages and isinstance(page.messages[0], dict) else None
        if newest is not None and type(newest) not in (int, float):
            raise self.client.error(
                f"readers API sent a message whose time is not a number for {self.client.path(channel)}: {snip(repr(newest))}"
            )
        if newest is None:
            self.newest[channel] = None
            if self._gen is None:
                self._gen, self._detected = self._from_version(), True
            self._note(
                f"channel {channel} has no readings, so the readers generation was not confirmed "
                f"(api = {self._gen.api}, times in {self._gen.unit})"
            )
            return self._gen
        if self._gen is None:
            self._gen, self._detected = by_magnitude(newest), True
            self._note(
                f"readers api detected: {self._gen.api} (times in {self._gen.unit}: the newest reading of channel "
                f"{channel} is at {newest!r})"
            )
        elif not self._gen.agrees_with(newest):
            other = by_magnitude(newest)
            raise self.client.error(
                f"source.readers.api = {self._settings.api!r} reads times in {self._gen.unit}, but the newest reading of channel "
                f"{channel} is at {newest!r}, which is in {other.unit}: set api = {other.api!r} or 'auto'"
            )
        elif not self._detected:
            self._note(f"readers api {self._gen.api} confirmed by the newest reading of channel {channel} (at {newest!r})")
        self.newest[channel] = self._gen.to_seconds(newest)
        return self._gen

    def server_version(self) -> tuple[Generation, str] | None:
        """What `/health` (Magistrala, SuperMQ, newer Mainflux) or `/version` (older Mainflux) says; asked once."""
        if not self._version_asked:
            self._version_asked = True
            for path in ("/health", "/version"):
                self._version = by_version(self.client.probe(path))
                if self._version is not None:
                    break
        return self._version

    def generation_in_use(self) -> Generation:
        """The generation reads use: set or detected, else (nothing read yet) what /health or /version says."""
        if self._gen is not None:
            return self._gen
        found = self.server_version()
        return found[0] if found else GENERATIONS["magistrala"]

    def _from_version(self) -> Generation:
        found = self.server_version()
        if found is None:
            self._note("readers api: no reading and no /health or /version to tell the generation by; assuming magistrala")
            return GENERATIONS["magistrala"]
        gen, version = found
        self._note(f"readers api detected: {gen.api} (the service says version {version})")
        return gen

    def describe(self) -> dict[str, Any]:
        """The source as a manifest names it: kind, the generation read with, and whether it was detected."""
        gen = self._gen
        return {"kind": "readers", "api": gen.api if gen else None, "detected": self._settings.api == "auto"}

    def _note(self, text: str) -> None:
        self._notes.append(self.client.mask(text))

    # -- reading ---------------------------------------------------------------------

    def _frames(self, query: ReadQuery) -> Iterator[pd.DataFrame]:
        if query.end <= query.start:
            return
        gen = self.generation(query.channel)
        lo, hi = gen.to_server(query.start), gen.to_server(query.end)
        if gen.nanoseconds:
            self._refuse_seconds(query)
        total = self._counts.pop(query, None)
        if total is None:
            total = self._fetch(query, lo, hi, 1).total

        def fetch(a: float, b: float, limit: int, publisher: str | None, offset: int) -> Page:
            return self._fetch(query, a, b, limit, publisher, offset)

        reader = WindowReader(fetch, gen, self._page_size, self.client.path(query.channel))
        for readings in reader.slices(lo, hi, total):
            yield self._frame(readings, query.channel, gen)
        at_end = self._fetch(query, lo, hi, 1).total
        if at_end != reader.read:
            raise self.client.error(
                f"the readers service counts {at_end} readings in the window at the end of the read, but {reader.read} were read "
                f"from {self.client.path(query.channel)}: readings arrived or were removed in the part already read (run it again)"
            )

    def _probe(self, channel: str, gen: Generation, lo: float, hi: float) -> Page:
        return self.client.messages(channel, {"from": gen.param(lo), "to": gen.param(hi), "offset": "0", "limit": "1"})

    def _refuse_seconds(self, query: ReadQuery) -> None:
        """Fail when the window's readings are also stored in seconds: Magistrala 0.15 writes
        nanoseconds and converts none of the rows written before the upgrade, which no window in
        nanoseconds finds. One count of the window in seconds (a nanosecond time that small
        would be in the first seconds of 1970)."""
        old = self._fetch(query, float(query.start), float(query.end), 1).total
        if old:
            raise self.client.error(
                f"{old} readings of this window in {self.client.path(query.channel)} are stored in seconds, beside readings in "
                "nanoseconds (written before the service's upgrade to 0.15, which converted none): a read in nanoseconds "
                "would leave them out; convert them in the readers' database (time * 1e9) and run it again"
            )

    def _fetch(self, query: ReadQuery, lo: float, hi: float, limit: int, publisher: str | None = None, offset: int = 0) -> Page:
        gen = self._gen or GENERATIONS["magistrala"]
        params = _filters(query.subtopic, query.name)
        if publisher:
            params["publisher"] = publisher
        params |= {"from": gen.param(lo), "to": gen.param(hi), "offset": str(offset), "limit": str(limit)}
        return self.client.messages(query.channel, params)

    # -- aggregation by the server (pushdown) ----------------------------------------

    @property
    def pushdown(self) -> str:
        """The `source.readers.pushdown` setting: auto, on or off."""
        return self._settings.pushdown

    def can_aggregate(self, channel: str) -> bool:
        """Whether the generation `channel` is read with has server aggregation (its Timescale reader)."""
        return self.generation(channel).aggregation

    def aggregation_refusal(self, query: ReadQuery) -> str | None:
        """Why the server cannot aggregate the query's readings exactly (see aggregation.py), or None."""
        gen = self.generation(query.channel)
        page = self._fetch(query, gen.to_server(query.start), gen.to_server(query.end), 1)
        self._newest_in[query] = page.messages[0] if page.messages and isinstance(page.messages[0], dict) else None
        return self._aggregates(query, gen).probe(page.total)

    def read_aggregated(self, query: ReadQuery, width: int, function: str, covered: Callable[[int], None]) -> Iterator[pd.DataFrame]:
        """Bucket rows (READING_COLUMNS; `time` the bucket's start, `value` the server's aggregate), ascending.

        The descriptive fields are those of the window's newest reading (the readers' aggregated
        answers carry none before Magistrala's HEAD). `covered(n)`: n more readings are in the buckets."""
        gen = self.generation(query.channel)
        newest = self._newest_in.pop(query, None)
        if newest is None:
            page = self._fetch(query, gen.to_server(query.start), gen.to_server(query.end), 1)
            newest = page.messages[0] if page.messages and isinstance(page.messages[0], dict) else {}
        desc = {c: newest.get(c) for c in ("subtopic", "publisher", "protocol", "name", "unit")}
        desc |= (
            {"channel": query.channel}
            | ({"subtopic": query.subtopic} if query.subtopic else {})
            | ({"name": query.name} if query.name else {})
        )
        counted = 0

        def count(n: int) -> None:
            nonlocal counted
            counted += n
            covered(n)

        for buckets in self._aggregates(query, gen).buckets(function, width, count):
            yield normalise_frame(pd.DataFrame([{**desc, "time": float(b), "value": v} for b, v in buckets]))
        at_end = self._fetch(query, gen.to_server(query.start), gen.to_server(query.end), 1).total
        if at_end != counted:
            raise self.client.error(
                f"source.readers.pushdown: the server's COUNT buckets hold {counted} readings, but it counts {at_end} in the window "
                f"of {self.client.path(query.channel)} at the end of the read: readings arrived or were removed during it (run it again)"
            )

    def _aggregates(self, query: ReadQuery, gen: Generation) -> Aggregates:
        def fetch(lo: float, hi: float, function: str, width: int, limit: int) -> Page:
            params = _filters(query.subtopic, query.name)
            params |= {"from": gen.param(lo), "to": gen.param(hi), "offset": "0", "limit": str(limit)}
            params |= {"aggregation": function, "interval": f"{width}s"}
            return self.client.messages(query.channel, params)

        return Aggregates(fetch, gen, self._page_size, self.client.path(query.channel), query.start, query.end)

    # -- decoding --------------------------------------------------------------------

    def _frame(self, messages: list[Any], channel: str, gen: Generation) -> pd.DataFrame:
        """A frame of READING_COLUMNS from SenML dicts (snake_case or camelCase keys), times in seconds."""
        path = self.client.path(channel)
        for m in messages:
            if not isinstance(m, dict):
                raise self.client.error(f"readers API sent a message that is not an object for {path}: {snip(repr(m))}")
        cols: dict[str, list[Any]] = {}
        for col in READING_COLUMNS:
            camel = _CAMEL.get(col)
            cols[col] = [m.get(col) for m in messages] if camel is None else [m.get(col, m.get(camel)) for m in messages]
        times = cols["time"]
        for i, t in enumerate(times):
            if t is None:
                raise self.client.error(f"readers API sent a message without a time for {path}: {snip(repr(messages[i]))}")
            if type(t) not in (int, float):
                raise self.client.error(f"readers API sent a message whose time is not a number for {path}: {snip(repr(t))}")
            times[i] = gen.to_seconds(t)
        updates = cols["update_time"]
        for i, u in enumerate(updates):
            if type(u) in (int, float) and abs(u) >= 1e13:  # some writers store it in nanoseconds too
                updates[i] = u / 1e9
        try:
            return normalise_frame(pd.DataFrame(cols))
        except (ValueError, TypeError) as e:
            raise self.client.error(f"readers API sent a reading with a value of the wrong type for {path}: {snip(str(e))}") from None


def _filters(subtopic: str, name: str) -> dict[str, str]:
    out: dict[str, str] = {}
    if subtopic:
        out["subtopic"] = subtopic
    if name:
        out["name"] = name
    return out


def _plain(v: Any) -> Any:
    """A frame cell as a plain Python value (None for missing)."""
    if v is None or v is pd.NA or (isinstance(v, float) and v != v):
        return None
    return v.item() if isinstance(v, np.generic) else v


def _rechunk(frames: Iterator[pd.DataFrame], rows: int) -> Iterator[pd.DataFrame]:
    """Regroup frames into chunks of exactly `rows` rows (the last one may be shorter)."""
    pending: list[pd.DataFrame] = []
    n = 0
    for frame in frames:
        pending.append(frame)
        n += len(frame)
        while n >= rows:
            whole = pending[0] if len(pending) == 1 else pd.concat(pending, ignore_index=True)
            yield whole.iloc[:rows].reset_index(drop=True)
            rest = whole.iloc[rows:]
            pending = [rest] if len(rest) else []
            n = len(rest)
    if n:
        yield pending[0].reset_index(drop=True) if len(pending) == 1 else pd.concat(pending, ignore_index=True)
