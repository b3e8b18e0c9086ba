"""Telegram Bot API sendMessage. The token sits in the URL path, so it is a secret."""

from __future__ import annotations

from exporter_tui.config import TelegramSettings
from exporter_tui.notify.outcome import DeliveryError
from exporter_tui.notify.webhooks import answer_detail, clip, post_json

TELEGRAM_MAX_CHARS = 4096  # longer texts are refused by sendMessage


def resolve_chat(settings: TelegramSettings, target: str | None) -> str:
    """The chat id to send to; checks the token too, before any network call."""
    if not settings.token:
        raise DeliveryError("telegram token is not configured (notify.telegram.token)", retryable=False)
    chat = (target or "").strip() or settings.default_chat_id.strip()
    if not chat:
        raise DeliveryError("no telegram chat id: target is empty and notify.telegram.default_chat_id is not set", retryable=False)
    return chat


def telegram_payload(chat_id: str, title: str, text: str) -> dict[str, object]:
    return {"chat_id": chat_id, "text": clip(f"{title}\n\n{text}" if title else text, TELEGRAM_MAX_CHARS)}


def send_telegram(settings: TelegramSettings, chat_id: str, title: str, text: str, timeout: float) -> None:
    url = f"{settings.api_base.rstrip('/')}/bot{settings.token}/sendMessage"
    response = post_json(url, telegram_payload(chat_id, title, text), timeout)
    try:
        ok = response.json().get("ok") is True
    except (ValueError, AttributeError):
        ok = False
    if not ok:
        detail = answer_detail(response)
        raise DeliveryError("telegram refused the message" + (f": {detail}" if detail else ""), retryable=False)
