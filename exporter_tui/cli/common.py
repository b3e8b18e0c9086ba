"""What the CLI's parser and handlers share: exit codes, errors, reading bodies and instants."""

from __future__ import annotations

import json
import shlex
import sys
from datetime import UTC, datetime, tzinfo
from typing import Any

from exporter_tui.core.errors import EXIT_INVALID, ExporterError, FieldError, RequestInvalid
from exporter_tui.core.times import parse_iso

MAX_BODY_BYTES = 10_000_000


class CliError(ExporterError):
    """A refusal of the command line itself (bad flag value, unreadable file), with its own exit code."""

    def __init__(self, message: str, code: int = EXIT_INVALID, body: dict | None = None):
        super().__init__(message)
        self.exit_code = code
        self._body = body

    def body(self) -> dict:
        return self._body or super().body()


def read_body(source: str) -> Any:
    """Decode a JSON body from FILE or '-' (stdin); errors become RequestInvalid with path ''."""
    try:
        if source == "-":
            raw = sys.stdin.buffer.read(MAX_BODY_BYTES + 1)
        else:
            with open(source, "rb") as f:
                raw = f.read(MAX_BODY_BYTES + 1)
    except OSError as e:
        raise CliError(f"cannot read {source}: {e.strerror}") from None
    if len(raw) > MAX_BODY_BYTES:
        raise RequestInvalid([FieldError("", f"the body is larger than {MAX_BODY_BYTES} bytes")])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise RequestInvalid([FieldError("", f"not UTF-8 text (byte {e.start})")]) from None
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as e:
        raise RequestInvalid([FieldError("", f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno}")]) from None
    except RecursionError:
        raise RequestInvalid([FieldError("", "the JSON is nested too deeply")]) from None
    except ValueError as e:
        raise RequestInvalid([FieldError("", str(e))]) from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"not valid JSON: {name} is not a number JSON allows")


def parse_instant(text: str, name: str, zone: tzinfo = UTC) -> datetime:
    """ISO 8601 or Unix seconds; a date or date-time without an offset is wall time in `zone`
    (a request's zone for `run --from/--to`; UTC where there is no request)."""
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except (ValueError, OverflowError, OSError):
        pass
    try:
        dt = parse_iso(text)
    except ValueError:
        raise CliError(f"{name}: '{text}' is not an ISO 8601 date-time or Unix seconds") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=zone)


def command_hint(args: Any, command: str) -> str:
    """The command line to suggest, with the `--home`/`--config` this one was given (so it works
    when pasted as it is)."""
    words = ["exporter-tui"]
    for flag, value in (("--home", getattr(args, "home", None)), ("--config", getattr(args, "config", None))):
        if value:
            words += [flag, shlex.quote(str(value))]
    return " ".join([*words, command])
