"""The one way in for a request body: normalise the variants, check every rule, name every bad field."""

from __future__ import annotations

import re
from datetime import UTC
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from exporter_tui.core.durations import parse_duration
from exporter_tui.core.errors import FieldError, RequestInvalid, json_path
from exporter_tui.core.models import SERVER_FIELDS, ExportRequest
from exporter_tui.core.times import parse_iso

MAX_REPORTED = 20
_URLISH = re.compile(r"^[a-z][a-z0-9+.-]*://", re.I)


def parse_request(data: Any, *, max_catchup: str | None = None) -> ExportRequest:
    """Validate a decoded JSON body; raise RequestInvalid naming every bad field.

    `max_catchup` (the scheduler's setting) bounds `delay`: a run that waits longer than the
    scheduler looks back would never run."""
    if not isinstance(data, dict):
        raise RequestInvalid([FieldError("", "the body must be a JSON object")])
    broken = lone_surrogates(data)
    if broken:
        raise RequestInvalid(broken)
    body = normalise_variants(data)
    try:
        request = ExportRequest.model_validate(body)
    except ValidationError as e:
        raise RequestInvalid([FieldError(json_path(_wire_loc(err["loc"])), _reason(err)) for err in e.errors()]) from None
    errors = check_rules(request)
    if max_catchup is not None and request.delay is not None:
        errors += check_delay(request.delay, max_catchup)
    if errors:
        raise RequestInvalid(errors)
    return request


def lone_surrogates(data: Any) -> list[FieldError]:
    """Every string (key or value) holding a lone UTF-16 surrogate, which no UTF-8 file,
    database or terminal can hold. JSON's `\\ud800` escape makes one; walked without
    recursion, so depth is no limit. The first MAX_REPORTED are named."""
    errors: list[FieldError] = []
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), data)]
    while stack and len(errors) < MAX_REPORTED:
        loc, node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                key_loc = (*loc, printable(key) if isinstance(key, str) else str(key))
                if isinstance(key, str) and _has_surrogate(key):
                    errors.append(FieldError(json_path(key_loc), "the field name is not valid Unicode (a lone surrogate)"))
                else:
                    stack.append((key_loc, value))
        elif isinstance(node, list):
            stack.extend(((*loc, i), v) for i, v in enumerate(node))
        elif isinstance(node, str) and _has_surrogate(node):
            errors.append(FieldError(json_path(loc), "is not valid Unicode text (a lone surrogate)"))
    return sorted(errors, key=lambda e: e.path)


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def printable(text: str) -> str:
    """Text that can be printed and stored: lone surrogates shown as `\\udXXX` escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def normalise_variants(data: dict) -> dict:
    """Accept what the seeds README lists: server-set fields ignored, `0` times absent,
    `timezone: {}` as the default, a single notification object as `{messages: [...]}`."""
    body = {k: v for k, v in data.items() if k not in SERVER_FIELDS}
    fmt = body.get("format")
    if isinstance(fmt, dict) and isinstance(fmt.get("timezone"), dict) and not fmt["timezone"]:
        body["format"] = {**fmt, "timezone": "utc"}
    for key in ("periodStart", "periodEnd"):
        if _is_zero(body.get(key)):
            body.pop(key, None)
        elif isinstance(body.get(key), str):
            body[key] = _iso_to_unix(body[key])
    note = body.get("notification")
    if isinstance(note, dict) and "messages" not in note and {"title", "text", "medium"} <= note.keys():
        body["notification"] = {"messages": [{"policy": "onSuccess", **note}]}
    items = body.get("items")
    if isinstance(items, list):
        body["items"] = [_normalise_item(i) for i in items]
    return body


def _normalise_item(item: Any) -> Any:
    if not isinstance(item, dict) or not isinstance(item.get("params"), dict):
        return item
    params = dict(item["params"])
    for key in ("from", "to"):
        if _is_zero(params.get(key)):
            params.pop(key, None)
        elif isinstance(params.get(key), str):
            params[key] = _iso_to_unix(params[key])
    return {**item, "params": params}


def _is_zero(v: Any) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and v == 0)


def _iso_to_unix(text: str) -> Any:
    """An ISO 8601 date-time (with offset; naive means UTC) as Unix seconds; other text is left for the model to refuse."""
    try:
        dt = parse_iso(text)
    except ValueError:
        return text
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


_ALIASES = {
    "from_": "from",
    "channel_id": "channelId",
    "output_format": "outputFormat",
    "csv_delimiter": "csvDelimiter",
    "date_format": "dateFormat",
    "period_start": "periodStart",
    "catch_up": "catchUp",
    "period_end": "periodEnd",
    "rerun_late": "rerunLate",
}


def _wire_loc(loc: tuple) -> tuple:
    return tuple(printable(_ALIASES.get(p, p)) if isinstance(p, str) else p for p in loc)


def _reason(err: ErrorDetails) -> str:
    kind = err["type"]
    if kind == "value_error":
        return str(err.get("ctx", {}).get("error", err["msg"]))
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a field of an export request"
    if kind == "literal_error":
        expected = str(err.get("ctx", {}).get("expected", ""))
        return f"must be one of {expected}" if " or " in expected else f"must be {expected}"
    if kind in ("float_parsing", "float_type"):
        return "must be a number"
    if kind == "finite_number":
        return "must be a finite number"
    if kind in ("string_type",):
        return "must be a string"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "must be a JSON object"
    if kind == "list_type":
        return "must be a JSON array"
    if kind == "too_short":
        return f"must have at least {err.get('ctx', {}).get('min_length')} element(s)" if "min_length" in err.get("ctx", {}) else err["msg"]
    if kind == "too_long":
        return f"must have at most {err.get('ctx', {}).get('max_length')} element(s)"
    if kind == "string_too_long":
        return f"is too long (at most {err.get('ctx', {}).get('max_length')} characters)"
    if kind == "string_too_short":
        return "must not be empty"
    return err["msg"]


def _longer_than_a_day(periodicity: str) -> bool:
    p = parse_duration(periodicity)
    return p.months > 0 or p.days > 1 or (p.days == 1 and p.seconds > 0) or p.seconds > 86400


def check_delay(delay: str, max_catchup: str) -> list[FieldError]:
    """A delay longer than `scheduler.max_catchup` would make every interval too old to run when it falls due."""
    if parse_duration(delay, allow_zero=True).approx_seconds() > parse_duration(max_catchup).approx_seconds():
        return [FieldError("delay", f"{delay} is longer than scheduler.max_catchup {max_catchup}; no interval would ever run")]
    return []


def check_rules(r: ExportRequest) -> list[FieldError]:
    """The rules that span fields, each naming its JSON path (single fields are checked by the model)."""
    errors: list[FieldError] = []

    def bad(path: str, reason: str) -> None:
        errors.append(FieldError(path, reason))

    if r.type == "recurring" and r.periodicity is None:
        bad("periodicity", "is required for a recurring request")
    elif r.type == "oneTime" and r.periodicity is not None:
        bad("periodicity", "must be absent for a oneTime request")

    if r.period_end is not None:
        if r.type == "oneTime":
            bad("periodEnd", "must be absent for a oneTime request (it runs once)")
        elif r.period_start is not None and r.period_end <= r.period_start:
            bad("periodEnd", "must be after periodStart")
    if r.days is not None:
        if r.type == "oneTime":
            bad("days", "must be absent for a oneTime request (it runs once)")
        elif r.periodicity is not None and _longer_than_a_day(r.periodicity):
            bad("days", f"needs a periodicity of at most P1D, not {r.periodicity}")
        if len(set(r.days)) != len(r.days):
            bad("days", "lists a day twice")
    if r.delay is not None and r.type == "oneTime":
        bad("delay", "must be absent for a oneTime request (it runs at periodStart)")

    seen: set[str] = set()
    for i, col in enumerate(r.format.columns):
        if col.id in seen:
            bad(f"format.columns[{i}].id", f"'{col.id}' is listed twice")
        seen.add(col.id)

    for i, item in enumerate(r.items):
        p = item.params
        base = f"items[{i}].params"
        names = p.target.names()
        if any(not n for n in names):
            bad(f"{base}.target.value", "lists an empty target name")
        if p.target.label is not None:
            labels = p.target.labels()
            if len(labels) != len(names):
                bad(f"{base}.target.label", f"lists {len(labels)} label(s) for {len(names)} target(s); give one label per target")
            elif any(not lab for lab in labels):
                bad(f"{base}.target.label", "lists an empty label")
        if p.output_format == "wide":
            labels = p.target.labels()
            time_label = next((c.label for c in r.format.columns if c.id == "time"), "time")
            field = "label" if p.target.label is not None else "value"
            if len(set(labels)) != len(labels):
                bad(f"{base}.target.{field}", "wide output needs a different label for each target (they become column headers)")
            elif time_label in labels:
                bad(f"{base}.target.{field}", f"'{time_label}' is the time column's header; wide output needs another label")
        if not p.subtopic:
            bad(f"{base}.subtopic", "must not be empty")
        if (p.from_ is None) != (p.to is None):
            missing = "to" if p.to is None else "from"
            bad(f"{base}.{missing}", "is required when the other end of the window is given")
        elif p.from_ is not None and p.to is not None and p.from_ >= p.to:
            bad(f"{base}.to", "must be after from")
        if r.type == "oneTime" and p.period is None and p.from_ is None:
            bad(base, "a oneTime item needs from/to or period")

    if r.notification is not None:
        for i, msg in enumerate(r.notification.messages):
            if msg.target is not None and msg.medium in ("slack", "discord") and _URLISH.match(msg.target):
                bad(
                    f"notification.messages[{i}].target",
                    f"webhook URLs are secrets: put it in the config under notify.{msg.medium}.webhooks and give its name here",
                )
    return errors
