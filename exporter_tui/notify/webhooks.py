"""Slack and Discord incoming webhooks, and the JSON POST that Telegram shares.

Requests name a webhook; the URL lives in config and is a secret, so nothing here
ever puts a URL in an error."""

from __future__ import annotations

import errno
import json

import httpx

from exporter_tui.config import WebhookSettings
from exporter_tui.notify.outcome import DeliveryError

DEFAULT_NAME = "default"
DISCORD_MAX_CHARS = 2000  # Discord refuses longer `content` with a 400


def resolve_webhook(medium: str, hooks: WebhookSettings, target: str | None) -> tuple[str, str]:
    """(displayable name, URL) for a target name; empty target means `default_url`."""
    name = (target or "").strip()
    if not name:
        if not hooks.default_url:
            raise DeliveryError(f"no {medium} webhook: target is empty and notify.{medium}.default_url is not set", retryable=False)
        return DEFAULT_NAME, hooks.default_url
    url = hooks.webhooks.get(name)
    if not url:
        raise DeliveryError(f"{medium} webhook '{name}' is not configured (notify.{medium}.webhooks)", retryable=False)
    return name, url


def slack_payload(title: str, text: str) -> dict[str, object]:
    title, text = _slack_escape(title), _slack_escape(text)
    return {"text": f"*{title}*\n{text}" if title else text}


def _slack_escape(text: str) -> str:
    """Slack reads <...> as links and mentions; its docs ask to escape just these three."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def discord_payload(title: str, text: str) -> dict[str, object]:
    # allowed_mentions: an error text with @everyone must not ping the whole server.
    return {"content": clip(f"**{title}**\n{text}" if title else text, DISCORD_MAX_CHARS), "allowed_mentions": {"parse": []}}


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def post_json(url: str, payload: dict[str, object], timeout: float) -> httpx.Response:
    """POST `payload`; the 2xx response, else a DeliveryError.

    429, 5xx, timeouts and connection errors are retryable; other answers are final."""
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            response = client.post(url, json=payload)
    except httpx.TimeoutException:
        raise DeliveryError("timed out", retryable=True) from None
    except httpx.ConnectError as e:
        raise DeliveryError(_connect_reason(e), retryable=True) from None
    except (httpx.InvalidURL, httpx.UnsupportedProtocol):
        raise DeliveryError("the configured URL is not a valid http(s) URL", retryable=False) from None
    except httpx.TransportError as e:
        raise DeliveryError(f"transport error ({type(e).__name__})", retryable=True) from None
    if response.is_success:
        return response
    retryable = response.status_code == 429 or response.status_code >= 500
    detail = answer_detail(response)
    reason = f"HTTP {response.status_code}" + (f": {detail}" if detail else "")
    raise DeliveryError(reason, retryable=retryable)


def answer_detail(response: httpx.Response, limit: int = 120) -> str:
    """A one-line summary of an answer body: Telegram's `description`, Discord's
    `message`, else the start of the text (Slack answers e.g. `no_service`)."""
    text = response.text.strip()
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("description", "message", "error"):
            if isinstance(body.get(key), str):
                text = body[key]
                break
    return clip(" ".join(text.split()), limit)


def _connect_reason(e: httpx.ConnectError) -> str:
    cause: BaseException | None = e
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError) or getattr(cause, "errno", None) == errno.ECONNREFUSED:
            return "connection refused"
        cause = cause.__cause__ or cause.__context__
    if "refused" in str(e).lower():
        return "connection refused"
    return clip(f"cannot connect: {e}", 120)
