"""The handlers behind each `exporter-tui` command."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from exporter_tui.cli.common import CliError, command_hint, parse_instant, read_body
from exporter_tui.cli.output import (
    REQUEST_HEADERS,
    RUN_HEADERS,
    answer,
    page_json,
    paging_footer,
    print_json,
    request_row,
    run_row,
    table,
)
from exporter_tui.cli.progress import ProgressBar
from exporter_tui.context import Context
from exporter_tui.core.durations import get_zone
from exporter_tui.core.enums import EventKind, Origin, RunStatus
from exporter_tui.core.errors import EXIT_FAILED, EXIT_OK, EXIT_SIGNAL
from exporter_tui.core.models import ExportRequest
from exporter_tui.core.times import utc_now
from exporter_tui.core.validation import parse_request
from exporter_tui.events import RunEvent
from exporter_tui.scheduler.schedules import finished, next_runs
from exporter_tui.store.errors import IdentityMissing
from exporter_tui.store.runs import Run


def _require_identity(ctx: Context) -> None:
    if not ctx.actor:
        raise IdentityMissing("Missing user identity id")


def parse_for_settings(ctx: Context, source: str) -> ExportRequest:
    """A request body from FILE or '-', valid by itself and under the settings (pushdown = "on", `delay` within max_catchup)."""
    from exporter_tui.pipeline.pushdown import check_request

    request = parse_request(read_body(source), max_catchup=ctx.settings.scheduler.max_catchup)
    check_request(request, ctx.settings.source)
    return request


def cmd_requests(ctx: Context, args: argparse.Namespace) -> int:
    with ctx.open_store() as store:
        action = args.action
        if action == "create":
            _require_identity(ctx)
            request = parse_for_settings(ctx, args.file)
            sr = store.requests.create(request, ctx.actor, max_queued=ctx.settings.limits.max_queued_runs)
            print_json(sr.as_json())
            return EXIT_OK
        if action == "list":
            page = store.requests.page(args.page, args.page_size, type=args.type, status=args.status)
            rows = [request_row(r, page.extra["last_status"].get(r.id)) for r in page.results]
            answer(
                args, page_json(page, [r.as_json() for r in page.results], "/exports"), table(REQUEST_HEADERS, rows), paging_footer(page)
            )
            return EXIT_OK
        if action == "show":
            sr = store.requests.get(args.id)
            times = next_runs(sr, default_delay=ctx.settings.scheduler.delay)
            done = finished(store, sr)
            if args.json:
                print_json({**sr.as_json(), "paused": sr.paused, "owner": sr.owner, "finished": done, "nextRuns": times})
            else:
                print_json(sr.as_json())
                print(f"owner: {sr.owner}   paused: {'yes' if sr.paused else 'no'}" + ("   finished (periodEnd reached)" if done else ""))
                if times:
                    print("next runs:")
                    for t in times:
                        print(f"  {t['utc']}   {t['local']}")
            return EXIT_OK
        if action == "export":
            request = store.requests.get(args.id).request
            if not args.connhex:
                print_json(request.to_body())
                return EXIT_OK
            body, dropped = request.connhex_body()
            print_json(body)
            print(f"dropped extensions Connhex does not know: {', '.join(dropped) if dropped else 'none'}", file=sys.stderr)
            return EXIT_OK
        if action == "update":
            _require_identity(ctx)
            request = parse_for_settings(ctx, args.file)
            print_json(store.requests.update(args.id, request, ctx.actor, max_queued=ctx.settings.limits.max_queued_runs).as_json())
            return EXIT_OK
        if action == "delete":
            sr = store.requests.delete(args.id, ctx.actor)
            answer(args, sr.as_json(), f"deleted {sr.id}")
            return EXIT_OK
        if action in ("pause", "resume"):
            sr = store.requests.set_paused(args.id, action == "pause", ctx.actor)
            answer(args, {**sr.as_json(), "paused": sr.paused}, f"{'paused' if sr.paused else 'resumed'} {sr.id}")
            return EXIT_OK
        raise CliError(f"unknown action {action}")


def cmd_validate(ctx: Context, args: argparse.Namespace) -> int:
    request = parse_for_settings(ctx, args.file)
    answer(args, {"valid": True, "body": request.to_body()}, "valid")
    return EXIT_OK


def cmd_runs(ctx: Context, args: argparse.Namespace) -> int:
    with ctx.open_store() as store:
        if args.action is None:
            request_id = store.requests.get(args.request, include_deleted=True).id if args.request else None
            page = store.runs.page(args.page, args.page_size, request_id=request_id, status=args.status)
            answer(
                args,
                page_json(page, [r.as_json() for r in page.results], "/runs"),
                table(RUN_HEADERS, [run_row(r) for r in page.results]),
                paging_footer(page),
            )
            return EXIT_OK
        if args.action == "show":
            run = store.runs.get(args.run_id)
            data = {**run.as_json(), "log": store.run_log.of_run(run.id), "notifications": store.notifications.of_run(run.id)}
            if args.json:
                print_json(data)
            else:
                print_json(run.as_json())
                for entry in data["log"]:
                    print(f"{entry['at']} {entry['level']:7} {entry['message']}")
                for n in data["notifications"]:
                    print(
                        f"notification {n['medium']} {n['target']}: {n['status']} after {n['attempts']} attempt(s){' - ' + n['error'] if n['error'] else ''}"
                    )
            return EXIT_OK
        if args.action == "rerun":
            return cmd_rerun(ctx, args)
        if args.action == "cancel":
            from exporter_tui.service.runs import cancel_run

            run = cancel_run(store, args.run_id, ctx.actor)
            if run.status == RunStatus.IN_PROGRESS and not args.json:
                print(f"{run.id}: inProgress, {run.cancel_requested}; it stops at its next progress step")
                return EXIT_OK
        else:
            run = store.runs.retry(args.run_id, ctx.actor)
        answer(args, run.as_json(), f"{run.id}: {run.status}")
        return EXIT_OK


def cmd_run(ctx: Context, args: argparse.Namespace) -> int:
    from exporter_tui.service.runs import run_now

    window = None
    if args.from_ or args.to:
        if not (args.from_ and args.to):
            raise CliError("--from and --to go together")
        with ctx.open_store() as store:
            zone = get_zone(store.requests.get(args.id).request.format.timezone)  # a time without an offset is the request's
        start, end = parse_instant(args.from_, "--from", zone), parse_instant(args.to, "--to", zone)
        if start >= end:
            raise CliError("--to must be after --from")
        window = (start.timestamp(), end.timestamp())
    bar = None if args.quiet or args.json else ProgressBar(sys.stderr)
    notes = RunNotes()
    with SignalStop() as signals:
        run = run_now(
            ctx,
            args.id,
            origin=Origin.CLI,
            window=window,
            on_progress=bar.update if bar else None,
            sink=notes.hear,
            should_stop=signals.hangup.is_set,
            cancelled_by=lambda: ctx.actor if signals.cancel.is_set() else None,
        )
    return _foreground_result(run, args, bar, notes, signals)


def cmd_rerun(ctx: Context, args: argparse.Namespace) -> int:
    """`runs rerun RUN_ID`: a corrected file of a done run's interval, written now in the foreground."""
    from exporter_tui.service.late import rerun_now

    _require_identity(ctx)
    bar = None if args.json else ProgressBar(sys.stderr)
    notes = RunNotes()
    with SignalStop() as signals:
        run = rerun_now(
            ctx,
            args.run_id,
            on_progress=bar.update if bar else None,
            sink=notes.hear,
            should_stop=signals.hangup.is_set,
            cancelled_by=lambda: ctx.actor if signals.cancel.is_set() else None,
        )
    return _foreground_result(run, args, bar, notes, signals)


def _foreground_result(run: Run, args: argparse.Namespace, bar: ProgressBar | None, notes: RunNotes, signals: SignalStop) -> int:
    """What a foreground run (`run`, `runs rerun`) prints once it ended, and its exit code."""
    if bar:
        bar.close()
    if args.json:
        print_json(run.as_json())
    else:
        w = run.as_json()["window"]
        print(f"run {run.id}: {run.status}")
        print(f"  window  {w['from']} .. {w['to']}")
        print(f"  rows    {run.rows if run.rows is not None else '-'}")
        print(f"  file    {run.file_path or '-'}")
        if run.supersedes:
            print(f"  corrects run {run.supersedes} (its file stays)")
        if run.error:
            print(f"  error   {run.error}")
        for line in notes.notifications:
            print(f"  notify  {line}")
    if signals.cancel.is_set() and run.status == RunStatus.FAILED:
        print(f"run {run.id} cancelled", file=sys.stderr)
        return EXIT_SIGNAL
    if signals.hangup.is_set() and run.status == RunStatus.NOT_PROCESSED:
        print(f"run {run.id} interrupted; queued again (attempt {run.attempt})", file=sys.stderr)
        return EXIT_SIGNAL
    return EXIT_OK if run.status == RunStatus.DONE else EXIT_FAILED


def _setter(*flags: threading.Event) -> Callable[[int, FrameType | None], None]:
    def handler(_signum: int, _frame: FrameType | None) -> None:
        for flag in flags:
            flag.set()

    return handler


class SignalStop:
    """While a foreground run goes: Ctrl-C (SIGINT) and SIGTERM ask to cancel it, SIGHUP (the
    terminal went away) to interrupt it. The handlers only set a flag the run reads at its next
    progress step, so a second Ctrl-C never cuts its cleanup short."""

    def __init__(self) -> None:
        self.cancel = threading.Event()
        self.hangup = threading.Event()
        self.any = threading.Event()  # either of them
        self._saved: dict[int, Any] = {}

    def __enter__(self) -> SignalStop:
        if threading.current_thread() is threading.main_thread():
            for sig, flag in ((signal.SIGINT, self.cancel), (signal.SIGTERM, self.cancel), (signal.SIGHUP, self.hangup)):
                self._saved[sig] = signal.signal(sig, _setter(flag, self.any))
        return self

    def __exit__(self, *exc: object) -> None:
        stopping = self.cancel.is_set() or self.hangup.is_set()
        for sig, handler in self._saved.items():  # once stopping, more signals are absorbed until the process exits
            signal.signal(sig, signal.SIG_IGN if stopping else handler)


class RunNotes:
    """What a foreground run tells on the way: notes (such as "an extra run") go to stderr at
    once, one line each; notification outcomes are kept for the summary."""

    def __init__(self) -> None:
        self.notifications: list[str] = []

    def hear(self, event: RunEvent) -> None:
        if event.kind == EventKind.INFO:
            print(event.message, file=sys.stderr)
        elif event.kind == EventKind.NOTIFICATION:
            self.notifications.append(event.message)


def cmd_backfill(ctx: Context, args: argparse.Namespace) -> int:
    from exporter_tui.scheduler.backfill import window_text
    from exporter_tui.service import backfill

    with ctx.open_store() as store:
        stored = store.requests.get(args.id)
        if stored.request.type != "recurring":
            raise CliError(backfill.ONE_TIME.format(id=stored.short_id))
        zone = get_zone(stored.request.format.timezone)  # a time without an offset is the request's
        start, end = parse_instant(args.from_, "--from", zone), parse_instant(args.to, "--to", zone)
        if start >= end:
            raise CliError("--to must be after --from")
        if args.dry_run:
            plan = backfill.preview(ctx, store, stored, start, end)
            if args.json:
                print_json({"requestId": stored.id, "dryRun": True, **plan.as_json()})
            else:
                print("\n".join(plan.describe()))
                for interval in plan.to_queue:
                    print(f"  queue  {window_text(interval)}")
            return EXIT_OK
        _require_identity(ctx)
        plan, queued = backfill.queue(ctx, store, stored, start, end, notify=args.notify)
        runs = backfill.to_finish(plan, queued)
        if not args.json:
            print(f"backfill of {stored.short_id}: {len(queued)} run(s) queued", file=sys.stderr)
            for line in plan.describe()[1:]:
                print(line, file=sys.stderr)
        if args.detach or not runs:
            if args.json:
                print_json({"requestId": stored.id, **plan.as_json(), "queued": queued, "runs": []})
            elif runs:
                print(f"{len(runs)} run(s) left to the scheduler ({command_hint(args, 'run-due')} or a running scheduler takes them)")
            return EXIT_OK
        bar = RunsBar(sys.stderr, len(runs), quiet=args.json)
        with SignalStop() as signals:
            ended = backfill.run_backfill(ctx, store, runs, signals.any, on_ended=bar.ended, sink=_told)
        bar.close()
        failed = [r for r in ended if r.status != RunStatus.DONE]
        if args.json:
            print_json({"requestId": stored.id, **plan.as_json(), "queued": queued, "runs": [r.as_json() for r in ended]})
        else:
            print(
                f"backfill of {stored.short_id}: {len(ended) - len(failed)} done, {len(failed)} failed, {len(runs) - len(ended)} still queued"
            )
            for r in failed:
                print(f"  {r.id[:8]} {r.status}  {r.as_json()['window']['from']} .. {r.as_json()['window']['to']}  {r.error or ''}")
        if signals.any.is_set():
            left = len(runs) - len(ended)
            print(
                f"backfill stopped; {left} run(s) still queued: run the same backfill again, or a scheduler finishes them", file=sys.stderr
            )
            return EXIT_SIGNAL
        return EXIT_FAILED if failed else EXIT_OK


def _told(event: RunEvent) -> None:
    """What a foreground backfill says of its runs' events: takeovers of runs whose process died."""
    if event.kind == EventKind.RECOVERED:
        print(event.message, file=sys.stderr)


class RunsBar:
    """Progress over a backfill's runs on stderr: a bar on a terminal, else one line per run ended."""

    def __init__(self, stream, total: int, *, quiet: bool = False, width: int = 30):
        self.stream = stream
        self.total = total
        self.done = 0
        self.quiet = quiet
        self.width = width
        self.tty = stream.isatty()
        self.update()

    def ended(self, run: Run) -> None:
        self.done += 1
        if not self.tty and not self.quiet:
            w = run.as_json()["window"]
            self.stream.write(f"run {run.id[:8]} {run.status}  {w['from']} .. {w['to']}  ({self.done}/{self.total})\n")
            self.stream.flush()
        self.update()

    def update(self) -> None:
        if self.tty and not self.quiet:
            filled = int(self.done / max(self.total, 1) * self.width)
            self.stream.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total} runs")
            self.stream.flush()

    def close(self) -> None:
        if self.tty and not self.quiet:
            self.stream.write("\n")
            self.stream.flush()


def cmd_run_due(ctx: Context, args: argparse.Namespace) -> int:
    from exporter_tui.service.scheduling import make_scheduler

    now = parse_instant(args.now, "--now") if args.now else utc_now()
    with ctx.open_store() as store:
        scheduler = make_scheduler(ctx, store)
        if args.dry_run:
            plan = scheduler.plan(now)
            if args.json:
                print_json([p.as_json() for p in plan])
            else:
                for p in plan:
                    print(p.describe())
                if not plan:
                    print("nothing is due")
            return EXIT_OK
        runs = scheduler.run_due(now)
        if args.json:
            print_json([r.as_json() for r in runs])
        else:
            for r in runs:
                print(f"{r.id} {r.status} {r.file_path or r.error or ''}")
            if not runs:
                print("nothing was due")
        return EXIT_FAILED if any(r.status == RunStatus.FAILED for r in runs) else EXIT_OK


def cmd_demo(ctx: Context, args: argparse.Namespace) -> int:
    from exporter_tui.sources.demo import generate_demo
    from exporter_tui.starter import ensure_example_request

    end = parse_instant(args.end, "--end") if args.end else None
    if not (0 < args.days <= 3660):
        raise CliError("--days must be more than 0 and at most 3660")
    ctx.ensure_dirs()
    stats = generate_demo(ctx.paths.source_db, days=args.days, end=end, reset=args.reset, codec=ctx.settings.source.chunk_codec)
    with ctx.open_store() as store:
        example = ensure_example_request(store, ctx.actor, stats.end)
    if args.json:
        print_json(
            {
                "rows": stats.rows,
                "devices": stats.devices,
                "targets": stats.targets,
                "start": stats.start.isoformat(),
                "end": stats.end.isoformat(),
                "seconds": round(stats.seconds, 3),
                "exampleRequestId": example.id,
            }
        )
    else:
        print(
            f"{stats.rows} readings of {stats.targets} targets on {stats.devices} devices, "
            f"{stats.start.isoformat()} .. {stats.end.isoformat()}, in {stats.seconds:.1f} s"
        )
        print(f"example request: {example.id}  (try: {command_hint(args, f'run {example.short_id}')})")
    return EXIT_OK


def cmd_ingest(ctx: Context, args: argparse.Namespace) -> int:
    from exporter_tui.cli.ingest import ingest

    return ingest(ctx, args)


def cmd_sources(ctx: Context, args: argparse.Namespace) -> int:
    from exporter_tui.core.times import iso_from_unix

    if args.action == "check":
        from exporter_tui.cli.sources import check_sources

        return check_sources(ctx, args)
    if args.action == "compact":
        from exporter_tui.cli.sources import compact_source

        return compact_source(ctx, args)
    if args.action == "migrate":
        from exporter_tui.cli.sources import migrate_source

        return migrate_source(ctx, args)

    empty = ctx.settings.source.kind == "embedded" and not ctx.paths.source_db.exists()
    targets = []
    if not empty:
        source = ctx.open_source()
        try:
            targets = source.targets()
        finally:
            source.close()
    if not targets and ctx.settings.source.kind == "embedded":
        note = f"the embedded source ({ctx.paths.source_db}) is empty; fill it with demo telemetry: {command_hint(args, 'demo')}"
        if args.json:
            print_json([])
        print(note, file=sys.stderr if args.json else sys.stdout)
        return EXIT_OK
    if args.json:
        print_json(
            [
                {
                    "channel": t.channel,
                    "subtopic": t.subtopic,
                    "name": t.name,
                    "unit": t.unit,
                    "first": iso_from_unix(t.first_time),
                    "last": iso_from_unix(t.last_time),
                    "count": t.count,
                }
                for t in targets
            ]
        )
    else:
        print(
            table(
                ("CHANNEL", "SUBTOPIC", "NAME", "UNIT", "FIRST", "LAST"),
                [(t.channel, t.subtopic, t.name, t.unit or "", iso_from_unix(t.first_time), iso_from_unix(t.last_time)) for t in targets],
            )
        )
    return EXIT_OK


def cmd_audit(ctx: Context, args: argparse.Namespace) -> int:
    with ctx.open_store() as store:
        page = store.audit.page(args.page, args.page_size, entity_id=args.id, action=args.action)
    rows = [(e["at"], e["action"], e["actor"], e["entity"], e["entity_id"], e["detail"] or "") for e in page.results]
    answer(
        args, page_json(page, page.results, "/audit"), table(("AT", "ACTION", "ACTOR", "ENTITY", "ID", "DETAIL"), rows), paging_footer(page)
    )
    return EXIT_OK


def cmd_notify(ctx: Context, args: argparse.Namespace) -> int:
    from exporter_tui.notify.dispatch import send_test

    outcome = send_test(args.medium, args.target, ctx.settings.notify)
    said = f"{outcome.medium} {outcome.target}: {outcome.status} after {outcome.attempts} attempt(s)"
    answer(args, outcome.__dict__, said + (f" - {outcome.error}" if outcome.error else ""))
    return EXIT_OK if outcome.status == "sent" else EXIT_FAILED


def cmd_serve(ctx: Context, args: argparse.Namespace) -> int:
    from exporter_tui.api.server import ServeOptions, ServeRefused, serve

    options = ServeOptions(args.host, args.port, args.tls_cert, args.tls_key, scheduler=not args.no_scheduler)
    try:
        return serve(ctx, options)
    except ServeRefused as e:
        raise CliError(str(e)) from None


def cmd_web(ctx: Context, args: argparse.Namespace) -> int:
    from exporter_tui.tui.web import WebOptions, WebRefused, serve_web

    try:
        return serve_web(ctx, WebOptions(args.host, args.port, args.public_url))
    except WebRefused as e:
        raise CliError(str(e)) from None


COMMANDS: dict[str, Callable[[Context, argparse.Namespace], int]] = {
    "requests": cmd_requests,
    "validate": cmd_validate,
    "runs": cmd_runs,
    "run": cmd_run,
    "backfill": cmd_backfill,
    "run-due": cmd_run_due,
    "demo": cmd_demo,
    "ingest": cmd_ingest,
    "sources": cmd_sources,
    "audit": cmd_audit,
    "notify": cmd_notify,
    "serve": cmd_serve,
    "web": cmd_web,
}
