"""Readings from a Mainflux/Magistrala readers HTTP API (`GET /channels/{id}/messages`).

The API pages newest first (offset 0 is the newest reading), but a source must yield
oldest first. So `read` pages from the far end: a first request gives `total`, then each
page asks for the oldest readings not yet yielded (offset = total - already - limit) and
reverses them.

Data may arrive while a read is under way. A plain offset walk would then duplicate or
skip rows, because every insert shifts the offsets. To avoid that, every page request
also moves the lower bound: `from` is the time of the newest reading yielded so far, and
the readings yielded at exactly that time (they sit at the oldest end of the answer) are
stepped over by position. Each answer carries its own `total`; when it differs from the
expected one, the data changed inside [from, end) and the page is asked again with the
new total before anything of it is yielded. Hence, inside [start, end):
- nothing is yielded twice, and every reading with time >= the newest yielded time is
  yielded, however many arrive meanwhile;
- a late reading whose time is older than what was already yielded is not yielded (it
  cannot be, in ascending order); a re-run of the window picks it up.
Readings that share one timestamp are told apart by position, so the server must order
them the same way on every request (true of the SQL readers, which sort by time).

`targets()` returns []: the readers API has no endpoint that lists channels, subtopics
or names, so callers must name the targets themselves.

An empty `subtopic` or `name` in a query means "any", as it does for the API.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np
import pandas as pd

from exporter_tui.config import ReadersSettings
from exporter_tui.sources.base import READING_COLUMNS, ReadQuery, SourceError, TargetInfo, normalise_frame

log = logging.getLogger(__name__)

# Columns some deployments send in camelCase.
_CAMEL: dict[str, str] = {
    "string_value": "stringValue",
    "bool_value": "boolValue",
    "data_value": "dataValue",
    "update_time": "updateTime",
}

# Consecutive answers whose total disagrees with the previous one before giving up.
_MAX_RESYNCS = 10

_SNIPPET = 200


@dataclass(frozen=True, slots=True)
class _Page:
    total: int
    messages: list[Any]


class ReadersSource:
    """A `Source` over the readers HTTP API; one httpx.Client, closed by `close()`."""

    def __init__(
        self,
        settings: ReadersSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        # The token lives only in the client's headers, never in an attribute of its own.
        self._url = settings.url
        self._page_size = settings.page_size
        self._retries = settings.retries
        self._backoff = settings.backoff
        self._timeout = settings.timeout
        self._sleep = sleep
        headers = {"Authorization": f"Bearer {settings.token}"} if settings.token else {}
        t = settings.timeout
        self._client = httpx.Client(
            base_url=settings.url,
            headers=headers,
            timeout=httpx.Timeout(connect=t, read=t, write=t, pool=t),
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"ReadersSource(url={self._url!r})"

    # -- Source protocol -------------------------------------------------------------

    def read(self, query: ReadQuery, chunk_rows: int = 100_000) -> Iterator[pd.DataFrame]:
        """Chunks of at most `chunk_rows` readings, ascending by time; nothing when empty."""
        if chunk_rows < 1:
            raise ValueError("chunk_rows must be at least 1")
        return _rechunk(self._pages(query), chunk_rows)

    def count(self, query: ReadQuery) -> int:
        if query.end <= query.start:
            return 0
        return self._fetch(query.channel, _params(query, query.start, offset=0, limit=1)).total

    def last_before(self, channel: str, subtopic: str, name: str, before: float) -> dict[str, Any] | None:
        params = _filters(subtopic, name) | {"to": _num(before), "offset": "0", "limit": "1"}
        page = self._fetch(channel, params)
        if not page.messages:
            return None
        cols = self._columns(page.messages[:1], channel)
        frame = self._frame(cols, channel)
        return {c: _plain(frame.at[0, c]) for c in READING_COLUMNS}

    def targets(self) -> list[TargetInfo]:
        """Always []: the readers API cannot list what it holds (see the module docstring)."""
        return []

    def close(self) -> None:
        self._client.close()

    # -- paging ----------------------------------------------------------------------

    def _pages(self, query: ReadQuery) -> Iterator[pd.DataFrame]:
        """One frame per page, oldest first; the consistency rules are in the module docstring."""
        if query.end <= query.start:
            return
        size = self._page_size
        lo = query.start  # the `from` of the next request
        skip = 0  # readings at time == lo already yielded: the `skip` oldest of the answer
        expected: int | None = None  # the total the next answer should report
        resyncs = 0
        while True:
            offset = 0 if expected is None else max(0, expected - skip - size)
            page = self._fetch(query.channel, _params(query, lo, offset=offset, limit=size))
            remaining = page.total - skip
            if remaining <= 0:
                return
            take = min(size, remaining)
            if max(0, remaining - size) != offset or len(page.messages) < take:
                # First answer of a long read, or the data changed under us: ask again.
                if expected is not None:
                    resyncs += 1
                    if resyncs > _MAX_RESYNCS:
                        raise self._error(
                            f"readers API answers did not add up while paging {self._path(query.channel)} "
                            f"(total changed or messages missing, {_MAX_RESYNCS} times in a row)"
                        )
                expected = page.total
                continue
            resyncs = 0
            cols = self._columns(page.messages[:take][::-1], query.channel)
            times = cols["time"]
            self._check_order(times, lo, query.end, query.channel)
            yield self._frame(cols, query.channel)
            if offset == 0:
                return
            newest = times[-1]
            at_newest = take - _first_index_of(times, newest)
            if newest == lo:
                skip += at_newest
            else:
                lo, skip = newest, at_newest
            expected = remaining - take + skip

    # -- HTTP ------------------------------------------------------------------------

    def _path(self, channel: str) -> str:
        return f"/channels/{quote(channel, safe='')}/messages"

    def _fetch(self, channel: str, params: dict[str, str]) -> _Page:
        path = self._path(channel)
        body = self._get(path, params)
        if not isinstance(body, dict):
            raise self._error(
                f"readers API answered GET {path} with JSON of the wrong shape: expected an object, got {type(body).__name__}"
            )
        total = body.get("total")
        if type(total) is not int or total < 0:
            raise self._error(f"readers API answered GET {path} with JSON of the wrong shape: 'total' is {_snip(repr(total))}, not a count")
        messages = body.get("messages")
        if messages is None:  # Go readers send null for an empty result
            messages = []
        if not isinstance(messages, list):
            raise self._error(
                f"readers API answered GET {path} with JSON of the wrong shape: 'messages' is a {type(messages).__name__}, not a list"
            )
        return _Page(total, messages)

    def _get(self, path: str, params: dict[str, str]) -> Any:
        """GET with retries on timeouts, broken connections and 5xx; the decoded JSON body."""
        attempts = 1 + self._retries
        cause = ""
        for attempt in range(attempts):
            if attempt:
                delay = self._backoff * 2 ** (attempt - 1)
                log.warning(self._mask(f"readers API GET {path} failed ({cause}); retry {attempt}/{self._retries} in {delay:g}s"))
                self._sleep(delay)
            try:
                resp = self._client.get(path, params=params)
            except httpx.TimeoutException:
                cause = f"timed out after {self._timeout:g}s"
                continue
            except httpx.ConnectError as e:
                cause = f"connection failed: {e}"
                continue
            except httpx.TransportError as e:
                cause = f"connection broken: {type(e).__name__}: {e}"
                continue
            status = resp.status_code
            if status >= 500:
                cause = f"{status} {resp.reason_phrase}"
                continue
            if not 200 <= status < 300:
                detail = resp.text.strip()
                hint = " (check source.readers.token)" if status in (401, 403) else ""
                raise self._error(
                    f"readers API refused GET {path}: {status} {resp.reason_phrase}{hint}" + (f": {_snip(detail)}" if detail else "")
                )
            try:
                return resp.json()
            except ValueError:
                kind = resp.headers.get("content-type", "no content type")
                raise self._error(
                    f"readers API answered GET {path} with something that is not JSON ({kind}): {_snip(resp.text)!r}"
                ) from None
        raise self._error(f"readers API GET {path} failed after {attempts} attempt{'s' if attempts > 1 else ''}: {cause}")

    # -- decoding --------------------------------------------------------------------

    def _columns(self, messages: list[Any], channel: str) -> dict[str, list[Any]]:
        """Column lists of READING_COLUMNS from SenML dicts (snake_case or camelCase keys)."""
        for m in messages:
            if not isinstance(m, dict):
                raise self._error(f"readers API sent a message that is not an object for {self._path(channel)}: {_snip(repr(m))}")
        cols: dict[str, list[Any]] = {}
        for col in READING_COLUMNS:
            camel = _CAMEL.get(col)
            if camel is None:
                cols[col] = [m.get(col) for m in messages]
            else:
                cols[col] = [m.get(col, m.get(camel)) for m in messages]
        times = cols["time"]
        for i, t in enumerate(times):
            if type(t) is not float:
                if t is None:
                    raise self._error(f"readers API sent a message without a time for {self._path(channel)}: {_snip(repr(messages[i]))}")
                if type(t) is not int:
                    raise self._error(f"readers API sent a message whose time is not a number for {self._path(channel)}: {_snip(repr(t))}")
                times[i] = float(t)
        return cols

    def _frame(self, cols: dict[str, list[Any]], channel: str) -> pd.DataFrame:
        try:
            return normalise_frame(pd.DataFrame(cols))
        except (ValueError, TypeError) as e:
            raise self._error(
                f"readers API sent a reading with a value of the wrong type for {self._path(channel)}: {_snip(str(e))}"
            ) from None

    def _check_order(self, times: list[float], lo: float, end: float, channel: str) -> None:
        prev = lo
        for t in times:
            if t < prev or t >= end:
                raise self._error(
                    f"readers API answered {self._path(channel)} out of order or outside the window "
                    f"[{lo!r}, {end!r}): time {t!r} (expected newest first)"
                )
            prev = t

    def _mask(self, text: str) -> str:
        token = self._client.headers.get("Authorization", "").removeprefix("Bearer ")
        return text.replace(token, "***") if token else text

    def _error(self, message: str) -> SourceError:
        return SourceError(self._mask(message))


def _filters(subtopic: str, name: str) -> dict[str, str]:
    out: dict[str, str] = {}
    if subtopic:
        out["subtopic"] = subtopic
    if name:
        out["name"] = name
    return out


def _params(query: ReadQuery, lo: float, *, offset: int, limit: int) -> dict[str, str]:
    return _filters(query.subtopic, query.name) | {
        "from": _num(lo),
        "to": _num(query.end),
        "offset": str(offset),
        "limit": str(limit),
    }


def _num(x: float) -> str:
    """A time as the API reads it: round-trips exactly, no exponent for realistic times."""
    return repr(float(x))


def _snip(text: str) -> str:
    return text if len(text) <= _SNIPPET else text[:_SNIPPET] + "..."


def _first_index_of(times: list[float], t: float) -> int:
    """Index of the first element equal to the last one, in an ascending list ending in t."""
    i = len(times) - 1
    while i > 0 and times[i - 1] == t:
        i -= 1
    return i


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
