"""Notifications against real servers on 127.0.0.1: aiosmtpd for email, CaptureServer
for Slack, Discord and Telegram."""

from __future__ import annotations

import email
import email.policy
import logging
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from http_capture import CaptureServer, closed_port_url

from exporter_tui.config import NotifySettings
from exporter_tui.core.models import NotificationMessage
from exporter_tui.notify import NotificationContext, Outcome, SecretMaskingFilter, mask, notify_run, send_one, send_test

TOKEN = "123456:SECRET-bot-token"
PASSWORD = "pa55-word-xyz"
SENDER = "exporter@example.test"

CTX = NotificationContext(
    request_id="req-7",
    run_id="run-42",
    status="done",
    rows=1234,
    file_name="temps.zip",
    file_path="/exports/temps.zip",
    window_from="2024-05-01T00:00:00Z",
    window_to="2024-05-02T00:00:00Z",
    error=None,
)


@dataclass
class Msg:
    medium: str
    target: str | None = None
    policy: str = "onSuccess"
    title: str = "Export {request_id} {status}"
    text: str = "{rows} rows from {window_from} to {window_to}"


class Sleeps(list[float]):
    """An injected sleep that only records how long it was asked to wait."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


# --- servers ---------------------------------------------------------------------


class _Controller(Controller):
    """aiosmtpd on an ephemeral port: learn the bound port before the readiness probe."""

    def _trigger_server(self) -> None:
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class Inbox:
    def __init__(self) -> None:
        self.envelopes: list[Any] = []
        self.logins: list[tuple[bytes, bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append((data.login, data.password))
        return AuthResult(success=data.login == b"robot" and data.password == PASSWORD.encode(), handled=False)

    def mails(self) -> list[EmailMessage]:
        return [email.message_from_bytes(e.content, policy=email.policy.default) for e in self.envelopes]  # type: ignore[misc]


@contextmanager
def smtp_server(**kwargs: Any) -> Iterator[tuple[int, Inbox]]:
    inbox = Inbox()
    if kwargs.pop("auth", False):
        kwargs.update(authenticator=inbox.authenticate, auth_required=True, auth_require_tls=False)
    controller = _Controller(inbox, hostname="127.0.0.1", port=0, **kwargs)
    controller.start()
    try:
        yield controller.port, inbox
    finally:
        controller.stop()


@pytest.fixture
def smtp() -> Iterator[tuple[int, Inbox]]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def http() -> Iterator[CaptureServer]:
    with CaptureServer() as srv:
        srv.set("/bot" + TOKEN + "/sendMessage", body={"ok": True, "result": {"message_id": 1}})
        srv.set("/discord/1/abc", status=204, body=None)
        yield srv


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (the client trusts it via SSL_CERT_FILE)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def settings(smtp_port: int = 1, http_url: str = "http://127.0.0.1:1", **email: Any) -> NotifySettings:
    return NotifySettings.model_validate(
        {
            "timeout": 0.3,
            "attempts": 3,
            "backoff": 0,
            "email": {"host": "127.0.0.1", "port": smtp_port, "sender": SENDER, "timeout": 2, **email},
            "slack": {"webhooks": {"ops": f"{http_url}/slack/T0/B0/xyz"}},
            "discord": {"default_url": f"{http_url}/discord/1/abc"},
            "telegram": {"api_base": http_url, "token": TOKEN, "default_chat_id": "-100200"},
        }
    )


def secrets_absent(*texts: str) -> bool:
    return not any(s in t for t in texts for s in (TOKEN, PASSWORD, "/slack/T0/B0/xyz", "/discord/1/abc"))


# --- email -----------------------------------------------------------------------

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.mark.parametrize(
    ("name", "data", "mime"),
    [
        ("temps.zip", bytes(range(256)) * 12, "application/zip"),
        ("temps.xlsx", b"PK\x03\x04" + bytes(range(255, -1, -1)), XLSX),
        ("temps.csv", b"\xef\xbb\xbftime;value\r\n2024-05-01;1,5\n", "text/csv"),
    ],
    ids=["zip", "xlsx", "csv"],
)
def test_email_renders_placeholders_and_attaches_the_file(
    smtp: tuple[int, Inbox], tmp_path: Path, name: str, data: bytes, mime: str
) -> None:
    port, inbox = smtp
    file = tmp_path / name
    file.write_bytes(data)
    msg = Msg("email", "ops@example.test", text="{rows} rows from {window_from} to {window_to}\nrun {run_id}")

    outcome = send_one(msg, CTX, settings(port), attachment=file)

    assert (outcome.status, outcome.target, outcome.attempts, outcome.error) == ("sent", "ops@example.test", 1, None)
    [envelope] = inbox.envelopes
    assert (envelope.mail_from, envelope.rcpt_tos) == (SENDER, ["ops@example.test"])
    [mail] = inbox.mails()
    assert mail["Subject"] == "Export req-7 done"
    assert body_text(mail.get_body(("plain",))) == "1234 rows from 2024-05-01T00:00:00Z to 2024-05-02T00:00:00Z\nrun run-42\n"
    [part] = list(mail.iter_attachments())
    assert (part.get_content_type(), part.get_filename()) == (mime, name)
    assert part.get_payload(decode=True) == data


def test_email_over_the_size_cap_names_the_path_instead(smtp: tuple[int, Inbox], tmp_path: Path) -> None:
    port, inbox = smtp
    file = tmp_path / "big.csv"
    file.write_bytes(b"x" * 3000)

    outcome = send_one(Msg("email", "a@example.test", text="done"), CTX, settings(port, attach_max_bytes=2999), attachment=file)

    assert outcome.status == "sent"
    [mail] = inbox.mails()
    assert list(mail.iter_attachments()) == []
    assert body_text(mail) == f"done\n\nThe export file is not attached (3000 bytes, over the 2999 byte limit); it is at: {file}\n"


def test_email_target_falls_back_to_default_to(smtp: tuple[int, Inbox]) -> None:
    port, inbox = smtp
    outcome = send_one(Msg("email", "  "), CTX, settings(port, default_to="team@example.test"))
    assert (outcome.status, outcome.target) == ("sent", "team@example.test")
    assert inbox.envelopes[0].rcpt_tos == ["team@example.test"]


def test_email_without_any_address_fails_without_connecting() -> None:
    outcome = send_one(Msg("email"), CTX, settings(closed_port_port()))
    assert (outcome.status, outcome.attempts, outcome.target) == ("failed", 0, "")
    assert outcome.error == "no email address: target is empty and notify.email.default_to is not set"


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_email_login_and_wrong_password() -> None:
    with smtp_server(auth=True) as (port, inbox):
        good = send_one(Msg("email", "a@example.test"), CTX, settings(port, username="robot", password=PASSWORD))
        bad = send_one(Msg("email", "a@example.test"), CTX, settings(port, username="robot", password="nope-" + PASSWORD))

    assert (good.status, good.attempts) == ("sent", 1)
    assert (bad.status, bad.attempts) == ("failed", 1)  # a refused login is final: no retries
    assert bad.error is not None and bad.error.startswith("SMTP authentication failed: 535")
    assert inbox.logins[0] == (b"robot", PASSWORD.encode())
    assert set(inbox.logins[1:]) == {(b"robot", ("nope-" + PASSWORD).encode())}  # smtplib tries PLAIN, then LOGIN
    assert len(inbox.envelopes) == 1
    assert secrets_absent(repr(good), repr(bad))


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_email_over_tls(tls_cert: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, security: str) -> None:
    cert, key = tls_cert
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    tls = {"tls_context": server_ctx, "require_starttls": True} if security == "starttls" else {"ssl_context": server_ctx}
    with smtp_server(**tls) as (port, inbox):
        untrusted = send_one(Msg("email", "a@example.test"), CTX, settings(port, security=security))
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        trusted = send_one(Msg("email", "a@example.test"), CTX, settings(port, security=security))

    assert (untrusted.status, untrusted.attempts) == ("failed", 1)
    assert untrusted.error is not None and untrusted.error.startswith("TLS certificate not trusted")
    assert (trusted.status, trusted.attempts) == ("sent", 1)
    assert [m["Subject"] for m in inbox.mails()] == ["Export req-7 done"]


def test_email_connection_refused_is_retried_with_backoff() -> None:
    sleeps = Sleeps()
    s = settings(closed_port_port()).model_copy(update={"backoff": 0.25})
    outcome = send_one(Msg("email", "a@example.test"), CTX, s, sleep=sleeps)
    assert (outcome.status, outcome.attempts, outcome.error) == ("failed", 3, "connection refused")
    assert sleeps == [0.25, 0.5]


def body_text(part: Any) -> str:
    """A text part as the reader sees it (SMTP carries CRLF line ends)."""
    return part.get_content().replace("\r\n", "\n")


def closed_port_port() -> int:
    return int(closed_port_url().rsplit(":", 1)[1])


# --- webhooks and telegram -----------------------------------------------------------


def test_slack_discord_telegram_receive_the_exact_json(http: CaptureServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    messages = [
        Msg("slack", "ops"),
        Msg("discord", None, title="Run {run_id}", text="{rows} rows"),
        NotificationMessage(medium="telegram", policy="onSuccess", title="Export {request_id}", text="file {file_name}"),
    ]

    outcomes = notify_run(messages, CTX, settings(http_url=http.url))

    assert [(o.medium, o.target, o.policy, o.status, o.attempts, o.error) for o in outcomes] == [
        ("slack", "ops", "onSuccess", "sent", 1, None),
        ("discord", "default", "onSuccess", "sent", 1, None),
        ("telegram", "-100200", "onSuccess", "sent", 1, None),
    ]
    assert http.requests_to("/slack/T0/B0/xyz")[0].json == {
        "text": "*Export req-7 done*\n1234 rows from 2024-05-01T00:00:00Z to 2024-05-02T00:00:00Z"
    }
    assert http.requests_to("/discord/1/abc")[0].json == {"content": "**Run run-42**\n1234 rows", "allowed_mentions": {"parse": []}}
    [tg] = http.requests_to(f"/bot{TOKEN}/sendMessage")
    assert (tg.method, tg.json) == ("POST", {"chat_id": "-100200", "text": "Export req-7\n\nfile temps.zip"})
    assert tg.headers["content-type"] == "application/json"
    assert len(http.requests) == 3
    assert "/bot***/sendMessage" in caplog.text  # httpx logged the request, masked
    assert secrets_absent(repr(outcomes), caplog.text)


def test_a_failing_channel_does_not_stop_the_others(http: CaptureServer, smtp: tuple[int, Inbox], caplog: pytest.LogCaptureFixture) -> None:
    port, inbox = smtp
    http.set("/slack/T0/B0/xyz", status=500, body=None)
    sleeps = Sleeps()
    s = settings(port, http.url).model_copy(update={"backoff": 0.5})
    messages = [Msg("slack", "ops"), Msg("discord"), Msg("email", "a@example.test")]

    outcomes = notify_run(messages, CTX, s, sleep=sleeps)

    assert [(o.medium, o.status, o.attempts, o.error) for o in outcomes] == [
        ("slack", "failed", 3, "HTTP 500"),
        ("discord", "sent", 1, None),
        ("email", "sent", 1, None),
    ]
    assert len(http.requests_to("/slack/T0/B0/xyz")) == 3
    assert len(http.requests_to("/discord/1/abc")) == 1
    assert len(inbox.envelopes) == 1
    assert sleeps == [0.5, 1.0]
    assert "notify slack to ops: attempt 3/3 failed: HTTP 500" in caplog.text
    assert secrets_absent(caplog.text)


def test_a_timeout_is_retried_and_recorded(http: CaptureServer) -> None:
    http.set("/slack/T0/B0/xyz", delay=3.0)
    s = settings(http_url=http.url).model_copy(update={"attempts": 2})
    outcomes = notify_run([Msg("slack", "ops"), Msg("telegram", "42")], CTX, s)

    assert [(o.medium, o.target, o.status, o.attempts, o.error) for o in outcomes] == [
        ("slack", "ops", "failed", 2, "timed out"),
        ("telegram", "42", "sent", 1, None),
    ]
    assert len(http.requests_to("/slack/T0/B0/xyz")) == 2


def test_a_refused_connection_is_recorded(http: CaptureServer) -> None:
    s = settings(http_url=http.url)
    s.discord.default_url = closed_port_url() + "/discord/1/abc"
    outcomes = notify_run([Msg("discord", ""), Msg("slack", "ops")], CTX, s)

    assert [(o.medium, o.target, o.status, o.attempts, o.error) for o in outcomes] == [
        ("discord", "default", "failed", 3, "connection refused"),
        ("slack", "ops", "sent", 1, None),
    ]


@pytest.mark.parametrize("fail_status", [500, 503, 429])
def test_transient_failures_then_success(http: CaptureServer, fail_status: int) -> None:
    http.set("/slack/T0/B0/xyz", failures=2, fail_status=fail_status)
    sleeps = Sleeps()
    s = settings(http_url=http.url).model_copy(update={"backoff": 0.25})
    outcome = send_one(Msg("slack", "ops"), CTX, s, sleep=sleeps)
    assert (outcome.status, outcome.attempts, outcome.error) == ("sent", 3, None)
    assert sleeps == [0.25, 0.5]
    assert len(http.requests_to("/slack/T0/B0/xyz")) == 3


@pytest.mark.parametrize(
    ("medium", "path", "answer", "error"),
    [
        ("slack", "/slack/T0/B0/xyz", {"status": 404, "body": "no_service"}, "HTTP 404: no_service"),
        ("discord", "/discord/1/abc", {"status": 401, "body": {"message": "401: Unauthorized", "code": 0}}, "HTTP 401: 401: Unauthorized"),
        (
            "telegram",
            f"/bot{TOKEN}/sendMessage",
            {"status": 400, "body": {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}},
            "HTTP 400: Bad Request: chat not found",
        ),
        (
            "telegram",
            f"/bot{TOKEN}/sendMessage",
            {"status": 200, "body": {"ok": False, "description": "Forbidden: bot was blocked"}},
            "telegram refused the message: Forbidden: bot was blocked",
        ),
    ],
)
def test_final_refusals_are_not_retried(http: CaptureServer, medium: str, path: str, answer: dict[str, Any], error: str) -> None:
    http.set(path, **answer)
    outcome = send_one(Msg(medium, "ops" if medium == "slack" else None), CTX, settings(http_url=http.url))
    assert (outcome.status, outcome.attempts, outcome.error) == ("failed", 1, error)
    assert len(http.requests_to(path)) == 1


@pytest.mark.parametrize(("status", "sent", "skipped"), [("done", "slack", "discord"), ("failed", "discord", "slack")])
def test_only_messages_whose_policy_matches_are_sent(http: CaptureServer, status: str, sent: str, skipped: str) -> None:
    messages = [Msg("slack", "ops", policy="onSuccess"), Msg("discord", policy="onFailure", text="failed: {error}")]
    seen: list[tuple[str, str, bool]] = []
    ctx = replace(CTX, status=status, error="source unreachable" if status == "failed" else None)

    outcomes = notify_run(
        messages,
        ctx,
        settings(http_url=http.url),
        on_outcome=lambda o: seen.append((o.medium, o.status, threading.current_thread() is threading.main_thread())),
    )

    by_medium = {o.medium: o for o in outcomes}
    assert [o.medium for o in outcomes] == ["slack", "discord"]
    assert (by_medium[sent].status, by_medium[sent].attempts) == ("sent", 1)
    assert (by_medium[skipped].status, by_medium[skipped].attempts, by_medium[skipped].error) == ("skipped", 0, None)
    assert sorted(seen) == sorted([(sent, "sent", True), (skipped, "skipped", True)])
    assert [r.path for r in http.requests] == ["/slack/T0/B0/xyz" if sent == "slack" else "/discord/1/abc"]
    if status == "failed":
        assert http.requests[0].json == {
            "content": "**Export req-7 failed**\nfailed: source unreachable",
            "allowed_mentions": {"parse": []},
        }


def test_unknown_or_missing_webhooks_fail_without_a_request(http: CaptureServer) -> None:
    s = settings(http_url=http.url)
    s.slack.default_url = ""
    outcomes = notify_run([Msg("slack", "alerts"), Msg("slack", ""), Msg("discord", "ops")], CTX, s)
    assert [(o.target, o.status, o.attempts, o.error) for o in outcomes] == [
        ("alerts", "failed", 0, "slack webhook 'alerts' is not configured (notify.slack.webhooks)"),
        ("default", "failed", 0, "no slack webhook: target is empty and notify.slack.default_url is not set"),
        ("ops", "failed", 0, "discord webhook 'ops' is not configured (notify.discord.webhooks)"),
    ]
    assert http.requests == []


def test_telegram_without_token_fails_without_a_request(http: CaptureServer) -> None:
    s = settings(http_url=http.url)
    s.telegram.token = ""
    outcome = send_one(Msg("telegram", "42"), CTX, s)
    assert (outcome.status, outcome.attempts, outcome.error) == ("failed", 0, "telegram token is not configured (notify.telegram.token)")
    assert http.requests == []


def test_long_discord_messages_are_clipped_to_its_limit(http: CaptureServer) -> None:
    outcome = send_one(Msg("discord", title="T", text="x" * 3000), CTX, settings(http_url=http.url))
    assert outcome.status == "sent"
    content = http.requests[0].json["content"]
    assert content == "**T**\n" + "x" * (2000 - 7) + "…"
    assert len(content) == 2000


def test_slack_text_escapes_link_syntax(http: CaptureServer) -> None:
    ctx = replace(CTX, status="failed", error="value <0 & <!channel>")
    outcome = send_one(Msg("slack", "ops", policy="onFailure", title="{status}", text="{error}"), ctx, settings(http_url=http.url))
    assert outcome.status == "sent"
    assert http.requests[0].json == {"text": "*failed*\nvalue &lt;0 &amp; &lt;!channel&gt;"}


def test_a_bad_template_fails_before_sending(http: CaptureServer) -> None:
    outcome = send_one(Msg("slack", "ops", text="{nope}"), CTX, settings(http_url=http.url))
    assert (outcome.status, outcome.attempts) == ("failed", 0)
    assert outcome.error is not None and outcome.error.startswith("bad template: unknown placeholder {nope}")
    assert http.requests == []


def test_send_test(http: CaptureServer) -> None:
    sent = send_test("slack", "ops", settings(http_url=http.url))
    unknown = send_test("sms", "+39000", settings(http_url=http.url))

    assert (sent.medium, sent.target, sent.policy, sent.status) == ("slack", "ops", "test", "sent")
    assert http.requests[0].json == {"text": "*exporter-tui test notification*\nIf you can read this, exporter-tui can notify you here."}
    assert (unknown.status, unknown.attempts, unknown.error) == (
        "failed",
        0,
        "unknown medium 'sms'; known: email, telegram, slack, discord",
    )
    assert len(http.requests) == 1


# --- masking ---------------------------------------------------------------------


def test_mask_replaces_every_secret_longest_first() -> None:
    url = "https://hooks.example/services/T0/B0/abc"
    text = f"posting to {url} with abc, again abc"
    assert mask(text, ["abc", url, ""]) == "posting to *** with ***, again ***"
    assert mask("nothing here", []) == "nothing here"


def test_masking_filter_on_a_logger(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test_notify.masking")
    filt = SecretMaskingFilter([TOKEN])
    logger.addFilter(filt)
    try:
        with caplog.at_level(logging.INFO, logger="test_notify.masking"):
            logger.info("token is %s", TOKEN)
            filt.add([PASSWORD])
            try:
                raise RuntimeError(f"login failed with {PASSWORD}")
            except RuntimeError:
                logger.exception("boom")
    finally:
        logger.removeFilter(filt)
    assert [r.getMessage() for r in caplog.records] == ["token is ***", "boom"]
    assert "RuntimeError: login failed with ***" in caplog.text
    assert secrets_absent(caplog.text)


def test_outcome_time_is_utc_iso_8601() -> None:
    before = datetime.now(UTC)
    outcome = send_test("discord", "nope", settings())
    after = datetime.now(UTC)
    assert isinstance(outcome, Outcome) and outcome.at.endswith("Z")
    assert before.replace(microsecond=before.microsecond // 1000 * 1000) <= datetime.fromisoformat(outcome.at) <= after


def test_capture_server_records_queries_and_answers_dynamically() -> None:
    import httpx

    with CaptureServer() as srv:
        srv.set("/items", handler=lambda req: (201, {"echo": req.path}), headers={"X-Total": "7"})
        answer = httpx.get(srv.url + "/items?page=2", timeout=2)
        other = httpx.post(srv.url + "/else", content=b"not json", timeout=2)
    assert (answer.status_code, answer.json(), answer.headers["x-total"]) == (201, {"echo": "/items?page=2"}, "7")
    assert (other.status_code, other.text) == (200, "ok")
    assert [(r.method, r.path, r.json) for r in srv.requests] == [("GET", "/items?page=2", None), ("POST", "/else", "not json")]
