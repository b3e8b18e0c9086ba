"""Notifications of finished runs: email (SMTP), Slack, Discord and Telegram."""

from exporter_tui.notify.dispatch import MEDIA, notify_run, send_one, send_test
from exporter_tui.notify.masking import SecretMaskingFilter, mask
from exporter_tui.notify.outcome import MessageSpec, NotificationContext, Outcome

__all__ = [
    "MEDIA",
    "MessageSpec",
    "NotificationContext",
    "Outcome",
    "SecretMaskingFilter",
    "mask",
    "notify_run",
    "send_one",
    "send_test",
]
