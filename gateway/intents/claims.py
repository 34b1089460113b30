"""The JWTs of nats-server's auth callout, written directly (no maintained Python nats-jwt library).

nats-server sends an `authorization_request` JWT (signed by the server's nkey) naming the connecting
client's options and the user nkey it generated for this connection; the callout answers with an
`authorization_response` JWT for that server and user, carrying a `user` JWT (the connection's name and
permissions) or an error. Both answers are signed by the account key the server config names as the
callout's `issuer` (ed25519 over `header.payload`, base64url without padding, header alg
`ed25519-nkey`). The server checks the issuer, the audience and the user key; nothing else is needed.
"""
from __future__ import annotations

import base64
import hashlib
import time
from typing import Any

import msgspec
import nkeys

HEADER = {"typ": "JWT", "alg": "ed25519-nkey"}
USER_TTL = 24 * 3600
"""A connection's permissions outlive no day; revocation closes it much sooner (`revocation.py`)."""
_encode = msgspec.json.Encoder(order="sorted").encode


class ConnectOpts(msgspec.Struct, frozen=True):
    auth_token: str = ""
    user: str = ""
    name: str = ""


class ClientInfo(msgspec.Struct, frozen=True):
    host: str = ""
    id: int = 0
    name: str = ""


class ServerId(msgspec.Struct, frozen=True):
    id: str = ""
    name: str = ""


class Request(msgspec.Struct, frozen=True):
    server_id: ServerId
    user_nkey: str
    client_info: ClientInfo = ClientInfo()
    connect_opts: ConnectOpts = ConnectOpts()


class _RequestClaims(msgspec.Struct, frozen=True):
    nats: Request


_request = msgspec.json.Decoder(_RequestClaims)


class Permissions(msgspec.Struct, frozen=True):
    """What one client connection may publish and subscribe to (nats-server's user permissions)."""

    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    deny_subscribe: tuple[str, ...] = ()

    def digest(self) -> str:
        return hashlib.sha256(_encode(self)).hexdigest()[:12]


def decode_request(token: bytes | str) -> Request:
    """The request's claims. Its signature is not checked: only nats-server may publish on the callout
    subject (`core.natsusers`), and the answer is bound to the request's server and user key anyway."""
    raw = token.decode() if isinstance(token, bytes) else token
    parts = raw.strip().split(".")
    if len(parts) != 3:
        raise ValueError("an authorization request is a JWT: three dot-separated parts")
    return _request.decode(_unb64(parts[1])).nats


class Signer:
    """Signs callout answers with the issuer account key (`nats-credentials.json`, `callout.seed`)."""

    def __init__(self, seed: str) -> None:
        self._kp = nkeys.from_seed(bytearray(seed.encode()))
        self.issuer = self._kp.public_key.decode()

    def allow(self, req: Request, name: str, perms: Permissions, account: str = "$G",
              ttl: int = USER_TTL) -> bytes:
        """The answer that lets the connection in as `name` with `perms`, in `account`."""
        now = int(time.time())
        # An empty allow list is no restriction at all to nats-server: a principal that may publish
        # nothing is denied everything instead.
        pub: dict[str, Any] = {"allow": list(perms.publish)} if perms.publish else {"deny": [">"]}
        sub: dict[str, Any] = {"allow": list(perms.subscribe)}
        if perms.deny_subscribe:
            sub["deny"] = list(perms.deny_subscribe)
        user = self._jwt({"sub": req.user_nkey, "aud": account, "name": name, "iat": now, "exp": now + ttl,
                          "nats": {"pub": pub, "sub": sub, "subs": -1, "data": -1, "payload": -1,
                                   "type": "user", "version": 2}})
        return self._answer(req, {"jwt": user})

    def refuse(self, req: Request, reason: str) -> bytes:
        return self._answer(req, {"error": reason})

    def _answer(self, req: Request, body: dict[str, Any]) -> bytes:
        claims = {"sub": req.user_nkey, "aud": req.server_id.id, "iat": int(time.time()),
                  "nats": {**body, "type": "authorization_response", "version": 2}}
        return self._jwt(claims).encode()

    def _jwt(self, claims: dict[str, Any]) -> str:
        claims = {**claims, "iss": self.issuer}
        claims["jti"] = base64.b32encode(hashlib.sha256(_encode(claims)).digest()).decode().rstrip("=")
        signed = f"{_b64(_encode(HEADER))}.{_b64(_encode(claims))}"
        return f"{signed}.{_b64(self._kp.sign(signed.encode()))}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
