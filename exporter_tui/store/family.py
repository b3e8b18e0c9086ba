"""What every table family of the store shares: the store's connection, ids, pages of a list."""

from __future__ import annotations

import sqlite3
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from exporter_tui.store.errors import MIN_PREFIX, NotFound, too_short

if TYPE_CHECKING:
    from exporter_tui.store.store import Store


def new_id() -> str:
    """A new request or run id."""
    return str(uuid.uuid4())


@dataclass
class Page:
    results: list[Any]
    page: int
    page_size: int
    total: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def has_next(self) -> bool:
        return self.page * self.page_size < self.total

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    def links(self, base: str) -> dict[str, str | None]:
        def link(p: int) -> str:
            sep = "&" if "?" in base else "?"
            return f"{base}{sep}page={p}&pageSize={self.page_size}"

        return {"next": link(self.page + 1) if self.has_next else None, "prev": link(self.page - 1) if self.has_prev else None}


class Family:
    """The statements on one family of tables. Reads go through the store (its lock, its errors);
    writes run inside the store's `transaction()`, the caller's or the family method's own.
    Another family is reached through the store (`self._store.runs`), never by its SQL."""

    def __init__(self, store: Store, conn: sqlite3.Connection) -> None:
        self._store = store
        self._conn = conn

    def _query(self, sql: str, params: tuple | dict = ()) -> list[dict[str, Any]]:
        return self._store.query(sql, params)

    def _execute(self, sql: str, params: tuple = ()) -> sqlite3.Cursor:
        """One statement inside the store's open `transaction()`, so it commits (or rolls back) with it."""
        if not self._conn.in_transaction:
            raise RuntimeError("a store statement outside a transaction()")
        return self._conn.execute(sql, params)

    def _by_id(self, table: str, noun: str, given: str, *, prefix_filter: str = "") -> dict[str, Any] | None:
        """The row with id `given`, or the one row whose id starts with it (at least MIN_PREFIX
        characters of an id, never a LIKE pattern; `prefix_filter` narrows the prefix match)."""
        rows = self._query(f"SELECT * FROM {table} WHERE id = ?", (given,))
        if not rows and len(given) >= MIN_PREFIX and all(c in "0123456789abcdef-" for c in given.lower()):
            rows = self._query(f"SELECT * FROM {table} WHERE id LIKE ? || '%'{prefix_filter} LIMIT 2", (given.lower(),))
            if len(rows) > 1:
                raise NotFound(f"{noun} id prefix '{given}' is ambiguous; give more characters")
        if not rows and len(given) < MIN_PREFIX:
            raise NotFound(too_short(given))
        return rows[0] if rows else None
