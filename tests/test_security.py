"""Security: nothing is written outside the exports folder, spreadsheets cannot run what the
data says, secrets stay in the config, files are private, SQL is only ever data.

- File names and labels: path traversal, absolute paths, device names and control characters
  in format.filename, items[].filename, target names and labels are refused by validation or
  made safe; after real runs every file under the test's folder is where it belongs.
- Injection: text starting with = + - @ tab or CR gets a leading apostrophe in CSV and Excel
  cells and headers (numbers stay numbers); JSON keeps the text as it is.
- Secrets: SMTP password, bot token, webhook URLs and the readers token never reach the
  database (WAL included), the manifests, the export files, the outputs or the logs; nor do
  the API's key secrets and signing key, in `serve`'s logs and answers included.
- Permissions: database and export files 0600, folders 0700 (or the config's modes), with
  the umask out of the way; one warning when the config file is readable by others.
- Parameterised queries: quotes, SQL and LIKE wildcards in names come back unchanged.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import random
import signal
import stat
import subprocess
import sys
import time
import unicodedata
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from http_capture import Captured, CaptureServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pipeline_helpers import T0, body, create, fill, item, reading, run
from readers_server import ReadersServer
from reliability_report import report

from exporter_tui.cli.main import main
from exporter_tui.pipeline.files import MANIFEST_SUFFIX, sha256_of
from exporter_tui.store.store import Store

REPO = Path(__file__).resolve().parent.parent


def write_body(tmp_path: Path, b: Any, name: str = "b.json") -> str:
    folder = tmp_path / "bodies"
    folder.mkdir(exist_ok=True)
    p = folder / name
    p.write_text(json.dumps(b))
    return str(p)


def one_item(**over: Any) -> dict[str, Any]:
    return body([item("urn:t", **{"from": T0, "to": T0 + 60})], **over)


# --- file names and labels -------------------------------------------------------------------

BAD_FILENAMES = [
    "../escape",
    "/etc/passwd",
    "a/b",
    "a\\b",
    "..",
    "..x",
    "CON",
    "nul.csv",
    "lpt1",
    "Com3.txt",
    "a\x00b",
    "a\nb",
    "tab\there",
    "C:x",
    ".hidden",
    "trailing.",
    " lead",
    "x" * 121,
    "\u202eevil",
    "zero\u200bwidth",
    "a|b",
    "a*b",
    "q?",
    "<x>",
    '"q"',
    "",
    "  ",
]


@pytest.mark.parametrize("name", BAD_FILENAMES, ids=[repr(n)[:20] for n in BAD_FILENAMES])
def test_unsafe_file_names_are_refused_naming_the_field(cli, tmp_path: Path, name: str) -> None:
    b = one_item(filename=name)
    b["items"][0]["filename"] = name
    r = cli("requests", "create", write_body(tmp_path, b), "--json")
    assert r.code == 2
    paths = {e["path"] for e in r.json()["validationErrors"]}
    assert paths == {"format.filename", "items[0].filename"}, r.json()
    assert cli("requests", "list", "--json").json()["total"] == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("value", "urn:\x00t"),
        ("value", "urn:t\n"),
        ("value", "\u202eurn"),
        ("value", "urn\x1b[31m"),
        ("label", "lab\rel"),
        ("label", "\u2028"),
        ("label", "a\u200bb"),
    ],
)
def test_control_characters_in_target_names_and_labels_are_refused(cli, tmp_path: Path, field: str, value: str) -> None:
    b = one_item()
    b["items"][0]["params"]["target"][field] = value
    r = cli("requests", "create", write_body(tmp_path, b), "--json")
    assert r.code == 2
    assert r.json()["validationErrors"] == [{"path": f"items[0].params.target.{field}", "reason": "must not contain control characters"}]


# Names and labels validation lets through (no control characters): each must be made safe.
TRAVERSAL = ["../../../etc/passwd", "/abs/olute", "..\\..\\win", "CON", "nul", ".hidden", "a:b*c?d", "<>|\"'", "sheet[1]", "History"]


def test_traversal_in_names_and_labels_never_leaves_the_request_folder(cli, home: Path, tmp_path: Path) -> None:
    fill(home, [reading(n, T0 + i, float(i)) for n in TRAVERSAL for i in range(3)])
    w = {"from": T0, "to": T0 + 60}
    requests = {
        # several CSV items: one zip, entries named from the labels, then the names
        "zip-labels": body([item(n, f"../{n}", **w) for n in TRAVERSAL[:5]], "csv"),
        "zip-names": body([item(n, **w) for n in TRAVERSAL], "csv"),
        "json-zip": body([item(n, **w) for n in TRAVERSAL[:4]], "json"),
        "xlsx-sheets": body([item(n, f"/x/{n}", **w) for n in TRAVERSAL], "xlsx"),
        "pdf": body([item(n, **w) for n in TRAVERSAL[:3]], "pdf"),
        "wide": body([item(",".join(TRAVERSAL[:4]), ",".join(f"..{i}/up" for i in range(4)), outputFormat="wide", **w)], "xlsx"),
    }
    ids: dict[str, str] = {}
    for key, b in requests.items():
        rid = cli("requests", "create", write_body(tmp_path, b, f"{key}.json"), "--json").json()["id"]
        ids[key] = rid
        out = run(cli, rid)
        assert out["_code"] == 0 and out["status"] == "done", out
    exports = (home / "exports").resolve()
    allowed_home = {"config.toml", "exporter.db", "exporter.db-wal", "exporter.db-shm", "source.db", "source.db-wal", "source.db-shm"}
    written = 0
    for p in tmp_path.rglob("*"):
        if p.is_dir() or p.parent == tmp_path / "bodies":
            continue
        rel = p.resolve().relative_to(tmp_path.resolve())
        if rel.parts[0] == "home" and len(rel.parts) == 2:
            assert rel.parts[1] in allowed_home, rel
            continue
        written += 1
        assert p.resolve().parent.parent == exports and p.resolve().parent.name in ids.values(), f"written outside its folder: {rel}"
        assert not p.name.startswith("."), f"a temporary file was left: {rel}"
    assert written == 2 * len(requests)  # each run: one data file and its manifest

    def zip_names(key: str) -> list[str]:
        path = Path(cli("runs", "--request", ids[key], "--json").json()["results"][0]["filePath"])
        with zipfile.ZipFile(path) as z:
            return z.namelist()

    # Computed by hand: each run of separators, : * ? " < > | and control characters becomes _, then
    # each '..' becomes _, leading and trailing dots and spaces go, device names get a prefix.
    assert zip_names("zip-labels") == ["________etc_passwd.csv", "__abs_olute.csv", "______win.csv", "__CON.csv", "__nul.csv"]
    assert zip_names("zip-names") == [
        "______etc_passwd.csv",
        "_abs_olute.csv",
        "____win.csv",
        "export_CON.csv",
        "export_nul.csv",
        "hidden.csv",
        "a_b_c_d.csv",
        "_'.csv",
        "sheet[1].csv",
        "History.csv",
    ]
    assert zip_names("json-zip") == ["______etc_passwd.json", "_abs_olute.json", "____win.json", "export_CON.json"]
    for key in ("zip-labels", "zip-names", "json-zip"):
        for name in zip_names(key):
            assert "/" not in name and "\\" not in name and ".." not in name and not name.startswith(".")
            assert not any(unicodedata.category(c) == "Cc" for c in name)

    def sheets(key: str) -> list[str]:
        path = Path(cli("runs", "--request", ids[key], "--json").json()["results"][0]["filePath"])
        return openpyxl.load_workbook(path, read_only=True).sheetnames

    # Excel's rules: at most 31 characters, none of []:*?/\, no apostrophe at either end, unique ignoring case.
    assert sheets("xlsx-sheets") == [
        "_x_.._.._.._etc_passwd",
        "_x__abs_olute",
        "_x_.._.._win",
        "_x_CON",
        "_x_nul",
        "_x_.hidden",
        "_x_a_b_c_d",
        '_x_<>|"',
        "_x_sheet_1_",
        "_x_History",
    ]
    assert sheets("wide") == ["..0_up and 3 more"]


NAME_PARTS = [
    "..",
    "/",
    "\\",
    ":",
    "*",
    "?",
    '"',
    "<",
    ">",
    "|",
    "'",
    "[",
    "]",
    ".",
    " ",
    "CON",
    "nul",
    "COM1",
    "LPT9",
    "History",
    "😀",
    "e\u0301",
    "%",
    "_",
    "=",
    "ﷺ",
    "/etc/passwd",
    "C:\\",
    "\x00",
]
# Control characters (refused: tested above) are rare, so most names pass validation and get run.
odd_names = st.lists(
    st.one_of(st.sampled_from(NAME_PARTS), st.characters(exclude_categories=("Cc", "Cf", "Cs", "Zl", "Zp"), exclude_characters=",")),
    min_size=1,
    max_size=12,
).map("".join)


def test_random_names_and_labels_stay_in_the_request_folder(cli, home: Path, tmp_path: Path, full_size: bool) -> None:
    """Hypothesis names, labels and file names: refused naming the field, or run into files that
    stay in exports/<request-id>/ with safe zip entry names and legal sheet names."""
    tally = {"requests": 0, "refused": 0, "runs": 0, "entries": 0, "sheets": 0}
    ids: set[str] = set()
    with (home / "config.toml").open("a") as cfg:  # every oneTime request queues a run: room for all of them
        cfg.write("[limits]\nmax_queued_runs = 1000000\n")
    clock = iter(range(10**9))

    @settings(max_examples=300 if full_size else 20, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(
        st.lists(st.tuples(odd_names, st.one_of(st.none(), odd_names)), min_size=2, max_size=4),
        st.sampled_from(["csv", "json", "xlsx", "pdf"]),
        st.one_of(st.none(), st.none(), odd_names),
    )
    def check(targets: list[tuple[str, str | None]], ext: str, filename: str | None) -> None:
        tally["requests"] += 1
        t0 = T0 + 10 * next(clock)
        w = {"from": t0, "to": t0 + 10}
        b = body([item(n, lab, **w) for n, lab in targets], ext, timezone="utc")
        if filename is not None:
            b["format"]["filename"] = filename
        r = cli("requests", "create", write_body(tmp_path, b), "--json")
        if r.code == 2:
            tally["refused"] += 1
            fields = {"format.filename"} | {f"items[{i}].params.target.{k}" for i in range(len(targets)) for k in ("value", "label")}
            assert {e["path"] for e in r.json()["validationErrors"]} <= fields, r.json()
            return
        assert r.code == 0, r.err
        rid = r.json()["id"]
        ids.add(rid)
        fill(home, [reading(n.strip(), t0 + 1, 1.0) for n, _ in targets])
        out = run(cli, rid)
        assert out["_code"] == 0, out
        tally["runs"] += 1
        path = Path(out["filePath"]).resolve()
        assert path.parent == (home / "exports" / rid).resolve() and not path.name.startswith(".")
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as z:
                for name in z.namelist():
                    tally["entries"] += 1
                    assert name and "/" not in name and "\\" not in name and ".." not in name and not name.startswith((".", " "))
                    assert not any(unicodedata.category(c) in ("Cc", "Cf") for c in name), name
        if path.suffix == ".xlsx":
            for sheet in openpyxl.load_workbook(path, read_only=True).sheetnames:
                tally["sheets"] += 1
                assert 0 < len(sheet.encode("utf-16-le")) // 2 <= 31 and not any(c in sheet for c in "[]:*?/\\"), sheet
                assert not sheet.startswith("'") and not sheet.endswith("'")

    check()
    exports = (home / "exports").resolve()
    for p in tmp_path.rglob("*"):
        if p.is_file() and p.parent != tmp_path / "bodies" and p.parent != home:
            assert p.resolve().parent.parent == exports and p.resolve().parent.name in ids, p
            assert not p.name.startswith("."), f"a temporary file was left: {p}"
    report("security-file-names", full=full_size, **tally, outside=0)
    assert tally["runs"] > 0 and tally["refused"] > 0


# --- formula injection -----------------------------------------------------------------------

TRIGGERS = ['=HYPERLINK("http://x","click")', "+1+2", "-3+4", "@SUM(A1:A2)", "\tTAB", "\rCR", "plain", "a=b", "'quoted"]


def injection_home(home: Path) -> None:
    rows = [
        {**reading("=cmd|' /C calc'!A0", T0 + i, None, unit="=1+1"), "string_value": text, "publisher": "+dev"}
        for i, text in enumerate(TRIGGERS)
    ]
    rows.append({**reading("=cmd|' /C calc'!A0", T0 + len(TRIGGERS), -5.5, unit="=1+1"), "publisher": "+dev"})
    fill(home, rows)


COLUMNS = [("time", "=time"), ("name", "+name"), ("value", "-value"), ("unit", "@unit"), ("publisher", "publisher")]


def test_formula_text_is_neutralised_in_every_csv_and_excel_cell(cli, home: Path, tmp_path: Path, full_size: bool) -> None:
    injection_home(home)
    w = {"from": T0, "to": T0 + 60}
    expected_values = ["'" + t if t[0] in "=+-@\t\r" else t for t in TRIGGERS]
    # CSV: read back with the csv module; every cell is checked.
    out = run(cli, create(cli, tmp_path, body([item("=cmd|' /C calc'!A0", **w)], "csv", COLUMNS, timezone="utc")))
    rows = list(csv.reader(io.StringIO(Path(out["filePath"]).read_bytes().decode("utf-8"), newline="")))  # keep a lone CR
    assert rows[0] == ["'=time", "'+name", "'-value", "'@unit", "publisher"]
    assert [r[1:] for r in rows[1:]] == [["'=cmd|' /C calc'!A0", v, "'=1+1", "'+dev"] for v in expected_values] + [
        ["'=cmd|' /C calc'!A0", "-5.5", "'=1+1", "'+dev"]
    ]
    assert all(r[0].startswith("2026-06-01T10:00:") for r in rows[1:])  # times untouched
    # Excel: every cell read back with openpyxl; a negative number stays a number.
    out = run(cli, create(cli, tmp_path, body([item("=cmd|' /C calc'!A0", "@label", **w)], "xlsx", COLUMNS, timezone="utc")))
    sheet = openpyxl.load_workbook(out["filePath"]).worksheets[0]
    cells = [[c.value for c in row] for row in sheet.iter_rows()]
    assert cells[0] == ["'=time (UTC)", "'+name", "'-value", "'@unit", "publisher"]
    # A CR is stored as OOXML's escape _x000D_ (Excel reads a CR; openpyxl leaves the escape).
    in_excel = [v.replace("\r", "_x000D_") for v in expected_values]
    assert [r[1:] for r in cells[1:]] == [["'@label", v, "'=1+1", "'+dev"] for v in in_excel] + [["'@label", -5.5, "'=1+1", "'+dev"]]
    formulas = [c for row in sheet.iter_rows() for c in row if c.data_type == "f"]
    assert formulas == []
    assert sheet.title == "@label"  # a sheet name is never evaluated
    # JSON is not for spreadsheets: the text is kept as it is.
    out = run(cli, create(cli, tmp_path, body([item("=cmd|' /C calc'!A0", **w)], "json", COLUMNS, timezone="utc")))
    records = json.loads(Path(out["filePath"]).read_text())
    assert [r["-value"] for r in records] == [*TRIGGERS, -5.5] and records[0]["+name"] == "=cmd|' /C calc'!A0"
    report("security-injection", full=full_size, csv_cells=sum(map(len, rows)), excel_cells=sum(map(len, cells)), unguarded=0)


def test_random_text_is_neutralised_exactly_when_it_could_run(cli, home: Path, tmp_path: Path, full_size: bool) -> None:
    """Many random texts (half of them starting with a trigger) through one CSV and one Excel
    run: each cell is the text, with an apostrophe in front exactly when it starts with = + - @ tab CR."""
    n = 5000 if full_size else 300
    rng = random.Random(n)
    pool = [chr(c) for c in range(0x20, 0x7F) if chr(c) != "_"] + list("éßΩжخ中😀\u00a0\u2003") + ["👨\u200d👩"]
    texts = [(rng.choice("=+-@\t\r") if rng.random() < 0.5 else "") + "".join(rng.choices(pool, k=rng.randint(1, 30))) for _ in range(n)]
    fill(home, [{**reading("urn:text", T0 + i, None), "string_value": t} for i, t in enumerate(texts)])
    w = {"from": T0, "to": T0 + n}
    expected = ["'" + t if t[0] in "=+-@\t\r" else t for t in texts]
    out = run(cli, create(cli, tmp_path, body([item("urn:text", **w)], "csv", [("value", "v")], timezone="utc")))
    rows = list(csv.reader(io.StringIO(Path(out["filePath"]).read_bytes().decode("utf-8"), newline="")))
    assert [r[0] for r in rows[1:]] == expected
    out = run(cli, create(cli, tmp_path, body([item("urn:text", **w)], "xlsx", [("value", "v")], timezone="utc")))
    sheet = openpyxl.load_workbook(out["filePath"], read_only=True).worksheets[0]
    cells = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert cells == [e.replace("\r", "_x000D_") for e in expected]
    guarded = sum(e != t for e, t in zip(expected, texts))
    report("security-injection-random", full=full_size, texts=n, guarded=guarded, cells_checked=2 * n, unguarded=0)
    assert 0 < guarded < n


# --- secrets ---------------------------------------------------------------------------------

SECRETS = {
    "smtp_cfg": "smtpCfgPw7Qx2vN",
    "smtp_env": "smtpEnvPw9Lm4kR",
    "tg_cfg": "123:tgCfgTok3Rt8",
    "tg_env": "456:tgEnvTok5Yu1",
    "slack_ops": "slackOpsHook8Kv1",
    "slack_env": "slackEnvHook5Pn6",
    "discord_cfg": "discordCfgHook2Bb7",
    "discord_env": "discordEnvHook2Zc9",
    "broken": "brokenHook4We7",
    "readers_cfg": "readersCfgTok1Aa1",
    "readers_env": "readersEnvTok6Hj3",
}


class _Smtp(Controller):
    def _trigger_server(self) -> None:  # ephemeral port: learn it before the readiness probe
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class Inbox:
    def __init__(self) -> None:
        self.raw: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.raw.append(envelope.content)
        return "250 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.login == b"robot" and data.password == SECRETS["smtp_env"].encode()
        return AuthResult(success=ok, handled=False)


@contextmanager
def smtp_server() -> Iterator[tuple[int, Inbox]]:
    inbox = Inbox()
    controller = _Smtp(inbox, hostname="127.0.0.1", port=0, authenticator=inbox.authenticate, auth_required=True, auth_require_tls=False)
    controller.start()
    try:
        yield controller.port, inbox
    finally:
        controller.stop()


def telegram_answer(captured: Captured) -> tuple[int, Any]:
    if isinstance(captured.json, dict) and captured.json.get("chat_id") == "chat-ok":
        return 200, {"ok": True, "result": {"message_id": 1}}
    # a server that echoes the token it was called with: the app must not pass it on
    return 401, {"ok": False, "description": f"Unauthorized: bot{SECRETS['tg_env']} may not write to this chat"}


def secrets_config(smtp_port: int, http: str, readers: str) -> str:
    s = SECRETS
    return f"""[identity]
user = "tester"
[source]
kind = "readers"
[source.readers]
url = "{readers}"
token = "{s["readers_cfg"]}"
timeout = 2
retries = 0
[scheduler]
tick = 0.2
[scheduler.retry]
attempts = 1
[notify]
timeout = 2
attempts = 2
backoff = 0
[notify.email]
host = "127.0.0.1"
port = {smtp_port}
username = "robot"
password = "{s["smtp_cfg"]}"
sender = "exporter@example.test"
default_to = "ops@example.test"
[notify.slack.webhooks]
ops = "{http}/slack/{s["slack_ops"]}"
broken = "{http}/broken/{s["broken"]}"
[notify.discord]
default_url = "{http}/discord/{s["discord_cfg"]}"
[notify.telegram]
api_base = "{http}"
token = "{s["tg_cfg"]}"
"""


SECRET_ENV = {
    "EXPORTER_TUI_SMTP_PASSWORD": SECRETS["smtp_env"],
    "EXPORTER_TUI_TELEGRAM_TOKEN": SECRETS["tg_env"],
    "EXPORTER_TUI_SLACK_WEBHOOK": "{http}/slack/" + SECRETS["slack_env"],
    "EXPORTER_TUI_DISCORD_WEBHOOK": "{http}/discord/" + SECRETS["discord_env"],
    "EXPORTER_TUI_READERS_TOKEN": SECRETS["readers_env"],
}

MESSAGES = [
    {"medium": "email", "title": "{status} {rows}", "text": "run {run_id}: {file_path} {error}"},
    {"medium": "email", "target": "second@example.test", "title": "t", "text": "{error}"},
    {"medium": "slack", "target": "ops", "title": "{status}", "text": "{error} {file_name}"},
    {"medium": "slack", "title": "default hook", "text": "{error}"},
    {"medium": "slack", "target": "broken", "title": "x", "text": "{error}"},
    {"medium": "discord", "title": "{status}", "text": "{error}"},
    {"medium": "telegram", "target": "chat-ok", "title": "{status}", "text": "{rows} {error}"},
    {"medium": "telegram", "target": "chat-bad", "title": "{status}", "text": "{error}"},
]


def notified_request(policy: str) -> dict[str, Any]:
    b = body([item("urn:a", **{"from": T0, "to": T0 + 600})], "csv", timezone="utc")
    b["notification"] = {"messages": [{**m, "policy": policy} for m in MESSAGES]}
    return b


class Collected:
    """Everything the app printed or logged, to be searched."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def add(self, *texts: str) -> None:
        self.texts.extend(texts)


class _ListHandler(logging.Handler):
    def __init__(self, sink: Collected):
        super().__init__(logging.DEBUG)
        self.sink = sink
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("mail.log"):  # the test's SMTP server, not the app
            return
        self.sink.add(self.format(record))


@pytest.mark.slow  # every command, the headless service among them, as processes
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_secrets_never_reach_the_database_logs_manifests_files_or_outputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, full_size: bool
) -> None:
    collected = Collected()
    handler = _ListHandler(collected)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)  # everything any library logs, as a user turning on debug logs would see it
    rows = [reading("urn:a", T0 + i * 60, float(i)) for i in range(10)]
    try:
        with (
            smtp_server() as (smtp_port, inbox),
            CaptureServer() as http,
            ReadersServer.from_rows(rows, tmp_path / "readers.db", token=SECRETS["readers_env"]) as readers,
        ):
            http.set(f"/bot{SECRETS['tg_env']}/sendMessage", handler=telegram_answer)
            http.set(f"/broken/{SECRETS['broken']}", status=404, body=f"no such hook: /broken/{SECRETS['broken']}")
            http.set(f"/discord/{SECRETS['discord_env']}", status=204, body=None)
            env = {k: v.replace("{http}", http.url) for k, v in SECRET_ENV.items()}
            for k, v in env.items():
                monkeypatch.setenv(k, v)
            home = tmp_path / "home"
            home.mkdir(mode=0o700)
            config = tmp_path / "config.toml"  # outside the home: everything under the home is the app's writing
            config.write_text(secrets_config(smtp_port, http.url, readers.url))
            config.chmod(0o600)

            def app(*args: str) -> dict[str, Any] | list[Any] | None:
                capsys.readouterr()
                code = main(["--home", str(home), "--config", str(config), *args])
                out, err = capsys.readouterr()
                collected.add(out, err)
                assert "Traceback" not in err
                return {"code": code, "out": out}

            def proc(*args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
                p = subprocess.run(
                    [sys.executable, "-m", "exporter_tui", "--home", str(home), "--config", str(config), *args],
                    capture_output=True,
                    text=True,
                    timeout=120,
                    cwd=REPO,
                    env={**os.environ, **env},
                    **kw,
                )
                collected.add(p.stdout, p.stderr)
                return p

            ok_id = json.loads(app("requests", "create", write_body(tmp_path, notified_request("onSuccess"), "ok.json"))["out"])["id"]
            bad_id = json.loads(app("requests", "create", write_body(tmp_path, notified_request("onFailure"), "bad.json"))["out"])["id"]
            for _ in range(5 if full_size else 1):  # full size: more runs that succeed and fail, each notifying
                done = json.loads(app("run", ok_id, "--json")["out"])
                assert done["status"] == "done", done
                readers.mode = "error500"
                failed = json.loads(app("run", bad_id, "--json")["out"])
                assert failed["status"] == "failed" and failed["error"].startswith("source failed:"), failed
                readers.mode = "ok"
            due = proc("run-due", "--json")  # the two scheduled oneTime runs, in a separate process
            assert due.returncode == 0, due.stderr
            for medium, target in (
                ("email", "x@example.test"),
                ("telegram", "chat-ok"),
                ("telegram", "chat-bad"),
                ("slack", "ops"),
                ("slack", "broken"),
                ("slack", "nope"),
                ("discord", ""),
            ):
                app("notify", "test", medium, target, "--json")
            for args in (
                ("requests", "list"),
                ("requests", "list", "--json"),
                ("requests", "show", ok_id, "--json"),
                ("requests", "export", bad_id),
                ("runs", "--json"),
                ("runs", "show", done["id"], "--json"),
                ("runs", "show", failed["id"]),
                ("audit", "--json"),
                ("sources", "list", "--json"),
            ):
                app(*args)
            # the headless service: its first line gives the settings in use; it runs a third request's run
            third = json.loads(app("requests", "create", write_body(tmp_path, notified_request("onSuccess"), "third.json"))["out"])["id"]
            headless = subprocess.Popen(
                [sys.executable, "-m", "exporter_tui", "--home", str(home), "--config", str(config), "--headless", "--log-format", "json"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=REPO,
                env={**os.environ, **env},
            )
            try:
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:  # until its run is done and every message has an outcome
                    runs = json.loads(app("runs", "--request", third, "--json")["out"])["results"]
                    if runs and runs[0]["status"] == "done":
                        shown = json.loads(app("runs", "show", runs[0]["id"], "--json")["out"])
                        if len(shown["notifications"]) == len(MESSAGES):
                            break
                    time.sleep(0.2)
                # while the service holds the database open: its WAL holds the latest writes
                live = {p: p.read_bytes() for p in home.rglob("*") if p.is_file()}
                headless.send_signal(signal.SIGTERM)
                out, err = headless.communicate(timeout=60)
            finally:
                if headless.poll() is None:
                    headless.kill()
            collected.add(out, err)
            assert headless.returncode == 0, err
            assert '"kind": "settings"' in out and runs[0]["status"] == "done"
            sent = {(n["medium"], n["status"]) for n in json.loads(app("runs", "show", done["id"], "--json")["out"])["notifications"]}
            assert ("email", "sent") in sent and ("slack", "failed") in sent and ("telegram", "failed") in sent
            assert inbox.raw and http.requests
            payloads = [json.dumps(r.json) for r in http.requests if r.json is not None] + [m.decode("utf-8", "replace") for m in inbox.raw]
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)

    home_bytes = {p: p.read_bytes() for p in home.rglob("*") if p.is_file()}
    assert any(p.name == "exporter.db" for p in home_bytes) and any(p.suffix == ".csv" for p in home_bytes)
    assert any(p.name.endswith(MANIFEST_SUFFIX) for p in home_bytes)
    assert any(p.name == "exporter.db-wal" and data for p, data in live.items())
    haystacks = {str(p.relative_to(tmp_path)): data for p, data in home_bytes.items()}
    haystacks |= {f"live {p.relative_to(tmp_path)}": data for p, data in live.items()}
    haystacks |= {f"output/log #{i}": t.encode("utf-8", "surrogateescape") for i, t in enumerate(collected.texts)}
    haystacks |= {f"payload #{i}": t.encode("utf-8") for i, t in enumerate(payloads)}
    leaks = [(where, name) for where, data in haystacks.items() for name, secret in SECRETS.items() if secret.encode() in data]
    searched = sum(map(len, haystacks.values()))
    report(
        "security-secrets",
        full=full_size,
        secrets=len(SECRETS),
        files=len(home_bytes) + len(live),
        outputs=len(collected.texts),
        payloads=len(payloads),
        bytes_searched=searched,
        leaks=len(leaks),
    )
    assert leaks == [], leaks
    # The search can find: the config file holds every configured secret.
    assert all(SECRETS[k].encode() in config.read_bytes() for k in ("smtp_cfg", "tg_cfg", "slack_ops", "broken", "readers_cfg"))


API_SECRETS = {
    "key_cfg": "apiKeyCfgSecret4Tq9Wz",
    "key_env": "apiKeyEnvSecret7Hd2Lp",
    "signing_env": "apiSigningEnvKey3Mx8Vr",
}


def test_api_key_secrets_never_reach_the_database_logs_files_or_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from api_server import free_port, wait_until
    from sched_fixtures import CHANNEL, SUBTOPIC, TARGET, seed, utc

    from exporter_tui.context import load_context

    s = API_SECRETS
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    config = tmp_path / "config.toml"  # outside the home: everything under the home is the app's writing
    actions = '["exporter:exports:create", "exporter:exports:list", "exporter:exports:update", "exporter:exports:download"]'
    config.write_text(
        f'[identity]\nuser = "tester"\n[scheduler]\ntick = 0.2\n'
        f'[api.keys.ops]\nsecret = "{s["key_cfg"]}"\nowner = "alice"\nactions = {actions}\n'
        f'[api.keys.ci]\nowner = "bob"\nactions = {actions}\n'
    )
    config.chmod(0o600)
    start, end = utc(2024, 1, 1), utc(2024, 1, 1, 6)
    monkeypatch.setenv("EXPORTER_TUI_API_KEY_CI", s["key_env"])
    seed(load_context(home, config), start, end)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("EXPORTER_TUI_")},
        "EXPORTER_TUI_API_KEY_CI": s["key_env"],
        "EXPORTER_TUI_API_SIGNING_KEY": s["signing_env"],
    }
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    serve = subprocess.Popen(
        [sys.executable, "-m", "exporter_tui", "--home", str(home), "--config", str(config), "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
    )
    answers: list[str] = []

    def call(c: Any, method: str, path: str, **kw: Any) -> Any:
        resp = c.request(method, path, **kw)
        answers.append(f"{resp.status_code} {dict(resp.headers)} {resp.text}")
        return resp

    body = {
        "type": "oneTime",
        "format": {"extension": "csv"},
        "items": [
            {
                "params": {
                    "target": {"value": TARGET},
                    "channelId": CHANNEL,
                    "subtopic": SUBTOPIC,
                    "from": start.timestamp(),
                    "to": end.timestamp(),
                }
            }
        ],
    }
    try:

        def health() -> Any:
            try:
                return httpx.get(f"{url}/health", timeout=2).json()
            except httpx.HTTPError:
                assert serve.poll() is None, serve.communicate(timeout=5)
                return None

        wait_until(lambda: (h := health()) and h["scheduler"] == "running in this process", timeout=60, what="serve to answer")
        for secret, scheme in ((s["key_cfg"], "Bearer"), (s["key_env"], "apiKey")):
            with httpx.Client(base_url=url, headers={"Authorization": f"{scheme} {secret}"}, timeout=10) as c:
                rid = call(c, "POST", "/exports", json=body).json()["id"]
                run = wait_until(
                    lambda rid=rid: (r := call(c, "GET", f"/exports/{rid}").json())["status"] == "done" and r, timeout=60, what="the run"
                )
                assert call(c, "GET", run["fileUrl"]).status_code == 200
                assert call(c, "GET", f"/exports/{rid}/download").status_code == 200
                call(c, "GET", "/runs")
                call(c, "GET", "/metrics")
                call(c, "PUT", f"/exports/{rid}", json=body)
                call(c, "DELETE", f"/exports/{rid}")  # the key lacks the action: 403
            with httpx.Client(base_url=url, timeout=10) as anonymous:
                for wrong in (f"Bearer {secret}x", f"apiKey x{secret}", f"Basic {secret}", secret):  # near misses: 401, never echoed
                    assert call(anonymous, "GET", "/exports", headers={"Authorization": wrong}).status_code == 401
        live = {p: p.read_bytes() for p in home.rglob("*") if p.is_file()}  # the WAL holds the latest writes
    finally:
        serve.terminate()
        out, err = serve.communicate(timeout=30)
    assert serve.returncode == 0, err
    audit = subprocess.run(
        [sys.executable, "-m", "exporter_tui", "--home", str(home), "--config", str(config), "audit", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env=env,
    )
    assert audit.returncode == 0, audit.stderr
    assert {e.get("detail", {}).get("key") for e in json.loads(audit.stdout)["results"]} >= {"ops", "ci"}  # the audit names the key
    home_bytes = {p: p.read_bytes() for p in home.rglob("*") if p.is_file()}
    assert any(p.name == "exporter.db-wal" and data for p, data in live.items()) and any(p.suffix == ".csv" for p in home_bytes)
    haystacks = {f"file {p.relative_to(tmp_path)}": data for p, data in home_bytes.items()}
    haystacks |= {f"live {p.relative_to(tmp_path)}": data for p, data in live.items()}
    haystacks |= {"serve stdout": out.encode(), "serve stderr": err.encode(), "audit": audit.stdout.encode()}
    haystacks |= {f"answer #{i}": a.encode() for i, a in enumerate(answers)}
    leaks = [(where, name) for where, data in haystacks.items() for name, secret in s.items() if secret.encode() in data]
    assert leaks == [], leaks
    assert s["key_cfg"].encode() in config.read_bytes()  # the search can find: the config holds the configured one


# --- permissions -----------------------------------------------------------------------------


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o000, 0o077])
@pytest.mark.parametrize(
    ("config", "file_mode", "dir_mode"), [("", 0o600, 0o700), ("[exports]\nfile_mode = 0o640\ndir_mode = 0o750\n", 0o640, 0o750)]
)
def test_database_and_exports_get_exactly_their_modes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], umask: int, config: str, file_mode: int, dir_mode: int
) -> None:
    home = tmp_path / "home"  # made by the app
    cfg = tmp_path / "config.toml"
    cfg.write_text('[identity]\nuser = "tester"\n' + config)
    cfg.chmod(0o600)
    old = os.umask(umask)
    try:
        fill(home, [reading("urn:a", T0 + i, float(i)) for i in range(5)] + [reading("urn:b", T0 + i, float(i)) for i in range(5)])
        w = {"from": T0, "to": T0 + 60}
        paths = []
        for b in (
            body([item("urn:a", **w)], "csv"),
            body([item("urn:a", **w), item("urn:b", **w)], "json"),
            body([item("urn:a", **w)], "xlsx"),
        ):
            f = tmp_path / "b.json"
            f.write_text(json.dumps(b))
            assert main(["--home", str(home), "--config", str(cfg), "requests", "create", str(f)]) == 0
            rid = json.loads(capsys.readouterr().out)["id"]
            assert main(["--home", str(home), "--config", str(cfg), "run", rid, "--json"]) == 0
            paths.append(Path(json.loads(capsys.readouterr().out)["filePath"]))
        with Store(home / "exporter.db", file_mode=file_mode) as store:  # open: the WAL and shared-memory files exist now
            store.requests.page()
            sides = [Path(f"{home}/exporter.db{s}") for s in ("-wal", "-shm")]
            assert all(p.exists() for p in sides)
            assert [mode(p) for p in [home / "exporter.db", *sides]] == [file_mode] * 3
    finally:
        os.umask(old)
    assert mode(home / "exports") == dir_mode
    for data in paths:
        assert mode(data) == file_mode and mode(data.with_name(data.name + MANIFEST_SUFFIX)) == file_mode
        assert mode(data.parent) == dir_mode
        assert sha256_of(data) == json.loads(data.with_name(data.name + MANIFEST_SUFFIX).read_text())["sha256"]
    with zipfile.ZipFile(paths[1]) as z:
        assert {i.external_attr >> 16 for i in z.infolist()} == {0o600}
    report(
        "security-permissions",
        full=False,
        umask=f"{umask:04o}",
        file_mode=f"{file_mode:04o}",
        dir_mode=f"{dir_mode:04o}",
        files_checked=3 + 2 * len(paths),
        folders_checked=1 + len(paths),
        wrong=0,
    )


@pytest.mark.parametrize(("chmod", "warned"), [(0o644, True), (0o640, True), (0o604, True), (0o600, False), (0o400, False)])
def test_a_config_readable_by_others_is_warned_about_once(cli, home: Path, chmod: int, warned: bool) -> None:
    cfg = home / "config.toml"
    cfg.chmod(chmod)
    r = cli("requests", "list", "--json")
    assert r.code == 0 and r.json()["total"] == 0  # a warning, not a refusal
    expected = (
        f"warning: {cfg} can be read by other users (mode {chmod:04o}) and may hold secrets; run: chmod 600 {cfg}\n" if warned else ""
    )
    assert r.err == expected
    cfg.chmod(0o600)


# --- parameterised queries -------------------------------------------------------------------

SQLISH = ["Robert'); DROP TABLE requests;--", 'x" OR "1"="1', "a' OR '1'='1", "%", "_", "50%_off\\", "/* c */ ;", "ŝqł 'ü'"]


def test_quotes_and_sql_in_targets_and_labels_come_back_unchanged(cli, home: Path, tmp_path: Path) -> None:
    fill(home, [reading(n, T0 + i, float(i)) for n in SQLISH for i in range(2)] + [reading("urn:other", T0, 9.0)])
    b = body([item(n, f"L {n}", **{"from": T0, "to": T0 + 60}) for n in SQLISH], "xlsx")
    b["name"] = "'; DELETE FROM runs; --"
    rid = create(cli, tmp_path, b)
    shown = cli("requests", "show", rid, "--json").json()
    assert shown["name"] == b["name"]
    assert [i["params"]["target"] for i in shown["items"]] == [{"value": n, "label": f"L {n}"} for n in SQLISH]
    exported = cli("requests", "export", rid).json()
    assert exported["name"] == b["name"] and [i["params"]["target"] for i in exported["items"]] == [
        i["params"]["target"] for i in b["items"]
    ]
    listed = cli("requests", "list", "--json").json()
    assert listed["total"] == 1 and listed["results"][0]["name"] == b["name"]
    assert b["name"] in cli("requests", "list").out
    out = run(cli, rid)
    assert out["status"] == "done" and out["rows"] == 2 * len(SQLISH)  # exactly the readings of each name, not urn:other
    book = openpyxl.load_workbook(out["filePath"], read_only=True)
    names = [row[2] for ws in book.worksheets for row in ws.iter_rows(min_row=2, values_only=True)]  # after time, time offset
    assert sorted(set(names)) == sorted(("'" if n[0] in "=+-@" else "") + f"L {n}" for n in SQLISH)
    # wildcards and quotes in lookups match nothing instead of everything
    for args in (
        ("requests", "show", "%%%%"),
        ("requests", "show", "____"),
        ("runs", "show", "%%%%"),
        ("runs", "show", "____"),
        ("runs", "retry", "%%%%"),
        ("runs", "--request", "' OR 1=1 --"),
        ("requests", "delete", "' OR '1'='1"),
    ):
        r = cli(*args)
        assert r.code == 2 and "no " in r.err, (args, r.err)
    assert cli("audit", "--action", "x' OR '1'='1", "--json").json()["total"] == 0
    assert cli("audit", "--id", "%", "--json").json()["total"] == 0
    assert cli("requests", "show", rid, "--json").json()["deletedAt"] is None
    assert cli("requests", "list", "--json").json()["total"] == 1  # the table and the request are still there
    report("security-sql", full=False, values=len(SQLISH) * 2 + 1, lookups=9, changed=0, matched_by_wildcard=0)
