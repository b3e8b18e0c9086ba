"""The field names an ingested record may carry, and which kind of record they make.

A record is either a SenML record (RFC 8428 labels: `n`, `v`, `t`, ... and the base fields
`bn`, `bt`, ...) or a readers API message (`name`, `value`, `time`, ..., snake_case or the
camelCase some deployments send). Either may carry the envelope the readers API adds to a
SenML record and a SenML payload lacks: `channel`, `subtopic`, `publisher`, `protocol`.
"""

from __future__ import annotations

from typing import Literal

from exporter_tui.sources.base import READING_COLUMNS

Kind = Literal["senml", "message"]

# RFC 8428 section 4.6 base fields, and the regular labels of a record.
BASE_LABELS: tuple[str, ...] = ("bn", "bt", "bu", "bv", "bs", "bver")
RECORD_LABELS: tuple[str, ...] = ("n", "u", "v", "vs", "vb", "vd", "s", "t", "ut")
SENML_LABELS: frozenset[str] = frozenset(BASE_LABELS + RECORD_LABELS)

ENVELOPE: tuple[str, ...] = ("channel", "subtopic", "publisher", "protocol")
MESSAGE_FIELDS: tuple[str, ...] = tuple(c for c in READING_COLUMNS if c not in ENVELOPE)
# The camelCase spellings some readers deployments send, to the snake_case field.
CAMEL: dict[str, str] = {
    "stringValue": "string_value",
    "boolValue": "bool_value",
    "dataValue": "data_value",
    "updateTime": "update_time",
}
MESSAGE_KEYS: frozenset[str] = frozenset(MESSAGE_FIELDS) | frozenset(CAMEL)


# Each kind's value fields: a record carries exactly one of these, or only a sum.
VALUE_FIELDS: dict[Kind, tuple[str, ...]] = {
    "senml": ("v", "vs", "vb", "vd"),
    "message": ("value", "string_value", "bool_value", "data_value"),
}
SUM_FIELD: dict[Kind, str] = {"senml": "s", "message": "sum"}

NUMBER_FIELDS = frozenset({"bt", "bv", "bs", "v", "s", "t", "ut", "time", "value", "sum", "update_time"})
BOOL_FIELDS = frozenset({"vb", "bool_value"})
# The rest are text, but for `bver`, a version number.


def canonical(key: str) -> str:
    """A field's one spelling: camelCase reading fields as snake_case, anything else unchanged."""
    return CAMEL.get(key, key)


def kind_of(keys: set[str] | frozenset[str]) -> Kind | None:
    """The kind a set of keys makes: SenML when it has SenML labels, a message when it has
    reading fields, None when it mixes both. A record with neither is taken as SenML (it
    is then refused for having no name and no value)."""
    senml, message = bool(keys & SENML_LABELS), bool(keys & MESSAGE_KEYS)
    if senml and message:
        return None
    return "message" if message else "senml"


def mixed_reason(keys: set[str] | frozenset[str]) -> str:
    senml = ", ".join(sorted(keys & SENML_LABELS))
    message = ", ".join(sorted(keys & MESSAGE_KEYS))
    return f"mixes SenML labels ({senml}) with readers API fields ({message}); a record is one or the other"


def is_known(key: str) -> bool:
    return key in SENML_LABELS or key in MESSAGE_KEYS or key in ENVELOPE
