"""Shared fixtures: a private home folder per test and an in-process CLI runner."""

from __future__ import annotations

import copy
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from exporter_tui.cli.main import main

FIXTURES = Path(__file__).parent / "fixtures"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--full", action="store_true", default=False, help="run the reliability suites at full size")


@pytest.fixture(scope="session")
def pg_cluster() -> Any:
    """A throw-away PostgreSQL cluster for the session (one per xdist worker). Skipped, saying
    why, only outside CI: in CI (CI=true) a cluster that cannot start fails the tests."""
    import os

    from pg import PgCluster, PgUnavailable

    try:
        import psycopg  # noqa: F401  (the tests' client; in the test extra)

        cluster = PgCluster().start()
    except (PgUnavailable, ImportError) as e:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"PostgreSQL is needed in CI and cannot start: {e}")
        pytest.skip(f"PostgreSQL cannot start here: {e}")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def full_size(request: pytest.FixtureRequest) -> bool:
    import os

    return bool(request.config.getoption("--full")) or os.environ.get("EXPORTER_TUI_FULL") == "1"


def seed_body(name: str = "1.1") -> dict[str, Any]:
    return json.loads((FIXTURES / f"connhex-{name}-example.json").read_text())


@pytest.fixture
def seed11() -> dict[str, Any]:
    return copy.deepcopy(seed_body("1.1"))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    (h / "config.toml").write_text('[identity]\nuser = "tester"\n')
    for var in ("EXPORTER_TUI_HOME", "EXPORTER_TUI_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    return h


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def cli(home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    """Run `exporter-tui --home HOME ARGS...` in this process; `stdin` feeds `-`."""

    def run(*args: str, stdin: str | None = None, home_dir: Path | None = None) -> CliResult:
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode("utf-8")), encoding="utf-8"))
        capsys.readouterr()
        code = main(["--home", str(home_dir or home), *args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
