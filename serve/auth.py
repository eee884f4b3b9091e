"""API keys: high-entropy random strings, stored only as their sha256, each with one role."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from model.vocabulary import Role
from serve.errors import AuthenticationRequired, PermissionDenied

KEY_PREFIX = "aq_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, name and role."""

    key_id: str
    name: str
    role: Role

    @property
    def sees_all_claims(self) -> bool:
        return self.role in ("adjuster", "admin")


def generate_key() -> str:
    """A new API key (shown once, never stored)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The stored form of a key (sha256 is enough for 256 bits of randomness; no salt needed)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_from_headers(authorization: str | None, x_api_key: str | None) -> str:
    """The key from ``Authorization: Bearer <key>`` or ``X-API-Key``; refuse a request without one."""
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    if x_api_key and x_api_key.strip():
        return x_api_key.strip()
    raise AuthenticationRequired(
        "this endpoint needs an API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>' "
        "(create one with 'autoquote keys create')"
    )


def require_role(principal: Principal, *roles: Role) -> None:
    """Refuse a caller whose role is not one of ``roles``."""
    if principal.role not in roles:
        raise PermissionDenied(
            f"a {principal.role} key may not do this; it needs a key with role {' or '.join(roles)}"
        )
