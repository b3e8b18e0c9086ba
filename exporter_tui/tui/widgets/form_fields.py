"""One labelled form control with its error line, and the select option lists of the request enums."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from typing import Any, get_args

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.suggester import SuggestFromList
from textual.validation import Function, Validator
from textual.widgets import Input, Label, Select, Static

from exporter_tui.core.durations import get_zone, parse_ds, parse_duration
from exporter_tui.core.models import CatchUp, DateFormat, Dsf, Extension, Medium, Policy
from exporter_tui.tui.form_logic import parse_time
from exporter_tui.tui.widgets.text_inputs import OrderedInput

EXTENSIONS = get_args(Extension)
DSFS = get_args(Dsf)
POLICIES = get_args(Policy)
MEDIA = get_args(Medium)
DATE_FORMATS = get_args(DateFormat)
CATCH_UPS = get_args(CatchUp)
TYPES = ("recurring", "oneTime")
TEMPLATES = ("tabular", "expanded")
OUTPUT_FORMATS = ("long", "wide")
TRANSFORMS = ("delta",)


def options(values: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(v, v) for v in values]


def make_select(values: tuple[str, ...], value: str | None, *, allow_blank: bool, prompt: str = "-") -> Select[str]:
    return Select(options(values), value=value if value is not None else Select.NULL, allow_blank=allow_blank, prompt=prompt, compact=True)


class ErrorLine(Static):
    """A field's error, in words (so it reads the same without colour); hidden when there is none."""

    DEFAULT_CSS = """
    ErrorLine { display: none; height: auto; }
    ErrorLine.-shown { display: block; }
    """

    shown_text: str | None = None

    def show_error(self, text: str | None) -> None:
        if text == self.shown_text:
            return  # an update re-lays the form out; most keystrokes change no error
        self.shown_text = text
        self.set_class(bool(text), "-shown")
        self.update(f"! {text}" if text else "")


class NoteLine(Static):
    """A word under a field about what it holds (where a default came from); hidden when there is none."""

    DEFAULT_CSS = """
    NoteLine { display: none; height: auto; padding-left: 17; }
    NoteLine.-shown { display: block; }
    """

    def show_note(self, text: str | None) -> None:
        self.set_class(bool(text), "-shown")
        self.update(text or "")


class FieldBox(Vertical):
    """`caption  [control]` on one line, the error under it.

    `path` is the field's JSON path, relative to the row that holds it (an item, a message)
    or absolute for the request's own fields. `kind` says how its text becomes a value:
    `time` (ISO 8601 or Unix seconds), `select` (the option), anything else the text itself;
    empty text means absent.
    """

    DEFAULT_CSS = """
    FieldBox { height: auto; }
    FieldBox > Horizontal { height: auto; }
    FieldBox .caption { width: 16; padding-right: 1; }
    FieldBox Input, FieldBox Select { width: 1fr; }
    """

    def __init__(
        self,
        path: str,
        caption: str,
        control: Input | Select[str],
        *,
        kind: str = "text",
        id: str | None = None,
        choices: tuple[str, ...] = (),
        allow_blank: bool = False,
    ) -> None:
        super().__init__(id=id)
        self.path = path
        self.caption = caption
        self.control = control
        self.kind = kind
        self.choices = choices
        self.allow_blank = allow_blank
        self.touched = False
        self.error_line = ErrorLine()
        self.note_line = NoteLine()

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Label(self.caption, classes="caption")
            yield self.control
        yield self.note_line
        yield self.error_line

    def raw(self) -> Any:
        """The control's value: text of an Input, the option of a Select (None when blank)."""
        if isinstance(self.control, Select):
            value = self.control.value
            return None if value is Select.NULL else value
        return self.control.value

    def set_raw(self, value: Any) -> str | None:
        """Show `value`; returns a reason when a Select has no such option (the value is dropped)."""
        if isinstance(self.control, Select):
            if value is not None and value not in self.choices:
                reason = f"'{value}' is not one of {', '.join(self.choices)}"
                value = None
            else:
                reason = None
            if value is None:
                if self.allow_blank:
                    self.control.clear()
            else:
                self.control.value = value
            return reason
        self.control.value = "" if value is None else str(value)
        return None

    def show_error(self, text: str | None) -> None:
        self.set_class(bool(text), "-invalid")
        self.error_line.show_error(text)

    def focus_control(self) -> None:
        self.control.focus()


@dataclass(frozen=True)
class FieldSpec:
    """How to build one field; rows are lists of these so they can be built with their values."""

    path: str
    caption: str
    kind: str = "text"  # text | time | duration | duration0 (may be zero) | days (comma-separated) | granularity | zone | select
    choices: tuple[str, ...] = ()
    default: str | None = None
    allow_blank: bool = False
    prompt: str = "-"
    placeholder: str = ""
    suggestions: tuple[str, ...] = ()

    def build(self, value: Any = None, given: bool = False) -> tuple[FieldBox, str | None]:
        """The field showing `value` (its default when not `given`), and why a value could not be shown."""
        shown = value if given else self.default
        if self.kind == "select":
            if shown is None and not self.allow_blank:
                shown = self.default  # absent means the model's default, which the select shows
            problem = None
            if shown is not None and shown not in self.choices:
                problem = f"'{shown}' is not one of {', '.join(self.choices)}"
                shown = None if self.allow_blank else self.default
            return select_field(self.path, self.caption, self.choices, shown, allow_blank=self.allow_blank, prompt=self.prompt), problem
        suggester = SuggestFromList(self.suggestions, case_sensitive=False) if self.suggestions else None
        return text_field(
            self.path,
            self.caption,
            placeholder=self.placeholder,
            kind=self.kind,
            suggester=suggester,
            value="" if shown is None else str(shown),
        ), None


def _accepts(check: Callable[[str], object]) -> Callable[[str], bool]:
    def ok(text: str) -> bool:
        try:
            check(text)
        except ValueError:
            return False
        return True

    return ok


# Input validators by kind: they mark a bad value on the input itself as it is typed; the
# words of the error come from the core's model, under the field.
VALIDATORS: dict[str, Callable[[], list[Validator]]] = {
    "time": lambda: [Function(_accepts(lambda t: parse_time(t, UTC)), "not an ISO 8601 date-time or Unix seconds")],
    "duration": lambda: [Function(_accepts(parse_duration), "not an ISO 8601 duration")],
    "duration0": lambda: [Function(_accepts(lambda t: parse_duration(t, allow_zero=True)), "not an ISO 8601 duration")],
    "granularity": lambda: [Function(_accepts(parse_ds), "not a granularity such as 15m")],
    "zone": lambda: [Function(_accepts(get_zone), "not an IANA time zone")],
}


def text_field(
    path: str,
    caption: str,
    *,
    placeholder: str = "",
    kind: str = "text",
    id: str | None = None,
    suggester: Any = None,
    max_length: int = 0,
    value: str = "",
) -> FieldBox:
    validators = VALIDATORS[kind]() if kind in VALIDATORS else None
    control = OrderedInput(
        value,
        placeholder=placeholder,
        compact=True,
        suggester=suggester,
        max_length=max_length,
        select_on_focus=False,
        validators=validators,
        valid_empty=True,
    )
    return FieldBox(path, caption, control, kind=kind, id=id)


def select_field(
    path: str,
    caption: str,
    values: tuple[str, ...],
    value: str | None,
    *,
    allow_blank: bool = False,
    prompt: str = "-",
    id: str | None = None,
) -> FieldBox:
    return FieldBox(
        path,
        caption,
        make_select(values, value, allow_blank=allow_blank, prompt=prompt),
        kind="select",
        id=id,
        choices=values,
        allow_blank=allow_blank,
    )
