"""Typed settings, read from TOML and validated by pydantic, and the paths they resolve to.

Lookup order for the config file: `--config FILE`, else `EXPORTER_TUI_CONFIG`, else
`H/config.toml` when a home H is given (`--home` or `EXPORTER_TUI_HOME`), else the user
config dir. A missing file means all defaults; a broken one is a ConfigError naming the
field, and the file is never rewritten.
"""

from __future__ import annotations

import getpass
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails

from exporter_tui.core.errors import EXIT_INVALID, ExporterError

APP_NAME = "exporter-tui"


def _login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry and no LOGNAME: identity stays empty
        return ""


class _Section(BaseModel):
    # Every float is a time or a size: infinity or NaN would overflow sleeps and timeouts later.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


# Upper bounds keep absurd values out: past them sleeps, sockets and date arithmetic overflow.
HOUR, DAY = 3600.0, 86_400.0


class IdentitySettings(_Section):
    user: str = Field(default_factory=lambda: _login_name())


class LimitsSettings(_Section):
    max_queued_runs: int = Field(default=100, ge=1, le=1_000_000)


class ExportsSettings(_Section):
    dir: str = "exports"
    csv_bom: bool = False
    excel_max_rows: int = Field(default=1_048_576, ge=2, le=1_048_576)
    pdf_row_cap: int = Field(default=5_000, ge=1, le=10_000_000)
    retention_days: float = Field(default=30.0, gt=0, le=36_600)
    max_disk_mb: float = Field(default=0.0, ge=0)  # 0: no disk budget
    file_mode: int = Field(default=0o600, ge=0, le=0o777)
    dir_mode: int = Field(default=0o700, ge=0, le=0o777)


# The readers service refuses any other `limit` with 400 "invalid limit size".
READERS_MAX_LIMIT = 1000


class ReadersSettings(_Section):
    """A Mainflux/Magistrala/SuperMQ readers service; the generations are in sources/readers/generations.py."""

    url: str = "http://127.0.0.1:9011"
    api: Literal["auto", "mainflux", "magistrala-0.14", "magistrala"] = "auto"
    domain: str = ""
    auth: Literal["bearer", "thing", "client", "key"] = "bearer"
    token: str = ""
    timeout: float = Field(default=10.0, gt=0, le=HOUR)
    page_size: int = Field(default=READERS_MAX_LIMIT, ge=1, le=READERS_MAX_LIMIT)
    retries: int = Field(default=3, ge=0, le=100)
    backoff: float = Field(default=0.5, ge=0, le=HOUR)
    pushdown: Literal["auto", "on", "off"] = "auto"

    @field_validator("domain")
    @classmethod
    def _one_path_segment(cls, v: str) -> str:
        if any(c in v for c in "/?#%") or any(ord(c) < 32 or ord(c) == 127 or c.isspace() for c in v):
            raise ValueError("must be a domain id (one path segment: no '/', '?', '#', '%', spaces or control characters)")
        return v


class SourceSettings(_Section):
    kind: Literal["embedded", "readers"] = "embedded"
    # How the embedded source packs the chunks it writes: "none" reads fastest, "zlib" makes the file ~2.4x smaller.
    chunk_codec: Literal["none", "zlib"] = "none"
    readers: ReadersSettings = Field(default_factory=ReadersSettings)


class RetrySettings(_Section):
    attempts: int = Field(default=3, ge=1, le=100)
    backoff: float = Field(default=30.0, ge=0, le=DAY)


class SchedulerSettings(_Section):
    tick: float = Field(default=5.0, gt=0, le=HOUR)
    catch_up: Literal["latest", "all", "skip"] = "latest"
    max_catchup: str = "P7D"
    delay: str = "PT0S"  # a request's default wait after its interval ends (late data)
    late_check_every: str = "PT15M"  # a done run's targets are counted again at most this often ...
    late_check_for: str = "P1D"  # ... until this long after its interval ended (PT0S: never)
    heartbeat_timeout: float = Field(default=60.0, gt=0, le=DAY)
    max_parallel: int = Field(default=2, ge=1, le=32)
    retry: RetrySettings = Field(default_factory=RetrySettings)

    @field_validator("max_catchup", "late_check_every")
    @classmethod
    def _duration(cls, v: str) -> str:
        from exporter_tui.core.durations import parse_duration

        parse_duration(v)
        return v

    @field_validator("delay", "late_check_for")
    @classmethod
    def _zero_or_duration(cls, v: str) -> str:
        from exporter_tui.core.durations import parse_duration

        parse_duration(v, allow_zero=True)
        return v

    @model_validator(mode="after")
    def _delay_within_catchup(self) -> SchedulerSettings:
        from exporter_tui.core.validation import check_delay

        for error in check_delay(self.delay, self.max_catchup):
            raise ValueError(f"delay: {error.reason}")
        return self


class SmtpSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=25, ge=1, le=65535)
    security: Literal["plain", "starttls", "ssl"] = "plain"
    username: str = ""
    password: str = ""
    sender: str = "exporter-tui@localhost"
    default_to: str = ""
    timeout: float = Field(default=10.0, gt=0, le=HOUR)
    attach_max_bytes: int = Field(default=10_000_000, ge=0)


class WebhookSettings(_Section):
    """Webhook URLs are secrets: requests name them (`target = "ops"`), config holds the URL."""

    default_url: str = ""
    webhooks: dict[str, str] = {}


class TelegramSettings(_Section):
    api_base: str = "https://api.telegram.org"
    token: str = ""
    default_chat_id: str = ""


class NotifySettings(_Section):
    timeout: float = Field(default=10.0, gt=0, le=HOUR)
    attempts: int = Field(default=3, ge=1, le=100)
    backoff: float = Field(default=2.0, ge=0, le=HOUR)
    email: SmtpSettings = Field(default_factory=SmtpSettings)
    slack: WebhookSettings = Field(default_factory=WebhookSettings)
    discord: WebhookSettings = Field(default_factory=WebhookSettings)
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)


class DatabaseSettings(_Section):
    busy_timeout_ms: int = Field(default=10_000, ge=0, le=int(DAY * 1000))


class TuiSettings(_Section):
    bindings: dict[str, str] = {}
    theme: str = "textual-dark"
    clock: Literal["local", "utc"] = "local"  # how every time in the TUI is shown (tui/clock.py)


API_ACTIONS = ("create", "list", "update", "delete", "download")
API_KEY_NAME = re.compile(r"^[a-z0-9_]{1,32}$")


class ApiKeySettings(_Section):
    """One key of `exporter-tui serve`: its secret, the identity it acts as, what it may do."""

    secret: str = ""
    owner: str = Field(min_length=1)
    actions: list[str] = []

    @field_validator("actions")
    @classmethod
    def _actions(cls, v: list[str]) -> list[str]:
        known = [f"exporter:exports:{a}" for a in API_ACTIONS]
        for a in v:
            if a not in known:
                raise ValueError(f"unknown action '{a}'; known: {', '.join(known)}")
        return v


class ApiSettings(_Section):
    max_body: int = Field(default=1_048_576, ge=1, le=100_000_000)
    signing_key: str = ""
    keys: dict[str, ApiKeySettings] = {}

    @field_validator("keys")
    @classmethod
    def _names(cls, v: dict[str, ApiKeySettings]) -> dict[str, ApiKeySettings]:
        for name, key in v.items():
            if not API_KEY_NAME.match(name):
                raise ValueError(f"key name '{name}' must be 1 to 32 of a-z, 0-9 and _")
            if len(key.secret) < 16:
                raise ValueError(f"key '{name}': secret must be at least 16 characters (or set EXPORTER_TUI_API_KEY_{name.upper()})")
        return v


class Settings(_Section):
    identity: IdentitySettings = Field(default_factory=IdentitySettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    exports: ExportsSettings = Field(default_factory=ExportsSettings)
    source: SourceSettings = Field(default_factory=SourceSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    tui: TuiSettings = Field(default_factory=TuiSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)


# Environment variables that override secrets, so they need not sit in a file.
SECRET_ENV: dict[str, tuple[str, ...]] = {
    "EXPORTER_TUI_SMTP_PASSWORD": ("notify", "email", "password"),
    "EXPORTER_TUI_TELEGRAM_TOKEN": ("notify", "telegram", "token"),
    "EXPORTER_TUI_SLACK_WEBHOOK": ("notify", "slack", "default_url"),
    "EXPORTER_TUI_DISCORD_WEBHOOK": ("notify", "discord", "default_url"),
    "EXPORTER_TUI_READERS_TOKEN": ("source", "readers", "token"),
    "EXPORTER_TUI_API_SIGNING_KEY": ("api", "signing_key"),
}
API_KEY_ENV = "EXPORTER_TUI_API_KEY_"  # + the key's name in capitals: that key's secret


class ConfigError(ExporterError):
    """A config file that cannot be used; `errors` lists (path, reason) pairs."""

    exit_code = EXIT_INVALID

    def __init__(self, path: Path | None, errors: list[tuple[str, str]]):
        self.path = path
        self.errors = errors
        where = f"{path}: " if path else ""
        super().__init__(where + "; ".join(f"{p}: {r}" for p, r in errors))

    def text(self) -> str:
        return f"bad config {self.path}:\n" + "\n".join(f"  {p}: {r}" for p, r in self.errors)

    def body(self) -> dict:
        return {"detail": f"bad config {self.path}", "validationErrors": [{"path": p, "reason": r} for p, r in self.errors]}


@dataclass(frozen=True)
class Paths:
    """Where everything lives. `home` is None when the platform dirs are used."""

    home: Path | None
    config_file: Path
    data_dir: Path
    database: Path
    source_db: Path
    exports_dir: Path


def resolve_paths(home: str | os.PathLike[str] | None, config: str | os.PathLike[str] | None, settings: Settings | None = None) -> Paths:
    home = home or os.environ.get("EXPORTER_TUI_HOME") or None
    config = config or os.environ.get("EXPORTER_TUI_CONFIG") or None
    if home is not None:
        h = Path(home).expanduser().absolute()
        data_dir = h
        config_file = Path(config).expanduser().absolute() if config else h / "config.toml"
    else:
        h = None
        data_dir = Path(platformdirs.user_data_dir(APP_NAME))
        config_file = Path(config).expanduser().absolute() if config else Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"
    exports = Path((settings or Settings()).exports.dir).expanduser()
    if not exports.is_absolute():
        exports = data_dir / exports
    return Paths(
        home=h,
        config_file=config_file,
        data_dir=data_dir,
        database=data_dir / "exporter.db",
        source_db=data_dir / "source.db",
        exports_dir=exports,
    )


def load_settings(path: Path, environ: dict[str, str] | None = None) -> Settings:
    """Read and validate the config file; a missing file gives the defaults."""
    env = os.environ if environ is None else environ
    data: dict = {}
    if path.exists():
        try:
            raw = path.read_bytes()
            data = tomllib.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as e:
            raise ConfigError(path, [("(file)", f"not UTF-8 text: {e.reason} at byte {e.start}")]) from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(path, [("(file)", f"not valid TOML: {e}")]) from None
        except RecursionError:
            raise ConfigError(path, [("(file)", "not usable TOML: arrays or tables nested too deeply")]) from None
        except OSError as e:
            raise ConfigError(path, [("(file)", f"cannot be read: {e.strerror}")]) from None
    for var, (a, b, *rest) in SECRET_ENV.items():
        if env.get(var):
            node = data.setdefault(a, {})
            if not isinstance(node, dict):
                continue
            node = node.setdefault(b, {}) if rest else node
            if isinstance(node, dict):
                node[rest[0] if rest else b] = env[var]
    _api_key_secrets(data, env)
    try:
        return Settings.model_validate(data)
    except ValidationError as e:
        errors = [(".".join(str(p) for p in err["loc"]) or "(file)", _reason(err)) for err in e.errors()]
        raise ConfigError(path, errors) from None


def _api_key_secrets(data: dict, env: Mapping[str, str]) -> None:
    """EXPORTER_TUI_API_KEY_<NAME> sets the secret of the key [api.keys.<name>] the file declares."""
    keys = data.get("api", {}).get("keys") if isinstance(data.get("api"), dict) else None
    if not isinstance(keys, dict):
        return
    for name, key in keys.items():
        value = env.get(API_KEY_ENV + str(name).upper())
        if value and isinstance(key, dict):
            key["secret"] = value


def _reason(err: ErrorDetails) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown setting"
    if str(err["loc"][-1]).endswith("_mode") and err["type"] in ("less_than_equal", "greater_than_equal"):
        return "must be a permission mode from 0o000 to 0o777 (e.g. 0o640)"
    if err["loc"][-2:] == ("readers", "page_size") and err["type"] == "less_than_equal":
        return f'must be at most {READERS_MAX_LIMIT}: the readers service refuses a larger limit (400 "invalid limit size")'
    return err["msg"]


def config_is_world_readable(path: Path) -> bool:
    try:
        return bool(path.stat().st_mode & 0o077)
    except OSError:
        return False


def secret_values(settings: Settings) -> list[str]:
    """Every secret the settings hold: the one list that masking and redaction both read.

    The fields of SECRET_ENV, the named webhook URLs and the API keys' secrets."""
    out = [url for hook in (settings.notify.slack, settings.notify.discord) for url in hook.webhooks.values() if url]
    out += [key.secret for key in settings.api.keys.values() if key.secret]
    for path in SECRET_ENV.values():
        node: object = settings
        for part in path:
            node = getattr(node, part)
        if isinstance(node, str) and node:
            out.append(node)
    return out


def notify_secret_values(notify: NotifySettings) -> list[str]:
    """The secrets of the notify settings alone (what a notifier holds)."""
    return secret_values(Settings(notify=notify))


def redacted(settings: Settings) -> dict:
    """The settings as a dict with every secret replaced by '***'."""
    secrets = set(secret_values(settings))

    def hide(node: dict) -> dict:
        return {k: hide(v) if isinstance(v, dict) else "***" if isinstance(v, str) and v in secrets else v for k, v in node.items()}

    return hide(settings.model_dump())
