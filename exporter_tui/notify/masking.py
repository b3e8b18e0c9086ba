"""Keep secrets (webhook URLs, tokens, passwords) out of text and log records."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import urlsplit

MASK = "***"


MIN_PART = 8  # shorter parts of a URL are not secret enough to hide wherever they appear


def mask(text: str, secrets: Iterable[str]) -> str:
    """`text` with every occurrence of every non-empty secret replaced by '***'.

    A secret URL is hidden in the forms servers and proxies echo back ("Cannot POST
    /services/T0/B0/xyz"): whole, its path with the query, and its last path segment.
    Longer secrets go first, so a webhook URL that contains a token is hidden whole."""
    for secret in _forms(frozenset(s for s in secrets if s)):
        text = text.replace(secret, MASK)
    return text


@lru_cache(maxsize=64)
def _forms(secrets: frozenset[str]) -> tuple[str, ...]:
    out = set(secrets)
    for secret in secrets:
        if "://" in secret:
            parts = urlsplit(secret)
            tail = parts.path + (f"?{parts.query}" if parts.query else "")
            out.update(p for p in (tail, parts.path.rstrip("/").rpartition("/")[2]) if len(p) >= MIN_PART)
    return tuple(sorted(out, key=len, reverse=True))


class SecretMaskingFilter(logging.Filter):
    """Rewrites a record's message, traceback and stack so no secret reaches a handler.

    Attach it to handlers (it then sees records of every logger) or to a logger
    (only records logged on that very logger). `add` may be called from any thread."""

    def __init__(self, secrets: Iterable[str] = ()):
        super().__init__()
        self._lock = threading.Lock()
        self._secrets: frozenset[str] = frozenset(s for s in secrets if s)

    def add(self, secrets: Iterable[str]) -> None:
        with self._lock:
            self._secrets = self._secrets | {s for s in secrets if s}

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = self._secrets
        if not secrets:
            return True
        record.msg = mask(record.getMessage(), secrets)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text, secrets)
        if record.stack_info:
            record.stack_info = mask(record.stack_info, secrets)
        return True
