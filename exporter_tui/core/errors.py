"""The errors a user can act on, each with its exit code, HTTP status and message in one place.

Every front end (CLI, TUI, HTTP API) shows an `ExporterError` the same way: `text()` in words,
`body()` in Connectif's shape `{"detail": ..., "validationErrors": [{"path", "reason"}]}`,
`exit_code` for the shell and `http_status` for the API.
"""

from __future__ import annotations

from dataclasses import dataclass

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_LIMIT = 0, 1, 2, 3
EXIT_SIGNAL = 130  # stopped by Ctrl-C, SIGTERM or SIGHUP (128 + SIGINT, as shells report it)


class ExporterError(Exception):
    """Base of every error shown to a user; subclasses set the codes (instances may too)."""

    exit_code: int = EXIT_FAILED
    http_status: int = 500

    def text(self) -> str:
        return str(self)

    def body(self) -> dict:
        return {"detail": self.text(), "validationErrors": []}

    def headers(self) -> dict[str, str] | None:
        return None


@dataclass(frozen=True)
class FieldError:
    path: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}


class RequestInvalid(ExporterError, ValueError):
    """A request body that cannot be stored; `errors` names every bad field."""

    exit_code = EXIT_INVALID
    http_status = 422

    def __init__(self, errors: list[FieldError], detail: str = "The export request is not valid"):
        self.errors = errors
        self.detail = detail
        super().__init__(detail + ": " + "; ".join(f"{e.path or '(body)'}: {e.reason}" for e in errors))

    def body(self) -> dict:
        return {"detail": self.detail, "validationErrors": [e.as_dict() for e in self.errors]}

    def text(self) -> str:
        return self.readable()

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
