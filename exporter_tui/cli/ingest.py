"""`exporter-tui ingest FILE|-`: readings from a file into the embedded source.

One write transaction per file: strict (the default), any invalid record fails the command
(exit 2) and nothing of the file is stored; with --skip-invalid the valid records are
stored and each refused one is reported. A reading already stored (same channel, subtopic,
name, publisher and time) is replaced, so ingesting a file twice stores each reading once:
the source's count before and after the file tells new readings from duplicates.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
import time
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from exporter_tui.cli.common import CliError, parse_instant
from exporter_tui.cli.output import print_json
from exporter_tui.cli.progress import ProgressBar
from exporter_tui.context import Context
from exporter_tui.core.errors import EXIT_OK
from exporter_tui.sources.ingest import MAX_KEPT, SHOWN, Defaults, FileReader, RecordsRefused, Refusal


@dataclass
class Summary:
    """What one file gave: records read, readings stored (new or replacing a stored one), records refused."""

    file: str
    format: str = ""
    records: int = 0
    readings: int = 0
    new: int = 0
    refused: int = 0
    errors: list[Refusal] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def duplicate(self) -> int:
        return self.readings - self.new

    def refuse(self, refusals: list[Refusal]) -> None:
        self.refused += len(refusals)
        self.errors += refusals[: max(0, MAX_KEPT - len(self.errors))]

    def as_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "format": self.format,
            "records": self.records,
            "readings": self.readings,
            "new": self.new,
            "duplicate": self.duplicate,
            "refused": self.refused,
            "errors": [r.as_dict() for r in self.errors],
            "errorsOmitted": self.refused - len(self.errors),
            "ignoredFields": self.ignored,
            "seconds": round(self.seconds, 3),
        }

    def lines(self) -> list[str]:
        out = [
            f"{self.file} ({self.format}): {self.readings} readings stored, {self.new} new, {self.duplicate} duplicate"
            + (f"; {self.refused} records refused" if self.refused else "")
            + f", in {self.seconds:.1f} s"
        ]
        out += [f"  {r.text()}" for r in self.errors[:SHOWN]]
        if self.refused > SHOWN:
            out.append(f"  ... and {self.refused - SHOWN} more (--json lists up to {MAX_KEPT})")
        if self.ignored:
            out.append(f"ignored fields (no reading field): {', '.join(self.ignored)}")
        return out


def ingest(ctx: Context, args: argparse.Namespace) -> int:
    from exporter_tui.sources.embedded import ReadingsWriter

    if ctx.settings.source.kind != "embedded":
        raise CliError(
            f'ingest writes into the embedded source, and this home reads from a readers API ([source] kind = "{ctx.settings.source.kind}"); '
            "readings go into that service through its own adapters"
        )
    defaults = Defaults(
        channel=args.channel,
        subtopic=args.subtopic,
        publisher=args.publisher,
        relative_to=_relative_to(args.relative_to),
    )
    name = "stdin" if args.file == "-" else args.file
    stream, size = _open(args.file)
    summary = Summary(name)
    started = time.monotonic()
    ctx.ensure_dirs()
    bar = None if args.json or args.quiet else ProgressBar(sys.stderr, unit="bytes")
    try:
        reader = FileReader(stream, name, args.format, defaults)
        summary.format = reader.format
        with ReadingsWriter(ctx.paths.source_db, codec=ctx.settings.source.chunk_codec) as writer:
            # Counted once around the whole file (one transaction): asking after each batch would
            # make the writer store what it queued, batch by batch, instead of a day's chunk at once.
            before = writer.stored()
            for batch in reader:
                summary.records += batch.records
                summary.refuse(batch.refused)
                if not args.skip_invalid and summary.refused:
                    continue  # it fails at the end; what is left is read only to report every bad record
                if len(batch.frame):
                    summary.readings += writer.write(batch.frame)
                if bar:
                    bar.update(batch.bytes_read, size)
            if summary.refused and not args.skip_invalid:
                raise RecordsRefused(name, summary.records, summary.refused, summary.errors)
            summary.new = writer.stored() - before
    finally:
        if bar:
            bar.close()
        if stream is not sys.stdin.buffer:
            stream.close()
    summary.ignored = sorted(reader.ignored)
    summary.seconds = time.monotonic() - started
    if args.json:
        print_json(summary.as_json())
    else:
        print("\n".join(summary.lines()))
    return EXIT_OK


def _open(path: str) -> tuple[BinaryIO, int | None]:
    """The file (or stdin) as a binary stream, and its size when it is a regular file (for the progress bar)."""
    if path == "-":
        stream: BinaryIO = sys.stdin.buffer
    else:
        try:
            stream = open(path, "rb")  # noqa: SIM115  (closed by the caller)
        except OSError as e:
            raise CliError(f"cannot read {path}: {e.strerror}") from None
    try:
        info = os.fstat(stream.fileno())
        return stream, info.st_size if stat.S_ISREG(info.st_mode) else None
    except (OSError, ValueError, AttributeError):  # a stream with no file behind it
        return stream, None


def _relative_to(text: str | None) -> float | None:
    if text is None:
        return None
    if text == "now":
        return time.time()
    return parse_instant(text, "--relative-to").timestamp()
