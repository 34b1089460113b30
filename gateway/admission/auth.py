"""Who is calling, and may they? Authentication by bearer token, authorization behind a small protocol.

Tokens are compared as SHA-256 digests with `hmac.compare_digest`, so neither their length nor their
content leaks through timing. Only the principal's name ever reaches logs, headers and the audit trail.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from core.names import Ref
from gateway.errors import forbidden, unauthorized

Verb = Literal["apply", "delete", "get", "list", "watch", "history", "diff", "rebuild", "exec", "logs"]
ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    name: str
    admin: bool = False


class Authorizer(Protocol):
    """Decides whether `principal` may `verb` on `ref` (None = a collection, e.g. list or watch).

    Returns None when allowed, else the reason for the denial. RBAC (Role, RoleBinding) plugs in here.
    """

    def denial(self, principal: Principal, verb: Verb, kind: str, ref: Ref | None) -> str | None: ...


class AdminOnly:
    """The policy until RBAC exists: the admin may do everything, nobody else anything."""

    def denial(self, principal: Principal, verb: Verb, kind: str, ref: Ref | None) -> str | None:
        return None if principal.admin else f"{principal.name} may not {verb} {kind}"

    def grants_any(self, principal: Principal) -> bool:
        return principal.admin


def grants_any(authorizer: Authorizer, principal: Principal) -> bool:
    """False only when `principal` can certainly do nothing at all (no role bound): lets a route refuse
    before it parses a body. Authorizers without `grants_any` are assumed to grant something."""
    check = getattr(authorizer, "grants_any", None)
    return True if check is None else bool(check(principal))


class Authenticator:
    """Maps `Authorization: Bearer <token>` to a principal; the admin token is the token file's content."""

    def __init__(self, admin_token: str) -> None:
        if not admin_token:
            raise ValueError("the admin token must not be empty")
        self._admin = _digest(admin_token)

    def admin_digest_hex(self) -> str:
        """SHA-256 of the admin token (a NATS connection's grant changes when the token does)."""
        return self._admin.hex()

    @classmethod
    def from_file(cls, token_file: Path) -> Authenticator:
        return cls(token_file.read_text().strip())

    def authenticate(self, authorization: str | None) -> Principal:
        scheme, _, token = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized()
        if hmac.compare_digest(_digest(token.strip()), self._admin):
            return Principal(ADMIN, admin=True)
        raise unauthorized("invalid bearer token")


def authorize(authorizer: Authorizer, principal: Principal, verb: Verb, kind: str, ref: Ref | None) -> None:
    reason = authorizer.denial(principal, verb, kind, ref)
    if reason is not None:
        raise forbidden(reason)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
