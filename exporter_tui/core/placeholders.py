"""Placeholders that notification titles and texts may use, checked when a request is stored."""

from __future__ import annotations

import string
from collections.abc import Mapping

PLACEHOLDERS: tuple[str, ...] = (
    "request_id",
    "run_id",
    "status",
    "rows",
    "file_name",
    "file_path",
    "window_from",
    "window_to",
    "error",
)


def check_template(text: str) -> str | None:
    """None when `text` is a usable template, else the reason it is not."""
    try:
        fields = list(string.Formatter().parse(text))
    except ValueError as e:
        return f"malformed placeholder: {e} (write {{{{ and }}}} for literal braces)"
    for _, field, spec, conv in fields:
        if field is None:
            continue
        if field not in PLACEHOLDERS:
            shown = field if field else "{}"
            return f"unknown placeholder {{{shown}}}; known: " + ", ".join("{" + p + "}" for p in PLACEHOLDERS)
        if spec or conv:
            return f"placeholder {{{field}}} takes no format spec or conversion"
    return None


def render(text: str, values: Mapping[str, object]) -> str:
    """Fill a template that check_template accepted; missing values render empty."""
    return text.format_map({p: "" if values.get(p) is None else values.get(p) for p in PLACEHOLDERS})
