"""The `exporter-tui` command: a contract that scripts rely on.

Exit codes: 0 done; 1 failed at run time (a failed run, a corrupt, newer or locked
database); 2 invalid input (bad body, unknown id, bad config, missing identity); 3 refused
by a limit (queue full, request already running); 130 stopped by a signal (Ctrl-C, SIGTERM
or SIGHUP during `run`).
"""

from __future__ import annotations

import argparse
import stat
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from exporter_tui import __version__
from exporter_tui.cli.commands import COMMANDS
from exporter_tui.cli.common import CliError
from exporter_tui.config import config_is_world_readable
from exporter_tui.context import Context, config_path_for, load_context
from exporter_tui.core.enums import RunStatus
from exporter_tui.core.errors import EXIT_FAILED, EXIT_INVALID, EXIT_OK, EXIT_SIGNAL, ExporterError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # exit 2 with the usage, as argparse does, but through CliError
        raise CliError(f"{self.prog}: {message}\n{self.format_usage().rstrip()}")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="exporter-tui", description="Compose, schedule and run Connhex-compatible data exports.")
    p.add_argument("--version", action="version", version=f"exporter-tui {__version__}")
    p.add_argument("--home", help="keep the database, the source, the exports and config.toml under this folder (env EXPORTER_TUI_HOME)")
    p.add_argument("--config", help="config file (env EXPORTER_TUI_CONFIG; default HOME/config.toml or the user config dir)")
    p.add_argument("--headless", action="store_true", help="run the scheduler with no screen until SIGINT/SIGTERM")
    p.add_argument("--json", action="store_true", help="print JSON (also accepted after the command)")
    p.add_argument("--log-format", choices=("text", "json"), default="text", help="headless log lines (default text)")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    def cmd(name: str, help: str, json_flag: bool = True, **kw: Any) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=help, **kw)
        if json_flag:
            c.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
        return c

    def paging(c: argparse.ArgumentParser) -> None:
        c.add_argument("--page", type=_positive, default=1)
        c.add_argument("--page-size", type=_positive, default=20)

    req = cmd("requests", "create, list, show, export, update, delete, pause, resume export requests", json_flag=False)
    rsub = req.add_subparsers(dest="action", required=True, parser_class=_Parser)
    for name, help, args in (
        ("create", "store a request from a JSON body (FILE or - for stdin)", ("file",)),
        ("show", "print a stored request and its next run times", ("id",)),
        ("export", "print the request body without server-set fields", ("id",)),
        ("update", "replace a request's body", ("id", "file")),
        ("delete", "soft-delete a request and cancel its queued runs", ("id",)),
        ("pause", "stop scheduling a request", ("id",)),
        ("resume", "resume scheduling (the catch-up policy applies)", ("id",)),
    ):
        c = rsub.add_parser(name, help=help)
        for a in args:
            c.add_argument(a)
        c.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
        if name == "export":
            c.add_argument("--connhex", action="store_true", help="leave out this tool's extensions (listed on stderr), for Connhex")
    lst = rsub.add_parser("list", help="list requests, newest first")
    lst.add_argument("--type", choices=("oneTime", "recurring"))
    lst.add_argument("--status", choices=list(RunStatus), help="status of the latest run")
    lst.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
    paging(lst)

    v = cmd("validate", "check a JSON body without storing it")
    v.add_argument("file")

    runs = cmd("runs", "list runs; runs show|cancel|retry|rerun RUN_ID")
    runs.add_argument("--request", help="only the runs of this request")
    runs.add_argument("--status", choices=list(RunStatus))
    paging(runs)
    rs = runs.add_subparsers(dest="action", parser_class=_Parser)
    for name, help in (
        ("show", "one run with its log and notifications"),
        ("cancel", "cancel a queued or running run"),
        ("retry", "queue a failed run again"),
        ("rerun", "write a corrected file of a done run's interval now (a new run, origin rerun; the old file stays)"),
    ):
        c = rs.add_parser(name, help=help)
        c.add_argument("run_id")
        c.add_argument("--json", action="store_true")

    run = cmd("run", "run one request now, in the foreground")
    run.add_argument("id")
    run.add_argument("--from", dest="from_", help="window start (ISO 8601 or Unix seconds)")
    run.add_argument("--to", help="window end (ISO 8601 or Unix seconds)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")

    bf = cmd("backfill", "queue one run per past interval of a request's schedule in a range, then run them in the foreground")
    bf.add_argument("id")
    bf.add_argument(
        "--from", dest="from_", metavar="T", required=True, help="range start: intervals starting at or after it (ISO 8601 or Unix seconds)"
    )
    bf.add_argument("--to", metavar="T", required=True, help="range end: intervals ending at or before it (ISO 8601 or Unix seconds)")
    bf.add_argument("--dry-run", action="store_true", help="list the intervals it would queue and those left alone; queue nothing")
    bf.add_argument("--detach", action="store_true", help="queue them and exit; the scheduler runs them")
    bf.add_argument("--notify", action="store_true", help="send the request's notifications for these runs (off by default)")

    due = cmd("run-due", "run what is due at one instant, then exit (cron, systemd timers)")
    due.add_argument("--now", help="the instant (ISO 8601; default now)")
    due.add_argument("--dry-run", action="store_true", help="list the intervals it would run; run nothing")

    demo = cmd("demo", "fill the embedded source with demo telemetry and store an example request")
    demo.add_argument("--days", type=float, default=30.0)
    demo.add_argument("--end", help="end of the data (ISO 8601; default now rounded down to the hour)")
    demo.add_argument("--reset", action="store_true", help="empty the source first")

    ing = cmd("ingest", "store readings from a SenML JSON, CSV or JSON lines file (FILE or - for stdin) in the embedded source")
    ing.add_argument("file", help="the file, or - for stdin")
    ing.add_argument(
        "--format", choices=("auto", "senml", "csv", "jsonl"), default="auto", help="default auto: by extension, else by content"
    )
    ing.add_argument("--channel", help="the channel of records that name none")
    ing.add_argument("--subtopic", help="the subtopic of records that name none (an export request names one)")
    ing.add_argument("--publisher", help="the publisher of records that name none (default empty)")
    ing.add_argument(
        "--relative-to",
        metavar="WHEN",
        help="place SenML relative times (below 2**28, or none) after this instant: ISO 8601, Unix seconds or 'now' (default: refuse them)",
    )
    ing.add_argument(
        "--skip-invalid",
        action="store_true",
        help="store the valid records and report the others (default: any invalid record stores nothing)",
    )
    ing.add_argument("--quiet", action="store_true", help="no progress bar")

    serve = cmd("serve", "serve the HTTP API of the export documents (and the scheduler, unless another process runs it)", json_flag=False)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; others need [api.keys])")
    serve.add_argument("--port", type=_port, default=8750, help="default 8750")
    serve.add_argument("--tls-cert", help="PEM certificate: serve HTTPS")
    serve.add_argument("--tls-key", help="PEM private key of --tls-cert")
    serve.add_argument("--no-scheduler", action="store_true", help="serve the API only")

    web = cmd("web", "the app in a browser (textual-serve; loopback only, it has no authentication)", json_flag=False)
    web.add_argument("--host", default="127.0.0.1", help="address to listen on: 127.0.0.1, ::1 or localhost (default 127.0.0.1)")
    web.add_argument("--port", type=_port, default=8760, help="default 8760")
    web.add_argument("--public-url", help="the address browsers open, when a reverse proxy serves the page (default http://HOST:PORT)")

    src = cmd("sources", "the readings source", json_flag=False)
    ssub = src.add_subparsers(dest="action", required=True, parser_class=_Parser)
    sl = ssub.add_parser("list", help="every target with its unit and first and last time")
    sl.add_argument("--json", action="store_true")
    sc = ssub.add_parser("check", help="check that the source can be read: generation, time unit, one reading per channel")
    sc.add_argument("--channel", action="append", help="a channel to check (repeatable; default: the channels of stored requests)")
    sc.add_argument("--json", action="store_true")
    scp = ssub.add_parser("compact", help="embedded source: seal the readings waiting in the head into chunks and free unused space")
    scp.add_argument("--json", action="store_true")
    smg = ssub.add_parser(
        "migrate", help="embedded source: convert a file of an earlier version (done on first open anyway), with progress"
    )
    smg.add_argument("--json", action="store_true")

    audit = cmd("audit", "the audit trail of creates, updates, deletes and runs")
    audit.add_argument("--id", help="only events about this request or run")
    audit.add_argument("--action", help="e.g. create, update, delete, skip")
    paging(audit)

    notify = cmd("notify", "notifications", json_flag=False)
    nsub = notify.add_subparsers(dest="action", required=True, parser_class=_Parser)
    nt = nsub.add_parser("test", help="send a test message and print the outcome")
    nt.add_argument("medium", choices=("email", "telegram", "slack", "discord"))
    nt.add_argument("target", help="address, chat id, or webhook name from the config")
    nt.add_argument("--json", action="store_true")
    return p


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if n < 1 or n > 10_000:
        raise argparse.ArgumentTypeError(f"{n} must be between 1 and 10000")
    return n


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"'{text}' is not a port from 1 to 65535")
    return int(text)


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    wants_json = "--json" in args_list
    try:
        args = build_parser().parse_args(args_list)
        return dispatch(args)
    except ExporterError as e:
        return _fail(e.text(), e.exit_code, e.body(), wants_json)
    except KeyboardInterrupt:
        return EXIT_SIGNAL
    except BrokenPipeError:
        return EXIT_OK
    except OSError as e:  # the home, database or exports folder cannot be made or written
        where = f" ({e.filename})" if e.filename else ""
        return _fail(f"{e.strerror or e}{where}", EXIT_FAILED, None, wants_json)


def _fail(message: str, code: int, body: dict | None, wants_json: bool) -> int:
    if wants_json:
        from exporter_tui.cli.output import print_json

        print_json(body or {"detail": message, "validationErrors": []})
    print(f"error: {message}", file=sys.stderr)
    return code


def warn_if_readable(home: str | None, config: str | None) -> None:
    """One warning on stderr when the config file (which may hold passwords, tokens and
    webhook URLs) can be read by other users."""
    path = config_path_for(home, config)
    if config_is_world_readable(path):
        mode = stat.S_IMODE(path.stat().st_mode)
        print(f"warning: {path} can be read by other users (mode {mode:04o}) and may hold secrets; run: chmod 600 {path}", file=sys.stderr)


def dispatch(args: argparse.Namespace) -> int:
    warn_if_readable(args.home, args.config)
    if args.headless:
        from exporter_tui.cli.headless import run_headless

        return run_headless(args.home, args.config, log_format=args.log_format)
    if args.command is None:
        return _open_tui(args)
    ctx = load_context(args.home, args.config)
    handler: Callable[[Context, argparse.Namespace], int] = COMMANDS[args.command]
    return handler(ctx, args)


def _open_tui(args: argparse.Namespace) -> int:
    try:
        from exporter_tui.tui.app import run_app
    except ImportError:
        print("The TUI is not available in this build; use the commands below.", file=sys.stderr)
        build_parser().print_help(sys.stderr)
        return EXIT_INVALID
    return run_app(args.home, args.config)
