"""HTTP to a readers service: the path, the auth header, retries, and the answer's shape.

The token lives only in the client's headers and is masked out of every message.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from exporter_tui.config import ReadersSettings
from exporter_tui.sources.base import SourceError

log = logging.getLogger(__name__)

_SCHEMES = {"bearer": "Bearer ", "thing": "Thing ", "client": "Client ", "key": ""}
_SNIPPET = 200


@dataclass(frozen=True, slots=True)
class Page:
    total: int
    messages: list[Any]


def snip(text: str) -> str:
    return text if len(text) <= _SNIPPET else text[:_SNIPPET] + "..."


class ReadersClient:
    """One httpx.Client; `close()` ends it."""

    def __init__(
        self,
        settings: ReadersSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.url = settings.url
        self._domain = settings.domain
        self._retries = settings.retries
        self._backoff = settings.backoff
        self._timeout = settings.timeout
        self._sleep = sleep
        self._secret = settings.token
        headers = {"Authorization": _SCHEMES[settings.auth] + settings.token} if settings.token else {}
        t = settings.timeout
        self._client = httpx.Client(
            base_url=settings.url,
            headers=headers,
            timeout=httpx.Timeout(connect=t, read=t, write=t, pool=t),
            transport=transport,
        )
        self.requests = 0  # requests sent, retries included

    def close(self) -> None:
        self._client.close()

    def path(self, channel: str) -> str:
        tail = f"/channels/{quote(channel, safe='')}/messages"
        return f"/{quote(self._domain, safe='')}{tail}" if self._domain else tail

    def messages(self, channel: str, params: dict[str, str]) -> Page:
        """One page of a channel's messages."""
        path = self.path(channel)
        body = self._get(path, params)
        if not isinstance(body, dict):
            raise self.error(f"readers API answered GET {path} with JSON of the wrong shape: expected an object, got {type(body).__name__}")
        total = body.get("total")
        if type(total) is not int or total < 0:
            raise self.error(f"readers API answered GET {path} with JSON of the wrong shape: 'total' is {snip(repr(total))}, not a count")
        messages = body.get("messages")
        if messages is None:  # older readers leave it out, or send null, when empty
            messages = []
        if not isinstance(messages, list):
            raise self.error(
                f"readers API answered GET {path} with JSON of the wrong shape: 'messages' is a {type(messages).__name__}, not a list"
            )
        return Page(total, messages)

    def probe(self, path: str) -> Any:
        """The JSON at `path` (e.g. /health), or None when the server has none; never raises."""
        try:
            self.requests += 1
            resp = self._client.get(path)
            return resp.json() if resp.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None

    def _get(self, path: str, params: dict[str, str]) -> Any:
        """GET with retries on timeouts, broken connections and 5xx; the decoded JSON body."""
        attempts = 1 + self._retries
        cause = ""
        for attempt in range(attempts):
            if attempt:
                delay = self._backoff * 2 ** (attempt - 1)
                log.warning(self.mask(f"readers API GET {path} failed ({cause}); retry {attempt}/{self._retries} in {delay:g}s"))
                self._sleep(delay)
            self.requests += 1
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
                raise self.error(f"readers API refused GET {path}: {status} {resp.reason_phrase}{_hint(status)}" + _detail(resp))
            try:
                return resp.json()
            except ValueError:
                kind = resp.headers.get("content-type", "no content type")
                raise self.error(f"readers API answered GET {path} with something that is not JSON ({kind}): {snip(resp.text)!r}") from None
        raise self.error(f"readers API GET {path} failed after {attempts} attempt{'s' if attempts > 1 else ''}: {cause}")

    def mask(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text

    def error(self, message: str) -> SourceError:
        return SourceError(self.mask(message))


def _hint(status: int) -> str:
    if status in (401, 403):
        return " (check source.readers.token and source.readers.auth)"
    if status == 404:
        return " (check source.readers.url, source.readers.domain and source.readers.api)"
    return ""


def _detail(resp: httpx.Response) -> str:
    """The reason a readers service gives: `{"error", "message"}` or `{"message"}`, else the text."""
    try:
        body = resp.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        parts = [str(body[k]) for k in ("error", "message") if body.get(k)]
        if parts:
            return ": " + snip(": ".join(parts))
    text = resp.text.strip()
    return f": {snip(text)}" if text else ""
