"""What ingest says about bad input: a record refused (where, why) or a whole file refused."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from exporter_tui.core.errors import EXIT_INVALID, ExporterError

# How many refused records a strict failure lists in words (its JSON body lists MAX_KEPT).
SHOWN = 20
# Refused records kept for a report; past this only their number is kept.
MAX_KEPT = 10_000


@dataclass(frozen=True)
class Refusal:
    """One record left out: `where` names it ("line 12", "[3]", "line 4 [0]"), `reason` says
    which field and why ("'v' must be a number, got 'abc'")."""

    seq: int  # the record's ordinal in the file, for order
    where: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.where, "reason": self.reason}

    def text(self) -> str:
        return f"{self.where}: {self.reason}"


class FileInvalid(ExporterError):
    """The file as a whole cannot be read (not JSON, no CSV header, a format it is not):
    nothing of it is stored, whatever --skip-invalid says."""

    exit_code = EXIT_INVALID
    http_status = 422


class RecordsRefused(ExporterError):
    """Strict ingest found invalid records: it fails, and stores none of the file."""

    exit_code = EXIT_INVALID
    http_status = 422

    def __init__(self, name: str, records: int, refused: int, kept: list[Refusal]) -> None:
        self.detail = f"{name}: {refused} of {records} record(s) are not valid; nothing was stored (--skip-invalid stores the valid ones)"
        self.refused = refused
        self.kept = kept
        super().__init__(self.detail)

    def text(self) -> str:
        lines = [self.detail + ":"] + [f"  {r.text()}" for r in self.kept[:SHOWN]]
        if self.refused > SHOWN:
            lines.append(f"  ... and {self.refused - SHOWN} more (--json lists up to {MAX_KEPT})")
        return "\n".join(lines)

    def body(self) -> dict:
        return {"detail": self.detail, "validationErrors": [r.as_dict() for r in self.kept]}


def shown(value: Any) -> str:
    """A value as an error message quotes it: text in quotes, JSON for the rest, cut at 40 characters."""
    if isinstance(value, str):
        text = repr(value)
    elif isinstance(value, bool) or value is None:
        text = json.dumps(value)
    elif isinstance(value, (int, float)):
        text = repr(value)
    else:
        try:
            text = json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
