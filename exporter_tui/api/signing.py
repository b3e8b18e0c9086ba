"""Signed file links: `fileUrl` opens a run's file with no key for 100 minutes, as Connectif's list promises.

The link is `/files/{runId}?expires=<unix>&signature=<hex>`, the signature an HMAC-SHA256 of
the run id and the expiry under the server's signing key: from `api.signing_key`, else
`EXPORTER_TUI_API_SIGNING_KEY` (both land in the same setting), else HOME/api-signing.key,
created once (0600) and reused, so links survive a restart. config.toml is never written.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

LINK_LIFETIME = 100 * 60  # seconds
KEY_FILE = "api-signing.key"


def signing_key(configured: str, data_dir: Path) -> bytes:
    if configured:
        return configured.encode()
    path = data_dir / KEY_FILE
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32))
    os.chmod(path, 0o600)
    return path.read_bytes().strip()


def signature(key: bytes, run_id: str, expires: int) -> str:
    return hmac.new(key, f"{run_id}\n{expires}".encode(), hashlib.sha256).hexdigest()


def signed_query(key: bytes, run_id: str, now: float) -> str:
    expires = int(now) + LINK_LIFETIME
    return f"expires={expires}&signature={signature(key, run_id, expires)}"


def verify(key: bytes, run_id: str, expires: str, given: str, now: float) -> str | None:
    """None when the link is good, else why not."""
    try:
        when = int(expires)
    except ValueError:
        return "the link is not valid"
    if not hmac.compare_digest(signature(key, run_id, when), given):
        return "the link is not valid"
    if now > when:
        return "the link has expired; read the run again for a new one"
    return None
