"""Email over SMTP (plain, STARTTLS or implicit TLS), with the export file attached
when it is small enough; otherwise the body says where the file is."""

from __future__ import annotations

import mimetypes
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from exporter_tui.config import SmtpSettings
from exporter_tui.notify.outcome import DeliveryError


def resolve_address(settings: SmtpSettings, target: str | None) -> str:
    address = (target or "").strip() or settings.default_to.strip()
    if not address:
        raise DeliveryError("no email address: target is empty and notify.email.default_to is not set", retryable=False)
    return address


def build_message(settings: SmtpSettings, to: str, subject: str, body: str, attachment: Path | None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.sender
    msg["To"] = to
    msg["Subject"] = " ".join(subject.split())  # a header cannot hold line breaks
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain=settings.sender.rpartition("@")[2] or None)
    data, note = _attachment_bytes(attachment, settings.attach_max_bytes)
    msg.set_content(body + note if note else body)
    if data is not None and attachment is not None:
        maintype, subtype = _mime_type(attachment)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=attachment.name)
    return msg


def _attachment_bytes(path: Path | None, limit: int) -> tuple[bytes | None, str]:
    """(file bytes or None, text to append to the body when the file is not attached)."""
    if path is None:
        return None, ""
    try:
        size = path.stat().st_size
        if size > limit:
            return None, f"\n\nThe export file is not attached ({size} bytes, over the {limit} byte limit); it is at: {path}"
        return path.read_bytes(), ""
    except OSError as e:
        return None, f"\n\nThe export file could not be attached ({e.strerror or 'unreadable'}); it should be at: {path}"


def _mime_type(path: Path) -> tuple[str, str]:
    kind, encoding = mimetypes.guess_type(path.name)
    if kind is None or encoding is not None:  # e.g. .csv.gz is gzip data, not text
        return "application", "octet-stream"
    maintype, _, subtype = kind.partition("/")
    return maintype, subtype


def send_email(settings: SmtpSettings, msg: EmailMessage) -> None:
    """One delivery attempt; failures become DeliveryError (4xx and network: retryable)."""
    try:
        if settings.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=settings.timeout, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        with smtp:
            if settings.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if settings.username:
                smtp.login(settings.username, settings.password)
            refused = smtp.send_message(msg)
    except smtplib.SMTPAuthenticationError as e:
        raise DeliveryError(f"SMTP authentication failed: {_reply(e.smtp_code, e.smtp_error)}", retryable=False) from None
    except smtplib.SMTPRecipientsRefused as e:
        codes = [code for code, _ in e.recipients.values()]
        raise DeliveryError(f"recipient refused: {_refusals(e.recipients)}", retryable=all(400 <= c < 500 for c in codes)) from None
    except smtplib.SMTPServerDisconnected:
        raise DeliveryError("SMTP server closed the connection", retryable=True) from None
    except smtplib.SMTPResponseException as e:
        raise DeliveryError(f"SMTP {_reply(e.smtp_code, e.smtp_error)}", retryable=400 <= e.smtp_code < 500) from None
    except smtplib.SMTPException as e:  # e.g. STARTTLS or AUTH not offered by the server
        raise DeliveryError(f"SMTP error: {e}", retryable=False) from None
    except ssl.SSLCertVerificationError as e:
        raise DeliveryError(f"TLS certificate not trusted: {e.verify_message}", retryable=False) from None
    except ssl.SSLError as e:
        raise DeliveryError(f"TLS error: {e.reason or e}", retryable=False) from None
    except TimeoutError:
        raise DeliveryError("timed out", retryable=True) from None
    except ConnectionRefusedError:
        raise DeliveryError("connection refused", retryable=True) from None
    except OSError as e:
        raise DeliveryError(f"cannot connect: {e.strerror or e}", retryable=True) from None
    if refused:  # delivered to some recipients: a retry would send duplicates
        raise DeliveryError(f"some recipients refused: {_refusals(refused)}", retryable=False)


def _reply(code: int, text: bytes | str) -> str:
    raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {' '.join(raw.split())}"[:160]


def _refusals(recipients: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(f"{addr} ({_reply(code, text)})" for addr, (code, text) in recipients.items())
