"""Send a run's notifications: pick the messages whose policy matches the run,
resolve each target, deliver with retries, and record an Outcome per message.

Messages go out concurrently in a small thread pool, so a slow or failing channel
(timeouts times attempts plus backoff) never delays or blocks the others. Nothing
raises out of here: every problem becomes a failed Outcome whose error is short and
has every configured secret masked."""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from exporter_tui.config import NotifySettings, notify_secret_values
from exporter_tui.core.enums import RunStatus
from exporter_tui.core.placeholders import check_template, render
from exporter_tui.notify.email_sender import build_message, resolve_address, send_email
from exporter_tui.notify.masking import SecretMaskingFilter, mask
from exporter_tui.notify.outcome import DeliveryError, MessageSpec, NotificationContext, Outcome, stamp_now
from exporter_tui.notify.telegram import resolve_chat, send_telegram
from exporter_tui.notify.webhooks import discord_payload, post_json, resolve_webhook, slack_payload

log = logging.getLogger(__name__)

MEDIA: tuple[str, ...] = ("email", "telegram", "slack", "discord")
POLICY_STATUS: dict[str, RunStatus] = {"onSuccess": RunStatus.DONE, "onFailure": RunStatus.FAILED}
MAX_WORKERS = 4

# httpx logs every request URL at INFO on the "httpx" logger; webhook URLs and the
# Telegram token are in those URLs, so that logger masks the secrets we send with.
_HTTP_LOG_MASK = SecretMaskingFilter()
logging.getLogger("httpx").addFilter(_HTTP_LOG_MASK)

Sleep = Callable[[float], None]


@dataclass
class _Delivery:
    """A resolved message: who it goes to (displayable) and one attempt to send it."""

    target: str
    attempt: Callable[[], object]


def notify_run(
    messages: Sequence[MessageSpec],
    ctx: NotificationContext,
    settings: NotifySettings,
    *,
    on_outcome: Callable[[Outcome], None] | None = None,
    sleep: Sleep = time.sleep,
    attachment: Path | None = None,
) -> list[Outcome]:
    """One Outcome per message, in the order of `messages`.

    A message whose policy does not match `ctx.status` is not sent: its Outcome is
    `skipped` with 0 attempts. `on_outcome` is called in the caller's thread as each
    outcome is known (skipped ones first), so it may write to a thread-bound store."""
    outcomes: list[Outcome | None] = [None] * len(messages)
    pending: list[int] = []
    for i, message in enumerate(messages):
        if POLICY_STATUS.get(message.policy) == ctx.status:
            pending.append(i)
        else:
            outcomes[i] = _report(
                Outcome(message.medium, _shown_target(message), message.policy, "skipped", 0, None, stamp_now()), on_outcome
            )
    if pending:
        with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(pending)), thread_name_prefix="notify") as pool:
            futures = {pool.submit(send_one, messages[i], ctx, settings, sleep=sleep, attachment=attachment): i for i in pending}
            for future in as_completed(futures):
                outcomes[futures[future]] = _report(future.result(), on_outcome)
    return [o for o in outcomes if o is not None]


def _report(outcome: Outcome, on_outcome: Callable[[Outcome], None] | None) -> Outcome:
    if on_outcome is not None:
        try:
            on_outcome(outcome)
        except Exception:  # a broken callback must not stop the other notifications
            log.exception("notify: on_outcome callback failed")
    return outcome


def send_one(
    message: MessageSpec,
    ctx: NotificationContext,
    settings: NotifySettings,
    *,
    sleep: Sleep = time.sleep,
    attachment: Path | None = None,
) -> Outcome:
    """Render and deliver one message regardless of its policy; never raises."""
    secrets = notify_secret_values(settings)
    _HTTP_LOG_MASK.add(secrets)
    shown = _shown_target(message)

    def failed(reason: str, attempts: int, target: str = shown) -> Outcome:
        return Outcome(message.medium, target, message.policy, "failed", attempts, mask(reason, secrets), stamp_now())

    try:
        problem = check_template(message.title) or check_template(message.text)
        if problem:  # stored requests were checked; this guards hand-built messages
            return failed(f"bad template: {problem}", 0)
        values = ctx.values()
        delivery = _prepare(message, render(message.title, values), render(message.text, values), settings, attachment)
    except DeliveryError as e:
        return failed(e.reason, 0)
    except Exception as e:
        _log_unexpected(message.medium, shown, e, secrets)
        return failed(f"internal error: {type(e).__name__}", 0)
    attempts, error = _attempt_with_retries(delivery, message.medium, settings, sleep, secrets)
    if error is None:
        return Outcome(message.medium, delivery.target, message.policy, "sent", attempts, None, stamp_now())
    return failed(error, attempts, delivery.target)


def send_test(medium: str, target: str, settings: NotifySettings, *, sleep: Sleep = time.sleep) -> Outcome:
    """Send a fixed test message (for `exporter-tui notify test MEDIUM TARGET`)."""
    ctx = NotificationContext(request_id="test", run_id="test", status=RunStatus.DONE)
    return send_one(_TestMessage(target=target, medium=medium), ctx, settings, sleep=sleep)


@dataclass(frozen=True)
class _TestMessage:
    target: str
    medium: str
    policy: str = "test"
    title: str = "exporter-tui test notification"
    text: str = "If you can read this, exporter-tui can notify you here."


def _shown_target(message: MessageSpec) -> str:
    """The target as written; slack/discord names are not secrets, empty means default."""
    target = (message.target or "").strip()
    if not target and message.medium in ("slack", "discord"):
        return "default"
    return target


def _prepare(message: MessageSpec, title: str, text: str, settings: NotifySettings, attachment: Path | None) -> _Delivery:
    """Resolve the target and build the payload; config problems fail here, offline."""
    medium = message.medium
    if medium == "email":
        to = resolve_address(settings.email, message.target)
        mail = build_message(settings.email, to, title, text, attachment)
        return _Delivery(to, lambda: send_email(settings.email, mail))
    if medium == "telegram":
        chat = resolve_chat(settings.telegram, message.target)
        return _Delivery(chat, lambda: send_telegram(settings.telegram, chat, title, text, settings.timeout))
    if medium in ("slack", "discord"):
        hooks = settings.slack if medium == "slack" else settings.discord
        name, url = resolve_webhook(medium, hooks, message.target)
        payload = slack_payload(title, text) if medium == "slack" else discord_payload(title, text)
        return _Delivery(name, lambda: post_json(url, payload, settings.timeout))
    raise DeliveryError(f"unknown medium '{medium}'; known: {', '.join(MEDIA)}", retryable=False)


def _attempt_with_retries(
    delivery: _Delivery, medium: str, settings: NotifySettings, sleep: Sleep, secrets: list[str]
) -> tuple[int, str | None]:
    """(attempts made, last error or None). Waits backoff * 2**n before retry n."""
    error = "not attempted"
    for n in range(settings.attempts):
        if n:
            sleep(settings.backoff * 2 ** (n - 1))
        try:
            delivery.attempt()
            return n + 1, None
        except DeliveryError as e:
            error, retryable = e.reason, e.retryable
        except Exception as e:
            _log_unexpected(medium, delivery.target, e, secrets)
            error, retryable = f"internal error: {type(e).__name__}", False
        log.warning("notify %s to %s: attempt %d/%d failed: %s", medium, delivery.target, n + 1, settings.attempts, mask(error, secrets))
        if not retryable:
            return n + 1, error
    return settings.attempts, error


def _log_unexpected(medium: str, target: str, e: Exception, secrets: Iterable[str]) -> None:
    detail = "".join(traceback.format_exception(e))
    log.error("notify %s to %s: unexpected error\n%s", medium, target, mask(detail, secrets))
