"""Settings: the example file documents every setting with its default; lookup order; secrets from the environment."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from exporter_tui.config import ConfigError, Settings, load_settings, redacted, resolve_paths, secret_values

EXAMPLE = Path(__file__).parent.parent / "config.example.toml"


def keys(d: dict, prefix: str = "") -> set[str]:
    out = set()
    for k, v in d.items():
        if isinstance(v, dict) and k not in ("webhooks", "bindings"):
            out |= keys(v, f"{prefix}{k}.")
        else:
            out.add(prefix + k)
    return out


def test_the_example_documents_every_setting_with_its_default() -> None:
    example = tomllib.loads(EXAMPLE.read_text())
    defaults = Settings().model_dump()
    assert keys(example) == keys(defaults) - {"identity.user"}
    loaded = load_settings(EXAMPLE, environ={}).model_dump()
    loaded["identity"] = defaults["identity"]
    assert loaded == defaults


def test_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EXPORTER_TUI_HOME", raising=False)
    monkeypatch.delenv("EXPORTER_TUI_CONFIG", raising=False)
    h = tmp_path / "h"
    assert resolve_paths(h, None).config_file == h / "config.toml"
    assert resolve_paths(h, tmp_path / "other.toml").config_file == tmp_path / "other.toml"
    monkeypatch.setenv("EXPORTER_TUI_CONFIG", str(tmp_path / "env.toml"))
    assert resolve_paths(h, None).config_file == tmp_path / "env.toml"
    monkeypatch.setenv("EXPORTER_TUI_HOME", str(tmp_path / "envhome"))
    p = resolve_paths(None, None)
    assert (p.database, p.source_db) == (tmp_path / "envhome" / "exporter.db", tmp_path / "envhome" / "source.db")


def test_relative_exports_dir_resolves_against_home(tmp_path: Path) -> None:
    s = Settings.model_validate({"exports": {"dir": "out/files"}})
    assert resolve_paths(tmp_path, None, s).exports_dir == tmp_path / "out" / "files"
    s = Settings.model_validate({"exports": {"dir": str(tmp_path / "abs")}})
    assert resolve_paths(tmp_path / "h", None, s).exports_dir == tmp_path / "abs"


def test_secrets_come_from_the_environment_and_are_redacted(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[notify.telegram]\ntoken = "file-token"\n[notify.slack.webhooks]\nops = "http://127.0.0.1:1/hook-secret"\n')
    s = load_settings(cfg, environ={"EXPORTER_TUI_TELEGRAM_TOKEN": "env-token", "EXPORTER_TUI_SMTP_PASSWORD": "pw-1"})
    assert s.notify.telegram.token == "env-token" and s.notify.email.password == "pw-1"
    assert set(secret_values(s)) == {"env-token", "pw-1", "http://127.0.0.1:1/hook-secret"}
    text = repr(redacted(s))
    assert "env-token" not in text and "pw-1" not in text and "hook-secret" not in text


def test_bad_values_name_the_setting(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[scheduler]\nmax_catchup = "P0D"\n[exports]\nexcel_max_rows = 2000000\n')
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, environ={})
    paths = [p for p, _ in info.value.errors]
    assert sorted(paths) == ["exports.excel_max_rows", "scheduler.max_catchup"]
    assert any("zero" in r for _, r in info.value.errors)


@pytest.mark.parametrize(
    ("line", "path", "says"),
    [
        (
            "page_size = 1001",
            "source.readers.page_size",
            'at most 1000: the readers service refuses a larger limit (400 "invalid limit size")',
        ),
        ("page_size = 0", "source.readers.page_size", "greater than or equal to 1"),
        ('api = "magistrala-0.16"', "source.readers.api", "'auto', 'mainflux', 'magistrala-0.14' or 'magistrala'"),
        ('auth = "basic"', "source.readers.auth", "'bearer', 'thing', 'client' or 'key'"),
        ('domain = "a/b"', "source.readers.domain", "one path segment"),
        ('pushdown = "yes"', "source.readers.pushdown", "'auto', 'on' or 'off'"),
    ],
)
def test_bad_readers_settings_are_refused_naming_the_setting(tmp_path: Path, line: str, path: str, says: str) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[source]\nkind = "readers"\n[source.readers]\n{line}\n')
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, environ={})
    assert [p for p, _ in info.value.errors] == [path]
    assert says in info.value.errors[0][1]
