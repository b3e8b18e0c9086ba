"""The repeatable parts of a request: columns, items and notification messages.

Each row knows its fields by their path relative to the row; its index (and so its full
JSON path, `items[2].params.from`) is its position among its siblings when the form is read.
A row is built with its values, so a loaded body needs no second pass after mounting.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Button, Input

from exporter_tui.core.models import COLUMN_IDS
from exporter_tui.tui.form_logic import set_path
from exporter_tui.tui.widgets.form_fields import (
    DSFS,
    MEDIA,
    OUTPUT_FORMATS,
    POLICIES,
    TRANSFORMS,
    ErrorLine,
    FieldBox,
    FieldSpec,
)
from exporter_tui.tui.widgets.target_review import TargetReview

TIME_HINT = "e.g. 2025-03-09T00:00 or 1741478400"  # ISO 8601 (naive: the request's zone) or Unix seconds
# Turns a stored value into the text a field shows (times, in the request's zone).
Shown = Callable[[FieldSpec, Any], Any]


class FormRow(Vertical):
    """A removable group of fields that is one element of a JSON array in the body: its fields one
    under the other, its error, and a button that removes it."""

    list_key: ClassVar[str] = ""
    noun: ClassVar[str] = ""
    ROW_CLASS: ClassVar[str] = ""  # the class its styles select it by
    SPECS: ClassVar[tuple[FieldSpec, ...]] = ()

    def __init__(self, data: dict[str, Any] | None = None, shown: Shown | None = None, copied: dict[str, Any] | None = None) -> None:
        """`data` is the row's JSON object (None: the defaults); `copied`, field texts taken over from
        another row; `problems` collects what it held that cannot be shown."""
        super().__init__(classes=f"form-row {self.ROW_CLASS}")
        from exporter_tui.tui.form_logic import get_path

        self.boxes: list[FieldBox] = []
        self.problems: dict[str, str] = {}
        for spec in self.SPECS:
            value = get_path(data, spec.path) if data is not None else None
            given = data is not None
            if isinstance(value, (dict, list)):
                self.problems[spec.path] = "must be a single value"
                value = None
            elif value is not None and shown is not None:
                value = shown(spec, value)
            if copied is not None and spec.path in copied:
                value, given = copied[spec.path], True
            box, problem = spec.build(value, given)
            if problem:
                self.problems[spec.path] = problem
            self.boxes.append(box)
        self.error_line = ErrorLine(classes="row-error")

    def compose(self) -> ComposeResult:
        yield from self.parts()
        yield self.error_line
        yield self.remove_button()

    def parts(self) -> list[Widget]:
        """What the row shows above its error line: its fields."""
        return list(self.boxes)

    def fields(self) -> list[FieldBox]:
        return self.boxes

    def show_error(self, text: str | None) -> None:
        self.error_line.show_error(text)

    def remove_button(self) -> Button:
        return Button(f"Remove {self.noun}", classes="remove-row", compact=True)

    @classmethod
    def following(cls, previous: FormRow | None) -> FormRow:
        """A new row added after `previous` (None: the first one)."""
        return cls()


class ColumnRow(FormRow):
    """One output column: its id and its label, movable up and down."""

    list_key = "format.columns"
    noun = "column"
    ROW_CLASS = "column-row"
    SPECS = (
        # The captions are hidden on the column's one line; they name the fields in error messages.
        FieldSpec("id", "Id", "select", COLUMN_IDS, allow_blank=True, prompt="column"),
        FieldSpec("label", "Label", placeholder="e.g. celsius (empty: the default label)"),
    )

    def compose(self) -> ComposeResult:
        with Horizontal(classes="column-line"):
            yield from self.boxes
            yield Button("↑", classes="move-up", compact=True, tooltip="move up")
            yield Button("↓", classes="move-down", compact=True, tooltip="move down")
            yield Button("✕", classes="remove-row", compact=True, tooltip="remove column")
        yield self.error_line


class ItemEditor(FormRow):
    """One item: which targets, from where, over which window, and how they are reduced."""

    list_key = "items"
    noun = "item"
    ROW_CLASS = "item-editor"
    SPECS = (
        FieldSpec("params.target.value", "Targets", placeholder="e.g. urn:dev:sensor-1:temperature,urn:dev:sensor-1:humidity"),
        FieldSpec("params.target.label", "Labels", placeholder="e.g. temperature,humidity (one per target, optional)"),
        FieldSpec("params.channelId", "Channel id", placeholder="e.g. 6b1e3f0a-58c2-4d1e-9a7b-2f4c8d9e0a11"),
        FieldSpec("params.subtopic", "Subtopic", placeholder="e.g. events.data"),
        FieldSpec("params.from", "From", "time", placeholder=TIME_HINT),
        FieldSpec("params.to", "To", "time", placeholder=TIME_HINT),
        FieldSpec("params.period", "Period", "duration", placeholder="e.g. P1D (ISO 8601 duration; instead of From and To)"),
        FieldSpec("params.decimation.ds", "Decimation", "granularity", placeholder="e.g. 15m (a granularity, optional)"),
        FieldSpec("params.decimation.dsf", "Reduce with", "select", DSFS, default="avg"),
        FieldSpec("params.transform", "Transform", "select", TRANSFORMS, allow_blank=True, prompt="none"),
        FieldSpec("params.outputFormat", "Layout", "select", OUTPUT_FORMATS, default="long"),
        FieldSpec("filename", "File name", placeholder="e.g. temperature (optional)"),
    )

    # What a new item takes over from the one before it: its window and its decimation.
    COPIED = ("params.from", "params.to", "params.decimation.ds", "params.decimation.dsf")

    def __init__(self, data: dict[str, Any] | None = None, shown: Shown | None = None, copied: dict[str, Any] | None = None) -> None:
        super().__init__(data, shown, copied)
        self.review = TargetReview()

    @classmethod
    def following(cls, previous: FormRow | None) -> ItemEditor:
        if previous is None:
            return cls()
        return cls(copied={box.path: box.raw() for box in previous.fields() if box.path in cls.COPIED})

    def box(self, path: str) -> FieldBox:
        return next(b for b in self.boxes if b.path == path)

    def parts(self) -> list[Widget]:
        """Its fields, the whole list of its targets under the first."""
        return [self.boxes[0], self.review, *self.boxes[1:]]

    def on_mount(self) -> None:
        self.review_targets()

    def on_input_changed(self, event: Input.Changed) -> None:  # not stopped: the form validates on it too
        if event.input in (self.box("params.target.value").control, self.box("params.target.label").control):
            self.review_targets()

    def review_targets(self) -> None:
        self.review.show_list(self.box("params.target.value").raw() or "", self.box("params.target.label").raw() or "")


class MessageEditor(FormRow):
    """One notification message: when, how, to whom, and what it says."""

    list_key = "notification.messages"
    noun = "message"
    ROW_CLASS = "message-editor"
    SPECS = (
        FieldSpec("policy", "Send", "select", POLICIES, default="onSuccess"),
        FieldSpec("medium", "Medium", "select", MEDIA, default="email"),
        FieldSpec("target", "To", placeholder="e.g. ops@example.com, a chat id or a webhook name (optional)"),
        FieldSpec("title", "Title", placeholder="e.g. Export {request_id}: {status}"),
        FieldSpec("text", "Text", placeholder="e.g. {rows} rows in {file_name}"),
    )


def row_body(row: FormRow, values: dict[str, Any]) -> dict[str, Any]:
    """Assemble one row's JSON object from its field values (absent values left out)."""
    out: dict[str, Any] = {}
    for path, value in values.items():
        if value is not None:
            set_path(out, path, value)
    if isinstance(row, ItemEditor):
        decimation = out.get("params", {}).get("decimation")
        if decimation is not None and "ds" not in decimation:
            del out["params"]["decimation"]  # a reducer without a granularity means no decimation
    return out
