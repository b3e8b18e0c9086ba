"""Whether the form's targets have readings, asked of the source once typing stops.

A target with no readings on its item's channel and subtopic is a warning under its field,
never an error: the data may come later, and Save is never blocked. The check runs in the
form's own worker DEBOUNCE seconds after the targets last changed, one cheap query per target
not checked yet (`Source.has_readings`: one `limit=1` query on the readers source), and what
it found is kept for the form's life. A source that cannot be read is one warning for the
whole form, and is not asked again until the targets change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual.message import Message
from textual.timer import Timer
from textual.worker import get_current_worker

from exporter_tui.context import Context
from exporter_tui.tui.appref import exporter
from exporter_tui.tui.widgets.list_editors import ItemEditor
from exporter_tui.tui.widgets.target_review import SourceWarning, split_names

if TYPE_CHECKING:
    from textual.widget import Widget

DEBOUNCE = 0.6  # seconds without a change before the source is asked
Key = tuple[str, str, str]  # channel, subtopic, name


def targets_of(body: dict[str, Any]) -> list[list[Key]]:
    """The targets of each item of a form's body (an item without a channel has none to check)."""
    out: list[list[Key]] = []
    for item in body.get("items") or []:
        params = item.get("params", {}) if isinstance(item, dict) else {}
        channel = params.get("channelId") or ""
        subtopic = params.get("subtopic") or ""
        value = (params.get("target") or {}).get("value") or ""
        out.append([(channel, subtopic, n) for n in split_names(value) if n] if channel else [])
    return out


def check(ctx: Context, keys: list[Key], is_cancelled: Callable[[], bool]) -> tuple[dict[Key, bool], str | None]:
    """In a worker thread: which of `keys` have readings, and why the source could not say (None: it could)."""
    found: dict[Key, bool] = {}
    try:
        source = ctx.open_source()
    except Exception as e:  # any failure to open the source is a warning, never an error
        return found, str(e) or type(e).__name__
    try:
        for key in keys:
            if is_cancelled():
                break
            found[key] = source.has_readings(*key)
    except Exception as e:  # unreachable, refused, unreadable: one warning
        return found, str(e) or type(e).__name__
    finally:
        source.close()
    return found, None


@dataclass
class TargetsChecked(Message):
    """Which targets have readings, and why the source could not say (posted from the check's worker thread)."""

    found: dict[Key, bool]
    error: str | None


class TargetChecker:
    """The form's side: `changed(body)` on every validation; the form hands the worker's answer
    (TargetsChecked) to `done`, which shows it in each item's review."""

    def __init__(self, form: Widget) -> None:
        self.form = form
        self.known: dict[Key, bool] = {}
        self.per_item: list[list[Key]] = []
        self.wanted: frozenset[Key] = frozenset()
        self.error: str | None = None
        self.timer: Timer | None = None

    def changed(self, body: dict[str, Any]) -> None:
        self.per_item = targets_of(body)
        wanted = frozenset(k for keys in self.per_item for k in keys)
        self.show()
        if wanted == self.wanted:
            return
        self.wanted = wanted
        if self.timer is not None:
            self.timer.stop()
            self.timer = None
        if wanted - self.known.keys():
            self.timer = self.form.set_timer(DEBOUNCE, self.start)
        elif self.error is not None:
            self.error = None
            self.show()

    def start(self) -> None:
        self.timer = None
        app = exporter(self.form)
        unknown = sorted(self.wanted - self.known.keys())

        def work() -> None:
            worker = get_current_worker()
            app.post_result(TargetsChecked(*check(app.ctx, unknown, lambda: worker.is_cancelled)), self.form)

        app.start_worker(work, "Check targets", group="target-check", exclusive=True, owner=self.form)

    def done(self, checked: TargetsChecked) -> None:
        self.error = checked.error
        self.known.update(checked.found)
        self.show()

    def show(self) -> None:
        if not self.form.is_attached:
            return
        rows = list(self.form.query_one("#items").query_children(ItemEditor))
        for row, keys in zip(rows, self.per_item):
            row.review.show_missing(frozenset(key[2] for key in keys if self.known.get(key) is False))
        text = f"cannot check the targets against the source: {self.error}" if self.error else None
        self.form.query_one("#targets-warning", SourceWarning).show_error(text)
