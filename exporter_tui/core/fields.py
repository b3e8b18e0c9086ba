"""Checks of single fields, used as pydantic validators so every bad field is reported at once."""

from __future__ import annotations

import math
import unicodedata
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

from exporter_tui.core.durations import get_zone, parse_ds, parse_duration
from exporter_tui.core.placeholders import check_template

# Plausible Unix seconds: after 1970 and before 2200. Larger values are usually milliseconds.
MIN_TIMESTAMP = 1.0
MAX_TIMESTAMP = 7_258_118_400.0
MAX_FILENAME = 120
_WINDOWS_DEVICES = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}


def has_control(text: str) -> bool:
    """Control or format characters, or line/paragraph separators (Unicode Cc, Cf, Zl, Zp).

    `str.isprintable` (in C) clears almost every text at once; only the rest is walked."""
    if text.isprintable():
        return False
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in text)


def _duration(text: str) -> str:
    parse_duration(text)
    return text


def _delay(text: str) -> str:
    if isinstance(text, str) and text.startswith("-"):
        raise ValueError("must not be negative: a run cannot start before its interval ends")
    parse_duration(text, allow_zero=True)
    return text


def _ds(text: str) -> str:
    parse_ds(text)
    return text


def _timezone(name: str) -> str:
    get_zone(name)
    return name


def _timestamp_input(value: object) -> object:
    """JSON true/false and text that is not an ISO 8601 date-time (those were converted
    before) are not Unix seconds, though pydantic's lax mode would take them."""
    if isinstance(value, bool):
        raise ValueError("must be a number of Unix seconds, not true or false")
    if isinstance(value, str):
        raise ValueError("must be a number")
    return value


def _timestamp(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number of Unix seconds")
    if value > MAX_TIMESTAMP:
        hint = " (it looks like milliseconds; give seconds)" if value < MAX_TIMESTAMP * 1000 else ""
        raise ValueError(f"{value:.0f} is not plausible Unix seconds: after the year 2200{hint}")
    if value < MIN_TIMESTAMP:
        raise ValueError(f"{value:g} is not plausible Unix seconds: before 1970")
    return value


def _delimiter(text: str) -> str:
    if len(text) != 1:
        raise ValueError(f"must be exactly one character, got {len(text)}")
    if text in "\"'\r\n":
        raise ValueError("must not be a quote or a line break")
    return text


def _filename(name: str) -> str:
    if not name.strip():
        raise ValueError("must not be empty")
    if len(name) > MAX_FILENAME:
        raise ValueError(f"is too long ({len(name)} characters, at most {MAX_FILENAME})")
    if "/" in name or "\\" in name:
        raise ValueError("must not contain a path separator")
    if ".." in name:
        raise ValueError("must not contain '..'")
    if has_control(name):
        raise ValueError("must not contain control characters")
    if name.startswith((".", " ")) or name.endswith((" ", ".")):
        raise ValueError("must not start with a dot or a space, nor end with a dot or a space")
    if name.split(".")[0].strip().lower() in _WINDOWS_DEVICES:
        raise ValueError(f"'{name}' is a reserved device name")
    if any(ch in name for ch in ':*?"<>|'):
        raise ValueError('must not contain any of : * ? " < > |')
    return name


def _label(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty")
    if has_control(text):
        raise ValueError("must not contain control characters")
    return text


def _plain_text(text: str) -> str:
    if has_control(text):
        raise ValueError("must not contain control characters")
    return text


def _template(text: str) -> str:
    reason = check_template(text)
    if reason:
        raise ValueError(reason)
    return text


Duration = Annotated[str, AfterValidator(_duration)]
Delay = Annotated[str, AfterValidator(_delay)]  # may be PT0S, never negative
Granularity = Annotated[str, AfterValidator(_ds)]
TimeZoneName = Annotated[str, AfterValidator(_timezone)]
Timestamp = Annotated[float, BeforeValidator(_timestamp_input), AfterValidator(_timestamp)]
Delimiter = Annotated[str, AfterValidator(_delimiter)]
FileName = Annotated[str, AfterValidator(_filename)]
Label = Annotated[str, AfterValidator(_label)]
PlainText = Annotated[str, AfterValidator(_plain_text)]  # names, ids, subtopics, targets: no control characters
Template = Annotated[str, AfterValidator(_template)]
