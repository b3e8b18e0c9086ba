"""Validation errors in Connectif's shape: `{"detail": ..., "validationErrors": [{"path", "reason"}]}`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    path: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}


class RequestInvalid(ValueError):
    """A request body that cannot be stored; `errors` names every bad field."""

    def __init__(self, errors: list[FieldError], detail: str = "The export request is not valid"):
        self.errors = errors
        self.detail = detail
        super().__init__(detail + ": " + "; ".join(f"{e.path or '(body)'}: {e.reason}" for e in errors))

    def body(self) -> dict:
        return {"detail": self.detail, "validationErrors": [e.as_dict() for e in self.errors]}

    def readable(self) -> str:
        lines = [self.detail + ":"]
        lines += [f"  {e.path or '(body)'}: {e.reason}" for e in self.errors]
        return "\n".join(lines)


def json_path(loc: tuple[str | int, ...]) -> str:
    """('items', 0, 'params', 'from') -> 'items[0].params.from'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out
