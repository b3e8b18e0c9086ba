"""The request form: every field of a request, validated live by the core's model.

The form is read into a body dict on every change and given to `parse_request`; each
FieldError lands next to the field its JSON path names (or the nearest part of the form
that holds it). A field shows its error once the user has been in it, or after a save was
refused, so a fresh form is not a wall of "is required".

The form knows nothing of storing: its screen (ComposeScreen) saves, previews, imports and
exports what `validate()` and `read_form()` give, and lays out its own buttons at the form's end.
"""

from __future__ import annotations

import json
import zoneinfo
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.events import DescendantBlur
from textual.reactive import var
from textual.widget import Widget
from textual.widgets import Button, Input, Select, Static
from textual.worker import Worker, WorkerState

from exporter_tui.core.errors import RequestInvalid
from exporter_tui.core.models import ExportRequest
from exporter_tui.core.schedule import default_start, default_start_rule
from exporter_tui.core.validation import normalise_variants, parse_request
from exporter_tui.tui.appref import OwnsWorkers, exporter
from exporter_tui.tui.form_logic import (
    format_time,
    get_path,
    join_path,
    nearest,
    parse_time,
    path_parts,
    set_path,
    zone_or_utc,
)
from exporter_tui.tui.formatting import clip
from exporter_tui.tui.target_check import TargetChecker, TargetsChecked
from exporter_tui.tui.widgets.form_fields import (
    CATCH_UPS,
    DATE_FORMATS,
    EXTENSIONS,
    TEMPLATES,
    TYPES,
    ErrorLine,
    FieldBox,
    FieldSpec,
)
from exporter_tui.tui.widgets.list_editors import (
    TIME_HINT,
    ColumnRow,
    FormRow,
    ItemEditor,
    MessageEditor,
    row_body,
)
from exporter_tui.tui.widgets.target_review import SourceWarning

VALID = "Valid. ctrl+s saves it, F5 previews it."
ZONES = tuple(sorted({"UTC", *zoneinfo.available_timezones()}))
TOP_SPECS: tuple[tuple[str, tuple[FieldSpec, ...]], ...] = (
    (
        "Request",
        (
            FieldSpec("name", "Name", placeholder="e.g. Daily temperature (optional)"),
            FieldSpec("type", "Type", "select", TYPES, default="recurring"),
            FieldSpec("periodicity", "Every", "duration", default="P1D", placeholder="e.g. P1D, PT15M, P1M (an ISO 8601 duration)"),
            FieldSpec("periodStart", "Starting", "time", placeholder=TIME_HINT + " (empty: when saved)"),
            FieldSpec("catchUp", "Catch up", "select", CATCH_UPS, allow_blank=True, prompt="as configured"),
            FieldSpec("delay", "Delay", "duration0", placeholder="e.g. PT2H, a wait after each interval (empty: as configured)"),
            FieldSpec("periodEnd", "Ending", "time", placeholder=TIME_HINT + " (empty: never)"),
            FieldSpec("days", "Days", "days", placeholder="e.g. mon,tue,wed,thu,fri (empty: every day)"),
            FieldSpec("rerunLate", "Rerun late", "select", ("true", "false"), allow_blank=True, prompt="no"),
        ),
    ),
    (
        "Format",
        (
            FieldSpec("format.extension", "File type", "select", EXTENSIONS, default="csv"),
            FieldSpec("format.timezone", "Time zone", "zone", default="UTC", suggestions=ZONES),
            FieldSpec("format.template", "Template", "select", TEMPLATES, default="tabular"),
            FieldSpec("format.csvDelimiter", "CSV delimiter", default=","),
            FieldSpec("format.filename", "File name", placeholder="e.g. climate (optional)"),
            FieldSpec("format.dateFormat", "Date format", "select", DATE_FORMATS, default="ISO"),
        ),
    ),
)
# Where the errors of a whole list go (e.g. "items: must have at least 1 element(s)"), and their words.
SECTIONS = {
    "format.columns": "#columns-error",
    "items": "#items-error",
    "notification": "#messages-error",
    "notification.messages": "#messages-error",
}
SECTION_LABELS = {
    "format.columns": "Columns",
    "items": "Items",
    "notification": "Notification messages",
    "notification.messages": "Notification messages",
}
ROW_TYPES: dict[str, type[FormRow]] = {"columns": ColumnRow, "items": ItemEditor, "messages": MessageEditor}


def field_value(box: FieldBox, zone: Any) -> tuple[Any, str | None]:
    """(value for the body or None when absent, local error)."""
    raw = box.raw()
    if box.kind == "select" or raw is None:
        return (raw == "true") if raw in ("true", "false") else raw, None  # a yes/no select is a JSON boolean
    if raw == "":
        return None, None
    if box.kind == "time":
        try:
            return parse_time(raw, zone), None
        except ValueError as e:
            return None, str(e)
    if box.kind == "days":
        return [d.strip() for d in raw.split(",")], None
    return raw, None


class RequestForm(OwnsWorkers, Vertical):
    """The validation summary over the scrolling form; `actions` (the screen's buttons) end the form."""

    summary_text: var[str] = var("", init=False)  # the line over the form: valid, or how many problems and the first

    def __init__(self, body: dict[str, Any] | None, *, follow_start: bool, actions: Widget) -> None:
        """`body` fills the form (None: a new request's defaults); `follow_start`: Starting shows
        the default start of a new request until the user types one."""
        super().__init__()
        self.initial_body = body
        self.follow_start = follow_start
        self.actions = actions
        self.show_all = body is not None
        self.load_problems: dict[str, str] = {}
        self.baseline: dict[str, Any] = {}
        self.storing: Worker[Any] | None = None  # the worker storing this form's request, set by its screen
        self.valid: ExportRequest | None = None
        self.error_count = 0
        self.problems: list[str] = []  # the problems in words, as the form labels them
        self._top: list[FieldBox] = []
        self.target_check = TargetChecker(self)
        self.start_follows = False  # Start holds the default of a new request, until the user types one

    # -- layout --------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static("", id="summary")
        with VerticalScroll(id="form"):
            for section, specs in TOP_SPECS:
                yield Static(section, classes="section-title")
                for spec in specs:
                    yield spec.build()[0]
            yield Static("Columns (none: every column, default labels)", classes="section-title")
            yield ErrorLine(id="columns-error")
            yield Vertical(id="columns", classes="rows")
            yield Button("+ column", id="add-column", compact=True)
            yield Static("Items", classes="section-title")
            yield ErrorLine(id="items-error")
            yield SourceWarning(id="targets-warning")
            yield Vertical(id="items", classes="rows")
            yield Button("+ item", id="add-item", compact=True)
            yield Static("Notification messages", classes="section-title")
            yield ErrorLine(id="messages-error")
            yield Vertical(id="messages", classes="rows")
            yield Button("+ message", id="add-message", compact=True)
            yield self.actions

    async def on_mount(self) -> None:
        if self.initial_body is not None:
            await self.load_body(self.initial_body)
        else:
            await self.query_one("#items").mount(ItemEditor())
            self.sync_type()
            self.start_follows = self.follow_start
            self.follow_default_start()
        self.baseline = self.read_form()[0]
        self.validate()
        self.query_one("#form FieldBox", FieldBox).focus_control()

    def on_targets_checked(self, message: TargetsChecked) -> None:
        self.target_check.done(message)

    @property
    def saving(self) -> bool:
        """Whether the request is being stored (or was): its fields' blurs as the screen closes are no edits."""
        return self.storing is not None and self.storing.state not in (WorkerState.ERROR, WorkerState.CANCELLED)

    # -- reading and writing the form ----------------------------------------------------
    def top_fields(self) -> list[FieldBox]:
        """The request's own fields (not those of rows); composed once, so looked up once."""
        if not self._top:
            self._top = [box for box in self.query(FieldBox) if not any(isinstance(a, FormRow) for a in box.ancestors)]
        return self._top

    def rows(self, kind: str) -> list[FormRow]:
        return list(self.query_one(f"#{kind}").query_children(FormRow))

    def field(self, path: str) -> FieldBox:
        return next(box for box in self.top_fields() if box.path == path)  # a dozen boxes: a scan is cheap

    def zone(self) -> Any:
        return zone_or_utc(self.field("format.timezone").raw())

    def read_form(self) -> tuple[dict[str, Any], dict[str, str]]:
        """The body the form holds now, and the errors found before the core could see them (bad times)."""
        zone = self.zone()
        body: dict[str, Any] = {}
        local: dict[str, str] = {}
        one_time = self.field("type").raw() == "oneTime"
        for box in self.top_fields():
            if box.path == "periodicity" and one_time:
                continue
            value, error = field_value(box, zone)
            if error:
                local[box.path] = error
            elif value is not None:
                set_path(body, box.path, value)
        for kind, row_type in ROW_TYPES.items():
            built = []
            for i, row in enumerate(self.rows(kind)):
                values: dict[str, Any] = {}
                for box in row.fields():
                    value, error = field_value(box, zone)
                    if error:
                        local[f"{row_type.list_key}[{i}].{box.path}"] = error
                    values[box.path] = value
                built.append(row_body(row, values))
            if kind == "items":
                body["items"] = built
            elif built:
                set_path(body, row_type.list_key, built)
        return body, local

    async def load_body(self, body: dict[str, Any]) -> None:
        """Fill the form from a body (a stored request's, an imported one); what cannot be shown is reported.
        Its start is its own, or none (then: when saved, as for any body without periodStart)."""
        self.start_follows = False
        body = normalise_variants(body)
        zone_name = get_path(body, "format.timezone")
        zone = zone_or_utc(zone_name if isinstance(zone_name, str) else None)

        def shown(spec: FieldSpec, value: Any) -> Any:
            if spec.kind == "time" and isinstance(value, (int, float)) and not isinstance(value, bool):
                return format_time(value, zone)
            if spec.kind == "days" and isinstance(value, list):
                return ",".join(str(v) for v in value)
            return value if isinstance(value, str) else json.dumps(value)

        problems: dict[str, str] = {}
        with self.prevent(Input.Changed, Select.Changed):
            for box in self.top_fields():
                value = get_path(body, box.path)
                if isinstance(value, (dict, list)) and not (box.kind == "days" and isinstance(value, list)):
                    problems[box.path] = "must be a single value"
                    value = None
                reason = box.set_raw(None if value is None else shown(FieldSpec(box.path, "", box.kind), value))
                if reason:
                    problems[box.path] = reason
        for kind, row_type in ROW_TYPES.items():
            container = self.query_one(f"#{kind}")
            await container.remove_children()
            data = get_path(body, row_type.list_key)
            if data is not None and not isinstance(data, list):
                problems[row_type.list_key] = "must be a JSON array"
                data = []
            rows: list[FormRow] = []
            for i, element in enumerate(data or []):
                base = f"{row_type.list_key}[{i}]"
                if not isinstance(element, dict):
                    problems[base] = "must be a JSON object"
                    element = {}
                row = row_type(element, shown)
                problems.update({f"{base}.{path}": reason for path, reason in row.problems.items()})
                rows.append(row)
            if rows:
                await container.mount_all(rows)
        known = {
            "name",
            "type",
            "periodicity",
            "periodStart",
            "catchUp",
            "delay",
            "periodEnd",
            "days",
            "rerunLate",
            "format",
            "items",
            "notification",
        }
        for key in sorted(set(body) - known):
            problems[key] = "is not a field of an export request (left out)"
        self.load_problems = problems
        self.show_all = True
        self.field("periodStart").note_line.show_note(None)
        self.sync_type()
        self.validate()

    def follow_default_start(self) -> None:
        """A new recurring request starts at the last boundary of its periodicity's unit in its zone
        (core.schedule.default_start), shown under the field; it follows Every, Time zone and Type
        until the user types a start. A oneTime request's start stays empty: it runs when saved."""
        if not self.start_follows:
            return
        box = self.field("periodStart")
        text, note = "", None
        if self.field("type").raw() == "recurring":
            periodicity = self.field("periodicity").raw()
            zone = self.zone()
            try:
                rule = default_start_rule(periodicity)
                start = default_start(periodicity, exporter(self).now(), zone)
            except ValueError:
                return  # Every is being typed: the start stays until it is a duration again
            text = format_time(start.timestamp(), zone)
            note = f"default: {rule} in {zone} (Every {periodicity}); type another start to change it"
        with self.prevent(Input.Changed):
            box.set_raw(text)
        box.note_line.show_note(note)

    def stop_following_start(self) -> None:
        self.start_follows = False
        self.field("periodStart").note_line.show_note(None)

    def sync_type(self) -> None:
        """A oneTime request has no periodicity: the field is disabled and left out of the body."""
        self.field("periodicity").control.disabled = self.field("type").raw() == "oneTime"

    # -- validation ------------------------------------------------------------------------
    def validate(self) -> ExportRequest | None:
        body, local = self.read_form()
        self.target_check.changed(body)  # warnings only: they never make the form invalid
        errors: dict[str, list[str]] = {path: [reason] for path, reason in local.items()}
        for path, reason in self.load_problems.items():
            errors.setdefault(path, []).append(reason)
        request: ExportRequest | None = None
        try:
            request = parse_request(body, max_catchup=exporter(self).ctx.settings.scheduler.max_catchup)
        except RequestInvalid as e:
            for fe in e.errors:
                if fe.path not in local:
                    errors.setdefault(fe.path, []).append(fe.reason)
        self.show_errors(errors)
        self.valid = request if not errors else None
        return self.valid

    def error_targets(self) -> dict[str, Widget]:
        """Every place an error can be shown, by the JSON path it stands for."""
        targets: dict[str, Widget] = {box.path: box for box in self.top_fields()}
        for kind, row_type in ROW_TYPES.items():
            for i, row in enumerate(self.rows(kind)):
                base = f"{row_type.list_key}[{i}]"
                targets[base] = row
                for box in row.fields():
                    targets[f"{base}.{box.path}"] = box
        for path, selector in SECTIONS.items():
            targets[path] = self.query_one(selector)
        return targets

    def labels(self, targets: dict[str, Widget]) -> dict[str, str]:
        """The words the form shows for each place: `Every`, `Item 1`, `Item 1, Subtopic`, `Columns`."""
        out: dict[str, str] = {path: label for path, label in SECTION_LABELS.items()}
        for path, target in targets.items():
            if isinstance(target, FieldBox):
                row = next((a for a in target.ancestors if isinstance(a, FormRow)), None)
                row_path = path[: -len(target.path) - 1] if row is not None else ""
                out[path] = f"{self.row_label(row_path)}, {target.caption}" if row is not None else target.caption
            elif isinstance(target, FormRow):
                out[path] = self.row_label(path)
        return out

    @staticmethod
    def row_label(row_path: str) -> str:
        """`items[2]` -> `Item 3`: rows are counted from 1, as the user sees them."""
        parts = path_parts(row_path)
        index = parts[-1] if parts and isinstance(parts[-1], int) else 0
        key = join_path(parts[:-1])
        noun = next((t.noun for t in ROW_TYPES.values() if t.list_key == key), key)
        return f"{noun.capitalize()} {index + 1}"

    def place(self, path: str, targets: dict[str, Widget], labels: dict[str, str]) -> tuple[str | None, str, str]:
        """Where an error of `path` goes, what it says there (before the reason) and what it says
        anywhere else: the form's own labels, never the JSON path (`Item 1, Subtopic`)."""
        where = nearest(path, targets) if path else None
        if where is None:
            return None, "", path or "the body"  # not a field of the form (a key left out on import)
        label = labels[where]
        rest = path[len(where) :].lstrip(".")
        target = targets[where]
        if rest and isinstance(target, FormRow):  # a part of a row that is no field itself: name the field it holds
            inner = next((box for box in target.fields() if box.path == rest or box.path.startswith(rest + ".")), None)
            if inner is not None:
                return where, inner.caption, f"{label}, {inner.caption}"
        return where, "", label

    def show_errors(self, errors: dict[str, list[str]]) -> None:
        targets = self.error_targets()
        labels = self.labels(targets)
        placed: dict[int, list[str]] = {}
        said: list[str] = []  # each problem in words, for the summary line
        for path, reasons in errors.items():
            where, here, anywhere = self.place(path, targets, labels)
            for reason in reasons:
                said.append(f"{anywhere}: {reason}")
                if where is not None:
                    placed.setdefault(id(targets[where]), []).append(f"{here}: {reason}" if here else reason)
        for target in {id(t): t for t in targets.values()}.values():
            messages = placed.get(id(target), [])
            text = "; ".join(messages) if messages and self.errors_shown_for(target) else None
            target.show_error(text)  # type: ignore[attr-defined]
        self.error_count = len(said)
        self.problems = said
        self.summary_text = clip(f"Not valid yet: {self.error_count} problem(s). {said[0]}", 200) if said else VALID

    def watch_summary_text(self, text: str) -> None:
        summary = self.query_one("#summary", Static)
        summary.set_class(text != VALID, "-invalid")
        summary.update(text)

    def errors_shown_for(self, target: Widget) -> bool:
        """Whether `target` shows its errors yet: once touched, or all at once after a load or a refused save."""
        if self.show_all or isinstance(target, ErrorLine):
            return True
        if isinstance(target, FieldBox):
            return target.touched
        return any(box.touched for box in target.query(FieldBox))

    def is_dirty(self) -> bool:
        return self.read_form()[0] != self.baseline

    # -- events ----------------------------------------------------------------------------
    def _touch(self, widget: Widget) -> None:
        box = next((a for a in widget.ancestors_with_self if isinstance(a, FieldBox)), None)
        if box is not None:
            box.touched = True
            self.load_problems.pop(self._full_path(box), None)

    def _full_path(self, box: FieldBox) -> str:
        row = next((a for a in box.ancestors if isinstance(a, FormRow)), None)
        if row is None:
            return box.path
        kind = next(k for k, t in ROW_TYPES.items() if isinstance(row, t))
        return f"{row.list_key}[{self.rows(kind).index(row)}].{box.path}"

    @on(Input.Changed)
    def _input_changed(self, event: Input.Changed) -> None:
        if event.input.has_focus:
            self._touch(event.input)
        if self.start_follows:
            if event.input is self.field("periodStart").control:
                if event.input.has_focus:
                    self.stop_following_start()  # the user's own start
            elif event.input in (self.field("periodicity").control, self.field("format.timezone").control):
                self.follow_default_start()
        self.validate()

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        if event.select.has_focus_within or event.select.has_focus:
            self._touch(event.select)
        self.sync_type()
        self.follow_default_start()
        self.validate()

    def on_descendant_blur(self, event: DescendantBlur) -> None:
        if isinstance(event.widget, (Input, Select)) and not self.saving:
            self._touch(event.widget)
            self.validate()

    @on(Button.Pressed, "#add-column")
    async def _add_column(self, event: Button.Pressed) -> None:
        event.stop()
        await self.add_row("columns", ColumnRow)

    @on(Button.Pressed, "#add-item")
    async def _add_item(self, event: Button.Pressed) -> None:
        event.stop()
        await self.add_row("items", ItemEditor)

    @on(Button.Pressed, "#add-message")
    async def _add_message(self, event: Button.Pressed) -> None:
        event.stop()
        await self.add_row("messages", MessageEditor)

    async def add_row(self, kind: str, row_type: type[FormRow]) -> None:
        new_row = row_type.following(next(reversed(self.rows(kind)), None))
        await self.query_one(f"#{kind}").mount(new_row)
        new_row.fields()[0].focus_control()
        new_row.scroll_visible()
        self.validate()

    @on(Button.Pressed, ".remove-row")
    async def _remove_row(self, event: Button.Pressed) -> None:
        event.stop()
        row = self.row_of(event.button)
        if row is not None:
            await row.remove()
        self.validate()

    @on(Button.Pressed, ".move-up")
    def _move_up(self, event: Button.Pressed) -> None:
        event.stop()
        self.move_row(event.button, -1)

    @on(Button.Pressed, ".move-down")
    def _move_down(self, event: Button.Pressed) -> None:
        event.stop()
        self.move_row(event.button, 1)

    @staticmethod
    def row_of(button: Button) -> FormRow | None:
        return next((a for a in button.ancestors if isinstance(a, FormRow)), None)

    def move_row(self, button: Button, step: int) -> None:
        """The row holding `button` one place up (-1) or down (1) among its siblings, where there is room."""
        row = self.row_of(button)
        parent = row.parent if row is not None else None
        if row is not None and isinstance(parent, Widget):
            siblings = list(parent.query_children(FormRow))
            i = siblings.index(row)
            j = i + step
            if 0 <= j < len(siblings):
                if j < i:
                    parent.move_child(row, before=siblings[j])
                else:
                    parent.move_child(row, after=siblings[j])
        self.validate()

    # -- what the screen asks ------------------------------------------------------------------
    def refuse(self, what: str) -> None:
        """Show every problem, say how many there are and focus the first one: the form cannot be used to `what` yet."""
        self.show_all = True
        self.validate()
        first = f" First: {self.problems[0]}." if self.problems else ""
        self.notify(
            f"{self.error_count} problem(s) to fix before you can {what}; each is shown next to its field.{first}",
            title="Not valid yet",
            severity="warning",
        )
        box = next((box for box in self.query(FieldBox) if box.has_class("-invalid")), None)
        if box is not None:
            box.focus_control()
            box.scroll_visible()
