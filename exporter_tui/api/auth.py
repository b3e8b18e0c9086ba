"""Who is asking: API keys from [api.keys.NAME], Connhex's IAM actions, owners.

A key is sent as `Authorization: Bearer <secret>` or Connectif's `Authorization: apiKey <secret>`.
Every configured secret is compared with `hmac.compare_digest`, so the time taken tells nothing
about any of them. With no keys configured the server listens on loopback only and everyone
there is the local user (`identity.user`), who, like the CLI and the TUI, sees every owner.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from fastapi import Request

from exporter_tui.api.errors import ApiError
from exporter_tui.config import API_ACTIONS, ApiSettings
from exporter_tui.store.errors import MISSING_IDENTITY, NotFound
from exporter_tui.store.requests import StoredRequest

ALL_ACTIONS = frozenset(f"exporter:exports:{a}" for a in API_ACTIONS)
SCHEMES = ("bearer", "apikey")


@dataclass(frozen=True)
class Identity:
    owner: str  # whose requests this caller creates
    key: str | None  # the key's name; None for the local user of a keyless server
    actions: frozenset[str]
    sees_all: bool  # the local user sees every owner's requests

    def require(self, action: str) -> None:
        if f"exporter:exports:{action}" not in self.actions:
            raise ApiError(403, f"this key may not exporter:exports:{action}")

    @property
    def owner_filter(self) -> str | None:
        return None if self.sees_all else self.owner

    def check_owns(self, stored: StoredRequest) -> StoredRequest:
        """Another owner's request is answered as if it did not exist."""
        if not self.sees_all and stored.owner != self.owner:
            raise NotFound(f"no export request with id '{stored.id}'")
        return stored


def local_identity(user: str) -> Identity:
    return Identity(owner=user, key=None, actions=ALL_ACTIONS, sees_all=True)


def identify(api: ApiSettings, local_user: str, authorization: str | None) -> Identity:
    """The caller of a request with this Authorization header; 401 when it names no key."""
    if not api.keys:
        return local_identity(local_user)
    scheme, _, secret = (authorization or "").strip().partition(" ")
    secret = secret.strip()
    if scheme.lower() not in SCHEMES or not secret:
        raise ApiError(401, MISSING_IDENTITY)
    found = None
    given = secret.encode()
    for name, key in api.keys.items():  # every key is compared, found or not
        if hmac.compare_digest(given, key.secret.encode()) and found is None:
            found = (name, key)
    if found is None:
        raise ApiError(401, MISSING_IDENTITY)
    name, key = found
    return Identity(owner=key.owner, key=name, actions=frozenset(key.actions), sees_all=False)


def caller(request: Request) -> Identity:
    """FastAPI dependency: the identity of this request."""
    state = request.app.state.api
    return identify(state.ctx.settings.api, state.ctx.actor, request.headers.get("authorization"))
