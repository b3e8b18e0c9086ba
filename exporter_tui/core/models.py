"""The Connhex Exporter request, as pydantic models with camelCase names on the wire.

The models check types and enums; the rules that span fields live in `validation.py`,
which is also the only way in (`parse_request`), so every error names its JSON path.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from exporter_tui.core.fields import Delay, Delimiter, Duration, FileName, Granularity, Label, PlainText, Template, Timestamp, TimeZoneName

ColumnId = Literal["publisher", "channel", "subtopic", "name", "unit", "time", "value", "created"]
COLUMN_IDS: tuple[str, ...] = ("publisher", "channel", "subtopic", "name", "unit", "time", "value", "created")
Extension = Literal["csv", "xls", "xlsx", "pdf", "json"]
Dsf = Literal["avg", "max", "min", "sum", "stddev", "variance"]
Policy = Literal["onSuccess", "onFailure"]
Medium = Literal["email", "telegram", "slack", "discord"]
DateFormat = Literal["ISO", "L", "LL", "LLL"]
CatchUp = Literal["latest", "all", "skip"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = datetime.weekday()

# Our extensions of the Connhex body (`dateFormat` lives in `format`); `requests export --connhex` drops them.
CONNHEX_DROPS: tuple[str, ...] = ("name", "catchUp", "dateFormat", "delay", "periodEnd", "days", "rerunLate")

# Fields the server sets; an input body may carry them and they are ignored.
SERVER_FIELDS: tuple[str, ...] = ("id", "createdAt", "updatedAt", "deletedAt")


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False, str_strip_whitespace=False)


# The longest `target.value` (and `target.label`): the names of one item, comma-separated.
TARGET_VALUE_MAX = 4096


class Target(_Wire):
    value: PlainText = Field(min_length=1, max_length=TARGET_VALUE_MAX)
    label: PlainText | None = Field(default=None, max_length=TARGET_VALUE_MAX)

    def names(self) -> list[str]:
        return [v.strip() for v in self.value.split(",")]

    def labels(self) -> list[str]:
        """The label of each name; a missing label means the names are the labels."""
        if self.label is None:
            return self.names()
        return [v.strip() for v in self.label.split(",")]


class Decimation(_Wire):
    ds: Granularity
    dsf: Dsf = "avg"


class ItemParams(_Wire):
    target: Target
    channel_id: PlainText = Field(alias="channelId", min_length=1, max_length=256)
    subtopic: PlainText = Field(max_length=256)
    from_: Timestamp | None = Field(default=None, alias="from")
    to: Timestamp | None = None
    period: Duration | None = None
    decimation: Decimation | None = None
    transform: Literal["delta"] | None = None
    output_format: Literal["long", "wide"] = Field(default="long", alias="outputFormat")


class Item(_Wire):
    params: ItemParams
    filename: FileName | None = None


class Column(_Wire):
    id: ColumnId
    label: Label = Field(max_length=256)


class Format(_Wire):
    extension: Extension
    columns: list[Column] = Field(default_factory=list, max_length=len(COLUMN_IDS))
    timezone: TimeZoneName = "utc"
    template: Literal["tabular", "expanded"] = "tabular"
    csv_delimiter: Delimiter = Field(default=",", alias="csvDelimiter")
    filename: FileName | None = None
    date_format: DateFormat = Field(default="ISO", alias="dateFormat")

    @property
    def file_extension(self) -> str:
        """What is written: `xls` and `xlsx` both mean an .xlsx workbook."""
        return "xlsx" if self.extension in ("xls", "xlsx") else self.extension


class NotificationMessage(_Wire):
    target: PlainText | None = Field(default=None, max_length=512)
    policy: Policy
    medium: Medium
    title: Template = Field(max_length=1024)
    text: Template = Field(max_length=16384)


class Notification(_Wire):
    messages: list[NotificationMessage] = Field(default_factory=list, max_length=50)


class ExportRequest(_Wire):
    """A request body: what `requests export` prints and `requests create` takes."""

    name: PlainText | None = Field(default=None, max_length=200)
    type: Literal["recurring", "oneTime"]
    format: Format
    items: list[Item] = Field(min_length=1, max_length=100)
    periodicity: Duration | None = None
    period_start: Timestamp | None = Field(default=None, alias="periodStart")
    notification: Notification | None = None
    catch_up: CatchUp | None = Field(default=None, alias="catchUp")
    delay: Delay | None = None
    period_end: Timestamp | None = Field(default=None, alias="periodEnd")
    days: list[Weekday] | None = Field(default=None, min_length=1, max_length=7)
    rerun_late: StrictBool | None = Field(default=None, alias="rerunLate")  # late data: the scheduler reruns an interval once

    def to_body(self) -> dict:
        """The wire body: camelCase, with absent fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def connhex_body(self) -> tuple[dict, list[str]]:
        """The body as Connhex knows it: without our extensions; and the extensions dropped, in body order."""
        body = self.to_body()
        dropped = [key for key in CONNHEX_DROPS if _has(body, key)]
        for key in dropped:
            if key == "dateFormat":
                body["format"].pop(key)
            else:
                body.pop(key)
        return body, dropped

    def target_names(self) -> list[str]:
        return [n for item in self.items for n in item.params.target.names()]


def _has(body: dict, key: str) -> bool:
    return key in body.get("format", {}) if key == "dateFormat" else key in body
