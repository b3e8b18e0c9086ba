"""Tables whose columns fill the width they get and whose rows are keyed by id.

When the width is short, the columns named in `drop` are left out, in that order, so the
ones that tell rows apart stay readable rather than all being cut.

A reload that brings the same ids in the same order only rewrites the cells that changed,
so a table of ten thousand requests is not rebuilt for a status update.
"""

from __future__ import annotations

from rich.text import Text
from textual.events import Resize
from textual.widgets import DataTable

from exporter_tui.tui.formatting import Columns, clip, fit_widths

CHUNK = 500


class KeyedTable(DataTable):
    def __init__(self, columns: Columns, *, drop: tuple[str, ...] = (), min_flex: int = 8, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self.spec = columns
        self.drop = drop
        self.min_flex = min_flex
        self.widths: dict[str, int] = {}
        self.rows_data: list[tuple[str, dict[str, str]]] = []
        self.fill_token = 0
        self.filling = False

    def available_width(self) -> int:
        width = self.size.width or max(self.app.size.width - 2, 20)
        return width - 2  # room for the vertical scrollbar

    def fit(self) -> dict[str, int]:
        return fit_widths(self.spec, self.available_width(), minimum=self.min_flex, drop=self.drop)

    def build_columns(self) -> None:
        self.widths = self.fit()
        self.clear(columns=True)
        for key, header, _ in self.spec:
            if key in self.widths:
                self.add_column(header, width=self.widths[key], key=key)

    def cell(self, key: str, text: str) -> Text:
        return Text(clip(text, self.widths[key]), no_wrap=True, overflow="ellipsis")

    def selected_key(self) -> str | None:
        if self.row_count == 0 or not self.is_valid_row_index(self.cursor_row):
            return None
        return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value

    def show_rows(self, rows: list[tuple[str, dict[str, str]]], select: str | None = None) -> None:
        """Show `rows` ((key, cells) pairs) keeping the cursor on `select`, or on the row it was on."""
        if not self.columns:
            self.build_columns()
        keep = select or self.selected_key()
        same = not self.filling and [k for k, _ in rows] == [k for k, _ in self.rows_data]
        target = select if select is not None else (keep if not same else None)
        index = next((i for i, (k, _) in enumerate(rows) if k == target), None) if target is not None else None
        if same:
            old = dict(self.rows_data)
            for key, cells in rows:
                for col, text in cells.items():
                    if col in self.widths and old[key].get(col) != text:
                        self.update_cell(key, col, self.cell(col, text))
            self.rows_data = rows
            if index is not None:
                self.move_cursor(row=index, animate=False)
            return
        self.clear()
        self.rows_data = rows
        self.fill_token += 1
        self.filling = True
        self.add_chunk(rows, 0, self.fill_token, index)

    def add_chunk(self, rows: list[tuple[str, dict[str, str]]], start: int, token: int, index: int | None) -> None:
        """Add rows CHUNK at a time, letting keys and repaints through in between (ten thousand rows
        take most of a second to add)."""
        if token != self.fill_token:
            return  # a newer set of rows replaced this one
        end = min(start + CHUNK, len(rows))
        for key, cells in rows[start:end]:
            self.add_row(*(self.cell(c, cells[c]) for c, _, _ in self.spec if c in self.widths), key=key)
        if index is not None and start <= index < end:
            self.move_cursor(row=index, animate=False)
        if end < len(rows):
            self.call_later(self.add_chunk, rows, end, token, index)
        else:
            self.filling = False

    def update_cells(self, key: str, cells: dict[str, str]) -> None:
        """Rewrite some cells of one row (a progress tick), if the row is shown."""
        if key not in self.rows:
            return  # not added yet
        for i, (k, old) in enumerate(self.rows_data):
            if k == key:
                for col, text in cells.items():
                    if col in self.widths and old.get(col) != text:
                        self.update_cell(key, col, self.cell(col, text))
                self.rows_data[i] = (k, {**old, **cells})
                return

    def on_resize(self, event: Resize) -> None:
        if self.columns and self.fit() != self.widths:
            rows, keep = self.rows_data, self.selected_key()
            self.rows_data = []
            self.build_columns()
            self.show_rows(rows, keep)
