"""The scheduler as the front ends start it: the scheduler decides when a run happens and
who runs it; what a run does (export, files, messages) is the service layer's, given to the
scheduler as its `RunLife`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from exporter_tui.context import Context
from exporter_tui.core.enums import EventKind
from exporter_tui.core.times import utc_now
from exporter_tui.events import EventSink, RunEvent, ignore
from exporter_tui.pipeline.files import manifest_paths, remove_partials, safe_component
from exporter_tui.scheduler.service import Clock, RetryAt, Scheduler
from exporter_tui.service.attempt import execute_run, notify_outcome
from exporter_tui.service.late import check_late
from exporter_tui.sources.base import SourceError
from exporter_tui.store.runs import Run
from exporter_tui.store.store import Store


class ExportRuns:
    """A run's life for the scheduler, in the folders and with the settings of `ctx`."""

    def __init__(self, ctx: Context, clock: Clock | None = None):
        self.ctx = ctx
        self.clock = clock or utc_now  # the scheduler's: it stamps a run's finish, from which late checks count

    def execute(self, store: Store, run: Run, *, sink: EventSink, should_stop: Callable[[], bool], retry_at: RetryAt) -> Run:
        stored = store.requests.get(run.request_id, include_deleted=True)
        return execute_run(
            self.ctx.settings,
            self.ctx.paths.exports_dir,
            store,
            self.ctx.open_source,
            run,
            stored,
            sink=sink,
            should_stop=should_stop,
            retry_at=retry_at,
            clock=self.clock,
        )

    def interrupted(self, run: Run) -> int:
        return len(remove_partials(self.ctx.paths.exports_dir / safe_component(run.request_id), run.id))

    def failed_for_good(self, store: Store, run: Run, sink: EventSink) -> None:
        notify_outcome(self.ctx.settings, store, store.requests.get(run.request_id, include_deleted=True), run, sink)

    def expired(self, run: Run) -> str:
        """Delete the file and its manifest, never outside the exports folder."""
        if not run.file_path:
            return "no file"
        root = self.ctx.paths.exports_dir.resolve()
        data = Path(run.file_path)
        if not data.resolve().is_relative_to(root):  # a file of an older exports.dir
            return f"left {data} in place (outside {root})"
        for p in (data, *manifest_paths(data)):
            p.unlink(missing_ok=True)
        return f"deleted {data.name} and its manifest"

    def disk_usage(self, run: Run) -> int:
        """The file and its manifest, in bytes; 0 for what is gone."""
        if not run.file_path:
            return 0
        data = Path(run.file_path)
        return sum(p.stat().st_size for p in (data, *manifest_paths(data)) if p.is_file())

    def recount(self, store: Store, runs: list[Run], sink: EventSink) -> None:
        """One source for all of them; one that cannot be read is told once, and the runs are counted at their next check."""
        try:
            source = self.ctx.open_source()
        except SourceError as e:
            sink(RunEvent(EventKind.WARNING, f"late-data check: {e.text()}"))
            return
        try:
            for run in runs:
                try:
                    check_late(store, source, run, max_queued=self.ctx.settings.limits.max_queued_runs, sink=sink)
                except SourceError as e:
                    sink(RunEvent(EventKind.WARNING, f"late-data check of run {run.id[:8]}: {e.text()}", run.id, run.request_id))
        finally:
            source.close()


def make_scheduler(
    ctx: Context, store: Store, *, sink: EventSink = ignore, clock: Clock | None = None, holder: str | None = None
) -> Scheduler:
    """A scheduler whose claimed runs export as `ctx` says; `store` serves the calling thread."""
    return Scheduler(ctx, store, ExportRuns(ctx, clock), sink=sink, clock=clock, holder=holder)
