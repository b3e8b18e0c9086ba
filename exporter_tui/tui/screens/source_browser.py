"""The source browser of the compose form: pick targets instead of typing URNs and channel ids.

The embedded source lists every target with its unit, first and last time and count (what
`sources list` prints, from the same `Source.targets()`). The readers source cannot list
targets: the browser samples the newest readings of the channels the form's items and the
stored requests read, and of any channel id typed in, and says that what it shows is a sample.
Typing filters the list (every word must appear in the channel, subtopic, name or unit); space
picks a target, or every shown target of a channel/subtopic group; ctrl+s fills the form (see
target_picks.py for how picks become items). Loading runs in the screen's own worker, cancelled
when the screen goes away.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Label, Static
from textual.worker import get_current_worker

from exporter_tui.context import Context
from exporter_tui.sources.base import Sampling, SourceError, TargetInfo, TargetSample
from exporter_tui.tui.appref import OwnsWorkers, exporter
from exporter_tui.tui.bindings import BROWSER_BINDINGS
from exporter_tui.tui.formatting import count_text
from exporter_tui.tui.target_picks import ItemFill, Pick, picks_of, plan_items
from exporter_tui.tui.widgets.list_editors import ItemEditor

if TYPE_CHECKING:
    from exporter_tui.tui.widgets.request_form import RequestForm

MAX_ROWS = 2000  # shown at once; the filter narrows the rest


@dataclass
class Catalog:
    """What the browser shows: the targets, and for a sampling source the samples and the channels it could not read."""

    targets: list[TargetInfo] = field(default_factory=list)
    samples: list[TargetSample] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    sampled: bool = False


@dataclass
class CatalogLoaded(Message):
    """What the browser shows, loaded off the UI thread."""

    catalog: Catalog


@dataclass
class ChannelSampled(Message):
    """A sample of one more channel typed in, loaded off the UI thread."""

    catalog: Catalog


def load_catalog(ctx: Context, channels: list[str], is_cancelled: Callable[[], bool] = lambda: False) -> Catalog:
    """In a worker thread: every target of a listing source; for a sampling one, a sample of each of
    `channels` and of the stored requests' channels. A source that cannot be read is a failure, not an error."""
    try:
        source = ctx.open_source()
    except SourceError as e:
        return Catalog(failures={"": str(e)})
    try:
        if not isinstance(source, Sampling):
            return Catalog(targets=source.targets())
        store = ctx.open_store()
        try:
            wanted = list(dict.fromkeys([*channels, *store.requests.channels()]))
        finally:
            store.close()
        return sample_channels(source, wanted, is_cancelled)
    except SourceError as e:
        return Catalog(failures={"": str(e)})
    finally:
        source.close()


def sample_channels(source: Sampling, channels: list[str], is_cancelled: Callable[[], bool]) -> Catalog:
    catalog = Catalog(sampled=True)
    for channel in channels:
        if is_cancelled():
            break
        try:
            sample = source.sample_targets(channel)
        except SourceError as e:
            catalog.failures[channel] = str(e)
            continue
        catalog.samples.append(sample)
        catalog.targets += sample.targets
    return catalog


def matches(target: TargetInfo, words: list[str]) -> bool:
    hay = f"{target.channel} {target.subtopic} {target.name} {target.unit or ''}".lower()
    return all(w in hay for w in words)


class SourceBrowser(OwnsWorkers, Screen[list[Pick] | None]):
    """Dismisses with the picked (channel, subtopic, name) triples, in list order, or None when left."""

    BINDINGS = [*BROWSER_BINDINGS]

    def __init__(self, picked: list[Pick] | None = None, channels: list[str] | None = None) -> None:
        """`channels`: those a sampling source samples besides the stored requests' (the form's)."""
        super().__init__()
        self.picked: dict[Pick, None] = dict.fromkeys(picked or [])
        self.channels = channels or []
        self.catalog = Catalog()
        self.shown: list[TargetInfo] = []
        self.row_keys: dict[str, list[Pick]] = {}

    def compose(self) -> ComposeResult:
        yield Static("Pick targets from the source", id="browser-title")
        yield Static("loading the source...", id="browser-status")
        with Horizontal(classes="browser-line"):
            yield Label("Filter", classes="caption")
            yield Input(
                placeholder="e.g. temperature D0CF (words in the channel, subtopic, name or unit)", id="browser-filter", compact=True
            )
        with Horizontal(id="browser-channel-row", classes="browser-line"):
            yield Label("Channel", classes="caption")
            yield Input(placeholder="e.g. a channel id to sample (Enter)", id="browser-channel", compact=True)
        yield DataTable(id="browser-table", cursor_type="row", zebra_stripes=False)
        yield Static("", id="browser-picked")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one("#browser-table", DataTable)
        clock = exporter(self).ui_clock  # a source's times belong to no request: the machine's zone on the local clock
        table.add_columns(" ", "NAME", "UNIT", "COUNT", clock.header("FIRST"), clock.header("LAST"))
        self.query_one("#browser-channel-row").display = False
        self.query_one("#browser-filter", Input).focus()
        self.load(self.channels)
        self.show_picked()

    # -- loading -------------------------------------------------------------------------
    def load(self, channels: list[str]) -> None:
        app = exporter(self)

        def work() -> None:
            worker = get_current_worker()
            app.post_result(CatalogLoaded(load_catalog(app.ctx, channels, lambda: worker.is_cancelled)), self)

        app.start_worker(work, "Source browser", group="browse", exclusive=True, owner=self)

    def sample(self, channel: str) -> None:
        app = exporter(self)

        def work() -> None:
            worker = get_current_worker()
            source = app.ctx.open_source()
            try:
                more = sample_channels(source, [channel], lambda: worker.is_cancelled) if isinstance(source, Sampling) else Catalog()
            finally:
                source.close()
            app.post_result(ChannelSampled(more), self)

        self.query_one("#browser-status", Static).update(f"sampling channel {channel}...")
        app.start_worker(work, "Sample channel", group="browse-sample", owner=self)

    def on_catalog_loaded(self, message: CatalogLoaded) -> None:
        catalog = self.catalog = message.catalog
        self.query_one("#browser-channel-row").display = catalog.sampled
        self.refresh_table()

    def on_channel_sampled(self, message: ChannelSampled) -> None:
        more = message.catalog
        known = {s.channel for s in more.samples}
        self.catalog.samples = [s for s in self.catalog.samples if s.channel not in known] + more.samples
        self.catalog.targets = [t for t in self.catalog.targets if t.channel not in known] + more.targets
        for channel in known:
            self.catalog.failures.pop(channel, None)
        self.catalog.failures.update(more.failures)
        self.refresh_table()

    def status_text(self) -> str:
        c = self.catalog
        lines: list[str] = []
        if "" in c.failures:
            lines.append(f"cannot read the source: {c.failures['']}")
        elif c.sampled:
            if not c.samples and not c.failures:
                lines.append("the readers source cannot list its targets: type a channel id below to sample it")
            for s in c.samples:
                lines.append(
                    f"a sample: the newest {s.readings:,} of {s.total:,} readings of channel {s.channel}"
                    f" ({len(s.targets)} targets; names not among them are not shown)"
                )
        else:
            channels = len({t.channel for t in c.targets})
            lines.append(f"{len(c.targets)} targets on {channels} channel(s)" if c.targets else "the source holds no targets")
        lines += [f"channel {ch}: cannot sample it: {why}" for ch, why in c.failures.items() if ch]
        if len(self.shown) > MAX_ROWS:
            lines.append(f"showing the first {MAX_ROWS} of {len(self.shown)} matches: type to narrow")
        return "\n".join(lines)

    # -- the list --------------------------------------------------------------------------
    def refresh_table(self) -> None:
        words = self.query_one("#browser-filter", Input).value.lower().split()
        self.shown = [t for t in self.catalog.targets if matches(t, words)]
        table = self.query_one("#browser-table", DataTable)
        at = table.cursor_row
        table.clear()
        self.row_keys = {}
        group: tuple[str, str] | None = None
        for i, t in enumerate(self.shown[:MAX_ROWS]):
            if (t.channel, t.subtopic) != group:
                group = (t.channel, t.subtopic)
                members = [(x.channel, x.subtopic, x.name) for x in self.shown[:MAX_ROWS] if (x.channel, x.subtopic) == group]
                key = f"g{i}"
                self.row_keys[key] = members
                table.add_row(
                    Text(self.mark(members)), Text(f"{t.channel} / {t.subtopic or '(no subtopic)'}", style="bold"), "", "", "", "", key=key
                )
            pick = (t.channel, t.subtopic, t.name)
            key = f"t{i}"
            self.row_keys[key] = [pick]
            table.add_row(
                Text(self.mark([pick])),
                Text(t.name, no_wrap=True),
                t.unit or "",
                count_text(t.count),
                exporter(self).ui_clock.minute(t.first_time),
                exporter(self).ui_clock.minute(t.last_time),
                key=key,
            )
        if table.row_count:
            table.move_cursor(row=min(at, table.row_count - 1))
        self.query_one("#browser-status", Static).update(self.status_text())

    def mark(self, picks: list[Pick]) -> str:
        chosen = sum(p in self.picked for p in picks)
        return "[x]" if picks and chosen == len(picks) else ("[-]" if chosen else "[ ]")

    def show_picked(self) -> None:
        groups = len({(c, s) for c, s, _ in self.picked})
        text = f"{len(self.picked)} picked in {groups} channel/subtopic pair(s); ctrl+s fills the form" if self.picked else "nothing picked"
        self.query_one("#browser-picked", Static).update(text)

    # -- keys --------------------------------------------------------------------------------
    @on(Input.Changed, "#browser-filter")
    def _filter_changed(self) -> None:
        self.refresh_table()

    @on(Input.Submitted, "#browser-channel")
    def _channel_given(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.sample(event.value.strip())
            event.input.value = ""

    @on(Input.Submitted, "#browser-filter")
    def _filter_done(self) -> None:
        self.query_one("#browser-table", DataTable).focus()

    def cursor_picks(self) -> list[Pick]:
        table = self.query_one("#browser-table", DataTable)
        if not table.row_count:
            return []
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.row_keys.get(key or "", [])

    def action_pick(self) -> None:
        picks = self.cursor_picks()
        if not picks:
            return
        if all(p in self.picked for p in picks):
            for p in picks:
                self.picked.pop(p, None)
        else:
            self.picked.update(dict.fromkeys(picks))
        table = self.query_one("#browser-table", DataTable)
        for key, members in self.row_keys.items():
            if any(p in members for p in picks) or key.startswith("g"):
                table.update_cell(key, table.ordered_columns[0].key, Text(self.mark(members)))
        self.show_picked()

    @on(DataTable.RowSelected, "#browser-table")
    def _row_chosen(self) -> None:
        self.action_pick()

    def action_use(self) -> None:
        picks = list(self.picked) or self.cursor_picks()
        if not picks:
            self.notify("nothing picked: space picks the target under the cursor", severity="warning")
            return
        order = {(t.channel, t.subtopic, t.name): i for i, t in enumerate(self.catalog.targets)}
        self.dismiss(sorted(picks, key=lambda p: order.get(p, len(order))))

    def action_close(self) -> None:
        self.dismiss(None)


# -- the compose form's side -------------------------------------------------------------------
def item_of(widget: Any) -> ItemEditor | None:
    return next((a for a in getattr(widget, "ancestors_with_self", []) if isinstance(a, ItemEditor)), None)


def open_browser(form: RequestForm) -> None:
    """Open the browser for the item holding the focus (its targets shown picked), else for new
    items; what comes back fills that item and adds items after it."""
    item = item_of(form.screen.focused)
    picked: list[Pick] = []
    if item is not None:
        channel = item.box("params.channelId").raw() or ""
        picked = picks_of(channel, item.box("params.subtopic").raw() or "", item.box("params.target.value").raw() or "")
    rows = [row for row in form.rows("items") if isinstance(row, ItemEditor)]
    channels = [c for c in dict.fromkeys(row.box("params.channelId").raw() or "" for row in ([item] if item else []) + rows) if c]

    async def chosen(picks: list[Pick] | None) -> None:
        if picks:
            await fill_items(form, item, picks)

    form.app.push_screen(SourceBrowser(picked, channels), chosen)


async def fill_items(form: RequestForm, item: ItemEditor | None, picks: list[Pick]) -> None:
    """Fill `item` (else the last item when its targets are empty, else a new one) with the first
    planned item and add the rest after it, each new one taking its window from the one before."""
    fills, left_out = plan_items(picks)
    container = form.query_one("#items")
    rows: list[ItemEditor] = list(container.query_children(ItemEditor))
    if item is None and rows and not (rows[-1].box("params.target.value").raw() or "").strip():
        item = rows[-1]
    previous: ItemEditor | None = item if item is not None else (rows[-1] if rows else None)
    for i, fill in enumerate(fills):
        if i == 0 and item is not None:
            target = item
        else:
            target = ItemEditor.following(previous)
            await container.mount(target, after=previous)
        set_fill(target, fill)
        previous = target
    form.validate()
    note = f"{sum(len(f.names) for f in fills)} target(s) in {len(fills)} item(s)"
    if left_out:
        form.notify(
            "left out: " + "; ".join(left_out[:3]) + (f" and {len(left_out) - 3} more" if len(left_out) > 3 else ""), severity="warning"
        )
    form.notify(note, title="Targets picked")


def set_fill(item: ItemEditor, fill: ItemFill) -> None:
    for path, value in (
        ("params.target.value", fill.value),
        ("params.target.label", fill.label),
        ("params.channelId", fill.channel),
        ("params.subtopic", fill.subtopic),
    ):
        item.box(path).set_raw(value)
    item.review_targets()
