"""`exporter-tui sources check|compact|migrate`: can the configured source be read, and how; keeping
the embedded source's chunks in order.

Readers: kind, url, the generation (set, or detected from the newest reading, else from
/health or /version), its time unit and aggregation, and for each channel (default: the
channels of the stored requests) the result of a one-reading query. Embedded: how many
readings and targets the file holds. Exit 0 when every check passed, 1 when one failed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from exporter_tui.cli.common import CliError
from exporter_tui.cli.output import print_json
from exporter_tui.context import Context
from exporter_tui.core.errors import EXIT_FAILED, EXIT_OK
from exporter_tui.core.times import iso_from_unix
from exporter_tui.sources.base import SourceError


def check_sources(ctx: Context, args: argparse.Namespace) -> int:
    report = _check_readers(ctx, args.channel) if ctx.settings.source.kind == "readers" else _check_embedded(ctx)
    if args.json:
        print_json(report)
    else:
        for k, v in report.items():
            if k == "channels":
                for c in v:
                    said = f"newest reading {c['newest']}" if c["newest"] else "no readings"
                    print(f"channel {c['channel']}: " + (said if c["ok"] else f"FAILED: {c['error']}"))
                if not v:
                    print("channels: none to check (no stored request names one; give --channel ID)")
            elif k not in ("ok",):
                print(f"{k}: {v if v is not None else '-'}")
        print("ok" if report["ok"] else "FAILED")
    return EXIT_OK if report["ok"] else EXIT_FAILED


def _channels(ctx: Context, given: list[str] | None) -> list[str]:
    if given:
        return list(dict.fromkeys(given))
    with ctx.open_store() as store:
        return store.requests.channels()


def _check_readers(ctx: Context, given: list[str] | None) -> dict[str, Any]:
    from exporter_tui.sources.readers.source import ReadersSource

    settings = ctx.settings.source.readers
    source = ReadersSource(settings)
    channels: list[dict[str, Any]] = []
    try:
        for channel in _channels(ctx, given):
            try:
                source.generation(channel)
                channels.append({"channel": channel, "ok": True, "newest": iso_from_unix(source.newest[channel]), "error": None})
            except SourceError as e:
                channels.append({"channel": channel, "ok": False, "newest": None, "error": str(e)})
        version = source.server_version()
        gen = source.generation_in_use()
    finally:
        source.close()
    return {
        "kind": "readers",
        "url": settings.url,
        "api": gen.api,
        "apiSetting": settings.api,
        "detected": settings.api == "auto",
        "serverVersion": version[1] if version else None,
        "timeUnit": gen.unit,
        "aggregation": "the service's Timescale reader can; computed here" if gen.aggregation else "none: computed here",
        "channels": channels,
        "ok": all(c["ok"] for c in channels),
    }


def _check_embedded(ctx: Context) -> dict[str, Any]:
    source = ctx.open_source()
    try:
        targets = source.targets()
    except SourceError as e:
        return {"kind": "embedded", "path": str(ctx.paths.source_db), "error": str(e), "ok": False}
    finally:
        source.close()
    return {
        "kind": "embedded",
        "path": str(ctx.paths.source_db),
        "readings": sum(t.count for t in targets),
        "targets": len(targets),
        "ok": True,
    }


def _embedded_path(ctx: Context, action: str) -> Path:
    if ctx.settings.source.kind != "embedded":
        raise CliError(f"sources {action}: the configured source is the readers service; only the embedded source is kept in chunks here")
    if not ctx.paths.source_db.exists():
        raise CliError(f"sources {action}: the embedded source {ctx.paths.source_db} does not exist yet")
    return ctx.paths.source_db


def compact_source(ctx: Context, args: argparse.Namespace) -> int:
    """Seal every reading waiting in the head into its chunk, then give the freed pages back."""
    from exporter_tui.sources.embedded import ReadingsWriter
    from exporter_tui.sources.embedded.layout import vacuum

    path = _embedded_path(ctx, "compact")
    before = path.stat().st_size
    with ReadingsWriter(path, codec=ctx.settings.source.chunk_codec) as writer:
        sealed = writer.seal()
    vacuum(path)
    after = path.stat().st_size
    if args.json:
        print_json({"path": str(path), "sealed": sealed, "bytesBefore": before, "bytesAfter": after})
    else:
        print(f"{path}: {sealed} readings sealed into chunks; {before / 2**20:.1f} MiB -> {after / 2**20:.1f} MiB")
    return EXIT_OK


def migrate_source(ctx: Context, args: argparse.Namespace) -> int:
    """Convert a source in the row layout of earlier versions (also done on its first open), with progress."""
    from exporter_tui.cli.progress import ProgressBar
    from exporter_tui.sources.embedded.migrate import migrate

    path = _embedded_path(ctx, "migrate")
    bar = None if args.json else ProgressBar(sys.stderr)
    try:
        moved = migrate(path, bar.update if bar else None, ctx.settings.source.chunk_codec)
    finally:
        if bar:
            bar.close()
    if args.json:
        print_json({"path": str(path), "converted": moved > 0, "readings": moved})
    elif moved:
        print(f"{path}: {moved} readings converted to series in chunks")
    else:
        print(f"{path}: already in chunks; nothing to convert")
    return EXIT_OK
