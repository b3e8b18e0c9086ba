"""Faults from outside: a damaged or newer database, a broken config, a full disk, a
read-only exports folder, a readers API that misbehaves.

Whatever happens: a clear message or a failed run with its reason, never a traceback or a
hang; files are left as they were; no partial export file stays behind; a failed run can
be retried and then ends whole (its file matches its manifest's sha256).

Read-only folders when the tests run as root (chmod does not stop root): the folder gets
the ext4 immutable attribute (FS_IOC_SETFLAGS), which stops root too; where the file system
has no such attribute, only the "exports is a file" case runs. Full disk: a subprocess
with RLIMIT_FSIZE and SIGXFSZ ignored, so writes past the limit fail with EFBIG.
"""

from __future__ import annotations

import array
import contextlib
import errno
import fcntl
import json
import os
import random
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pipeline_helpers import CH, T0, body, item, reading
from readers_server import ReadersServer
from reliability_report import report

from exporter_tui.cli.main import main
from exporter_tui.pipeline.files import MANIFEST_SUFFIX, sha256_of
from exporter_tui.sources.embedded import write_readings
from exporter_tui.store.schema import SCHEMA_VERSION

pytestmark = pytest.mark.slow  # a CLI process per fault

REPO = Path(__file__).resolve().parent.parent
CHILD_TIMEOUT = 120  # seconds: a hang fails the test instead of stalling it

# Runs `main(argv)` with a file size limit; SIGXFSZ ignored so a write past it raises EFBIG.
# The limit holds for every file, exporter.db's WAL too, which grows with each progress write
# (one every PROGRESS_EVERY s, so more of them the slower a loaded machine runs the export):
# progress is written only at a run's end here, so the limit cuts the export files, never
# the record of how their run ended.
LIMITED_CHILD = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
if int(sys.argv[1]):
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), int(sys.argv[1])))
    import exporter_tui.service.attempt
    exporter_tui.service.attempt.PROGRESS_EVERY = float("inf")
from exporter_tui.cli.main import main
sys.exit(main(sys.argv[2:]))
"""


class Result:
    def __init__(self, code: int, out: str, err: str):
        self.code, self.out, self.err = code, out, err

    def json(self) -> Any:
        return json.loads(self.out)


def exporter(home: Path, *args: str, limit: int = 0, env: dict[str, str] | None = None) -> Result:
    """`exporter-tui --home HOME ARGS` in a new process (optionally with a file size limit)."""
    proc = subprocess.run(
        [sys.executable, "-c", LIMITED_CHILD, str(limit), "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def make_home(root: Path, config: str = "") -> Path:
    home = root / "home"
    home.mkdir(mode=0o700)
    cfg = home / "config.toml"
    cfg.write_text('[identity]\nuser = "tester"\n' + config)
    cfg.chmod(0o600)
    return home


def inproc(capsys: pytest.CaptureFixture[str], home: Path, *args: str) -> Result:
    capsys.readouterr()
    code = main(["--home", str(home), *args])
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def create_request(capsys: pytest.CaptureFixture[str], home: Path, b: dict[str, Any]) -> str:
    path = home.parent / "body.json"
    path.write_text(json.dumps(b))
    r = inproc(capsys, home, "requests", "create", str(path))
    assert r.code == 0, r.err
    return r.json()["id"]


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def assert_whole(run: dict[str, Any]) -> None:
    """A done run's file is under its final name and matches its manifest."""
    assert run["status"] == "done", run
    data = Path(run["filePath"])
    manifest = json.loads(data.with_name(data.name + MANIFEST_SUFFIX).read_text())
    assert manifest["sha256"] == sha256_of(data) and manifest["bytes"] == data.stat().st_size and manifest["run"] == run["id"]


def assert_nothing_left(folder: Path) -> None:
    """No file at all (no temporary, no final name, no manifest) in a request's folder."""
    assert files_under(folder) == [], files_under(folder)


# --- a damaged or newer database ------------------------------------------------------------


def _garbage(db: Path) -> None:
    db.write_bytes(random.Random(1).randbytes(db.stat().st_size))


def _header(db: Path) -> None:
    data = bytearray(db.read_bytes())
    data[:16] = b"not a database!!"
    db.write_bytes(bytes(data))


def _pages(db: Path) -> None:
    """Every page but the first (header and schema) overwritten: the file opens, every read fails."""
    data = bytearray(db.read_bytes())
    noise = random.Random(2).randbytes(len(data) - 4096)
    data[4096:] = noise
    db.write_bytes(bytes(data))


def _truncated(db: Path) -> None:
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 3])


def _newer(db: Path) -> None:
    con = sqlite3.connect(db)
    con.execute("PRAGMA user_version = 99")
    con.close()


def _foreign(db: Path) -> None:
    db.unlink()
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, jpeg BLOB)")
    con.execute("INSERT INTO photos (jpeg) VALUES (x'ffd8ffe0')")
    con.commit()
    con.close()


DAMAGE = {
    "garbage": (_garbage, "not a usable exporter-tui database (file is not a database)"),
    "header": (_header, "not a usable exporter-tui database (file is not a database)"),
    "pages": (_pages, "the database cannot be used (database disk image is malformed)"),
    "truncated": (_truncated, "database disk image is malformed"),
    "newer": (_newer, f"the database has schema version 99, newer than this app's {SCHEMA_VERSION}; upgrade exporter-tui"),
    "foreign": (_foreign, "this SQLite file is not an exporter-tui database"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_or_newer_database_stops_every_command_and_is_left_as_it_was(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str, full_size: bool
) -> None:
    home = make_home(tmp_path)
    write_readings(home / "source.db", [reading("urn:t", T0 + i, i) for i in range(10)])
    rid = create_request(capsys, home, body([item("urn:t", **{"from": T0, "to": T0 + 10})]))
    (home.parent / "again.json").write_text(json.dumps(body([item("urn:t", **{"from": T0, "to": T0 + 10})])))
    db = home / "exporter.db"
    hurt, message = DAMAGE[damage]
    hurt(db)
    before = db.read_bytes()
    commands = [
        ("requests", "list"),
        ("requests", "show", rid),
        ("requests", "create", str(home.parent / "again.json")),
        ("requests", "delete", rid),
        ("runs",),
        ("run", rid),
        ("run-due",),
        ("audit",),
        ("requests", "list", "--json"),
    ]
    for args in commands:
        r = inproc(capsys, home, *args)
        assert r.code == 1, (args, r.code, r.out, r.err)
        assert r.err.startswith(f"error: {db}: ") and message in r.err, (args, r.err)
        assert "Traceback" not in r.err
        assert db.read_bytes() == before, f"{args} changed the database file"
        wal = Path(f"{db}-wal")
        assert not wal.exists() or wal.stat().st_size == 0, "a write was left pending in the WAL"
    assert files_under(home / "exports") == []
    report(f"faults-database-{damage}", full=full_size, commands=len(commands), exit_1=len(commands), changed=0)


BROKEN_CONFIGS = {
    "toml": (b"[identity\nuser = 'x'\n", "(file): not valid TOML"),
    "unknown": (b"[exports]\ndirr = 'x'\n", "exports.dirr: unknown setting"),
    "type": (b"[scheduler]\ntick = 'soon'\n", "scheduler.tick: Input should be a valid number"),
    "utf8": (b"[identity]\nuser = '\xff\xfe'\n", "(file): not UTF-8 text"),
    "range": (b"[notify]\nattempts = 0\n", "notify.attempts: Input should be greater than or equal to 1"),
}


@pytest.mark.parametrize("kind", sorted(BROKEN_CONFIGS))
def test_a_broken_config_stops_every_command_and_is_left_as_it_was(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, full_size: bool
) -> None:
    home = make_home(tmp_path)
    rid = create_request(capsys, home, body([item("urn:t", **{"from": T0, "to": T0 + 10})]))
    db_before = (home / "exporter.db").read_bytes()
    raw, message = BROKEN_CONFIGS[kind]
    cfg = home / "config.toml"
    cfg.write_bytes(raw)
    commands = [("requests", "list"), ("requests", "show", rid), ("run", rid), ("run-due",), ("runs",), ("sources", "list")]
    for args in commands:
        r = inproc(capsys, home, *args)
        assert r.code == 2 and r.err.startswith(f"error: bad config {cfg}:") and message in r.err, (args, r.err)
        assert cfg.read_bytes() == raw
    headless = exporter(home, "--headless")  # the service stops at once too, with the same reason
    assert headless.code == 2 and message in headless.err, headless.err
    assert cfg.read_bytes() == raw and (home / "exporter.db").read_bytes() == db_before
    report(f"faults-config-{kind}", full=full_size, commands=len(commands) + 1, exit_2=len(commands) + 1, changed=0)


def test_a_home_that_cannot_be_a_folder_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "home"
    blocker.write_text("a file where the home folder should be")
    capsys.readouterr()
    code = main(["--home", str(blocker / "inner"), "requests", "list"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: Not a directory") and "Traceback" not in err
    assert blocker.read_text() == "a file where the home folder should be"


# --- a full disk -----------------------------------------------------------------------------

FORMATS: list[tuple[str, dict[str, Any]]] = [
    ("csv", body([item("urn:a,urn:b", **{"from": T0, "to": T0 + 20_000})], "csv", timezone="utc")),
    ("xlsx", body([item("urn:a,urn:b", "A,B", outputFormat="wide", **{"from": T0, "to": T0 + 20_000})], "xlsx", timezone="utc")),
    ("json", body([item("urn:a", **{"from": T0, "to": T0 + 20_000})], "json", timezone="utc")),
    (
        "zip",
        body([item("urn:a", **{"from": T0, "to": T0 + 20_000}), item("urn:b", **{"from": T0, "to": T0 + 20_000})], "csv", timezone="utc"),
    ),
    ("pdf", body([item("urn:a", **{"from": T0, "to": T0 + 20_000})], "pdf", timezone="utc")),
]


def _runs(capsys: pytest.CaptureFixture[str], home: Path) -> dict[str, dict[str, Any]]:
    return {r["requestId"]: r for r in inproc(capsys, home, "runs", "--json", "--page-size", "100").json()["results"]}


def test_a_full_disk_fails_cleanly_and_the_run_is_retryable(tmp_path: Path, capsys: pytest.CaptureFixture[str], full_size: bool) -> None:
    home = make_home(tmp_path, "[scheduler.retry]\nattempts = 1\n")
    write_readings(home / "source.db", [reading(n, T0 + i, i * k) for n, k in (("urn:a", 1.0), ("urn:b", 0.5)) for i in range(20_000)])
    scratch = tmp_path / "tmp"  # TMPDIR of the limited process: writers' scratch files must go too
    scratch.mkdir()
    ids = {create_request(capsys, home, b): ext for ext, b in FORMATS}
    # Short: one limit that every format exceeds. Full: random limits, so each writer is cut at many points
    # (a format smaller than the limit simply succeeds: then its file must be whole).
    limits = [200_000] + ([random.Random(7).randrange(150_000, 2_500_000) for _ in range(7)] if full_size else [])
    faults = done_under_limit = 0
    for limit in limits:
        r = exporter(home, "run-due", "--json", limit=limit, env={"TMPDIR": str(scratch)})
        assert "Traceback" not in r.err, r.err
        assert r.code in (0, 1), r.err
        runs = _runs(capsys, home)
        for rid in ids:
            run = runs[rid]
            if run["status"] == "done":
                assert_whole(run)
                done_under_limit += 1
                continue
            assert run["status"] == "failed" and run["error"] == "cannot write the export file: File too large", run
            faults += 1
            assert_nothing_left(home / "exports" / rid)
            again = inproc(capsys, home, "runs", "retry", run["id"], "--json")
            assert again.code == 0 and again.json()["status"] == "notProcessed", again.err
        assert list(scratch.iterdir()) == [], "scratch files left in TMPDIR"
    final = exporter(home, "run-due", "--json")  # no limit: every retried run ends whole
    assert final.code == 0, final.err
    runs = _runs(capsys, home)
    for rid in ids:
        assert_whole(runs[rid])
        assert len([p for p in files_under(home / "exports" / rid) if not p.name.endswith(MANIFEST_SUFFIX)]) == 1
    assert faults >= len(FORMATS)
    report(
        "faults-full-disk",
        full=full_size,
        limits=len(limits),
        faults_injected=faults,
        done_under_limit=done_under_limit,
        runs_checked=faults + done_under_limit + len(ids),
        failures=0,
    )


# --- a read-only exports folder --------------------------------------------------------------

FS_IOC_GETFLAGS, FS_IOC_SETFLAGS, FS_IMMUTABLE_FL = 0x80086601, 0x40086602, 0x10


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[str]:
    """The folder refuses new files for this user: chmod 0500, or for root the immutable attribute."""
    if os.geteuid() != 0:
        folder.chmod(0o500)
        try:
            yield "Permission denied"
        finally:
            folder.chmod(0o700)
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        flags = array.array("i", [0])
        try:
            fcntl.ioctl(fd, FS_IOC_GETFLAGS, flags, True)
            flags[0] |= FS_IMMUTABLE_FL
            fcntl.ioctl(fd, FS_IOC_SETFLAGS, flags, True)
        except OSError as e:
            if e.errno in (errno.ENOTTY, errno.EOPNOTSUPP, errno.EPERM, errno.EINVAL):
                pytest.skip(f"running as root on a file system without the immutable attribute ({e.strerror})")
            raise
        try:
            yield "Operation not permitted"
        finally:
            flags[0] &= ~FS_IMMUTABLE_FL
            fcntl.ioctl(fd, FS_IOC_SETFLAGS, flags, True)
    finally:
        os.close(fd)


def test_a_read_only_request_folder_fails_the_run_cleanly_and_it_is_retryable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], full_size: bool
) -> None:
    home = make_home(tmp_path, "[scheduler.retry]\nattempts = 1\n")
    write_readings(home / "source.db", [reading("urn:a", T0 + i, i) for i in range(100)])
    rid = create_request(capsys, home, body([item("urn:a", **{"from": T0, "to": T0 + 100})], "xlsx"))
    folder = home / "exports" / rid
    folder.mkdir(parents=True, mode=0o700)
    with read_only(folder) as reason:
        r = inproc(capsys, home, "run-due", "--json")
        assert r.code == 1
        run = r.json()[0]
        assert run["status"] == "failed" and run["error"].startswith(f"cannot write the export file: {reason} ({folder}/."), run
        assert_nothing_left(folder)
        assert inproc(capsys, home, "runs", "retry", run["id"]).code == 0
    r = inproc(capsys, home, "run-due", "--json")
    assert r.code == 0 and [x["id"] for x in r.json()] == [run["id"]]
    assert_whole(r.json()[0])
    report("faults-read-only", full=full_size, mode="immutable" if os.geteuid() == 0 else "chmod 0500", faults_injected=1, runs_checked=2)


def test_an_exports_folder_that_is_a_file_fails_every_run_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], full_size: bool
) -> None:
    home = make_home(tmp_path, "[scheduler.retry]\nattempts = 1\n")
    write_readings(home / "source.db", [reading("urn:a", T0 + i, i) for i in range(100)])
    ids = [create_request(capsys, home, b) for _, b in FORMATS]
    exports = home / "exports"
    exports.rmdir()
    exports.write_bytes(b"in the way")
    r = inproc(capsys, home, "run-due", "--json")
    assert r.code == 1 and len(r.json()) == len(ids)
    for run in r.json():
        assert run["status"] == "failed" and run["error"] == f"cannot write the export file: Not a directory ({exports}/{run['requestId']})"
    assert exports.read_bytes() == b"in the way"
    exports.unlink()
    exports.mkdir(mode=0o700)
    for run in r.json():
        assert inproc(capsys, home, "runs", "retry", run["id"]).code == 0
    again = inproc(capsys, home, "run-due", "--json")
    assert again.code == 0 and len(again.json()) == len(ids)
    for run in again.json():
        assert_whole(run)
    report("faults-exports-is-a-file", full=full_size, faults_injected=len(ids), runs_checked=2 * len(ids), failures=0)


# --- a readers API that misbehaves -----------------------------------------------------------


class FaultAfter(ReadersServer):
    """Serves `after` requests by the contract, then plays `later` for every request."""

    def __init__(self, *args: Any, after: int, later: str, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.after, self.later = after, later

    def _log(self, target: str) -> str:
        fault = super()._log(target)
        with self._lock:
            seen = len(self.requests)
        return self.later if seen > self.after else fault


# mode -> (start mode, requests served before the fault or None, what the error says)
SOURCE_FAULTS: dict[str, tuple[str, int | None, str]] = {
    "garbage": ("garbage", None, "with something that is not JSON (text/html)"),
    "bad_shape": ("bad_shape", None, "with JSON of the wrong shape: 'messages' is a dict, not a list"),
    "cut": ("cut", None, "failed after 2 attempts: connection broken: RemoteProtocolError"),
    "slow": ("slow", None, "failed after 2 attempts: timed out after 0.5s"),
    "error500": ("error500", None, "failed after 2 attempts: 500 Internal Server Error"),
    "garbage_midway": ("ok", 4, "with something that is not JSON (text/html)"),
    "cut_midway": ("ok", 4, "failed after 2 attempts: connection broken: RemoteProtocolError"),
    "slow_midway": ("ok", 4, "failed after 2 attempts: timed out after 0.5s"),
    "bad_token": (
        "ok",
        None,
        "readers API refused GET /channels/" + CH + "/messages: 401 Unauthorized (check source.readers.token and source.readers.auth)",
    ),
    "closed_port": ("ok", None, "failed after 2 attempts: connection failed"),
}


def readers_config(url: str, token: str) -> str:
    return (
        f'[source]\nkind = "readers"\n[source.readers]\nurl = "{url}"\ntoken = "{token}"\n'
        "timeout = 0.5\nretries = 1\nbackoff = 0\npage_size = 100\n"
    )


def test_a_bad_source_fails_the_run_with_its_reason_and_never_hangs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], full_size: bool
) -> None:
    rows = [{**reading(n, T0 + i, float(i)), "publisher": "dev-1"} for n in ("urn:a", "urn:b") for i in range(1000)]
    exts = ["csv", "xlsx", "json", "pdf"] if full_size else ["csv"]
    checked = faults = 0
    for mode, (start, after, says) in SOURCE_FAULTS.items():
        root = tmp_path / mode
        root.mkdir()
        later = mode.removesuffix("_midway")
        server = FaultAfter.from_rows(
            rows, root / "readers.db", token="tok-1", slow_seconds=20, mode=start, after=after or 10**9, later=later
        )
        with server:
            url = server.url
            if mode == "closed_port":
                from http_capture import closed_port_url

                url = closed_port_url()
            home = make_home(root, readers_config(url, "wrong" if mode == "bad_token" else "tok-1"))
            for ext in exts:
                b = body([item("urn:a,urn:b", **{"from": T0, "to": T0 + 1000})], ext, timezone="utc")
                rid = create_request(capsys, home, b)
                server.requests.clear()
                r = exporter(home, "run", rid, "--json")
                faults += 1
                assert r.code == 1, (mode, r.code, r.err)
                run = r.json()
                assert run["status"] == "failed" and run["error"].startswith("source failed: ") and says in run["error"], (
                    mode,
                    run["error"],
                )
                assert "tok-1" not in r.out + r.err
                if after is not None:
                    assert server.request_count > after, "the fault was meant to come midway"
                assert_nothing_left(home / "exports" / rid)
                checked += 1
            if mode not in ("bad_token", "closed_port"):  # the source is well again: the same request runs whole
                server.after, server.mode = 10**9, "ok"
                ok = inproc(capsys, home, "run", rid, "--json")
                assert ok.code == 0, ok.out
                assert_whole(ok.json())
                assert ok.json()["rows"] == 2000
                checked += 1
    flaky_root = tmp_path / "flaky"
    flaky_root.mkdir()
    with ReadersServer.from_rows(rows, flaky_root / "readers.db", token="tok-1", mode="flaky", flaky_failures=1) as server:
        home = make_home(flaky_root, readers_config(server.url, "tok-1"))
        rid = create_request(capsys, home, body([item("urn:a", **{"from": T0, "to": T0 + 1000})], "csv"))
        r = exporter(home, "run", rid, "--json")
        assert r.code == 0, r.err  # one 503 is within the retries
        assert_whole(r.json())
        faults, checked = faults + 1, checked + 1
    report("faults-source", full=full_size, modes=len(SOURCE_FAULTS) + 1, faults_injected=faults, runs_checked=checked, hangs=0, failures=0)


def test_every_reading_of_the_source_is_in_the_recovered_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """After a midway fault and a good re-run, the file holds every reading exactly once."""
    rows = [reading("urn:a", T0 + i, float(i)) for i in range(250)]
    with FaultAfter.from_rows(rows, tmp_path / "readers.db", token="t", after=2, later="error500") as server:
        home = make_home(tmp_path, readers_config(server.url, "t"))
        rid = create_request(capsys, home, body([item("urn:a", **{"from": T0, "to": T0 + 250})], "csv", columns=[("value", "v")]))
        assert inproc(capsys, home, "run", rid, "--json").json()["status"] == "failed"
        server.after = 10**9
        ok = inproc(capsys, home, "run", rid, "--json").json()
    assert_whole(ok)
    lines = Path(ok["filePath"]).read_text().splitlines()
    assert lines == ["v"] + [repr(float(i)) for i in range(250)]
