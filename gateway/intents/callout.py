"""nats-server's auth callout, answered by the gateway: a NATS client is its Bosun principal.

A client connects with its bearer token (`nats.connect(url, token=…, inbox_prefix="_INBOX.<principal>")`).
nats-server hands every connect of a user that is not one of Bosun's components to `$SYS.REQ.USER.AUTH`;
every gateway answers in one queue group: it authenticates the token exactly as HTTP does, and signs
the connection's permissions from RBAC (`permissions.py`). A wrong or missing token is refused at
connect and audited (aggregated, `gateway.admission.audit`). No gateway up: the connect times out and is
refused (components never need the callout: they are the server's `auth_users`).
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

import msgspec
import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from core import natsusers
from core.audit import ANONYMOUS, UNKNOWN_NS, AuditRecord
from gateway.admission.audit import Recorder, observe
from gateway.admission.auth import ADMIN, Authenticator, Principal
from gateway.admission.policy import PolicyIndex
from gateway.errors import ApiError
from gateway.intents import claims
from gateway.intents.permissions import Grant, grant

QUEUE = "bosun-callout"
_log = structlog.get_logger("bosun.callout")


class Callout:
    def __init__(self, nc: NATS, signer: claims.Signer, authenticator: Authenticator,
                 index: PolicyIndex | None, recorder: Recorder) -> None:
        self.nc = nc
        self.signer = signer
        self.authenticator = authenticator
        self.index = index
        self.recorder = recorder
        self._sub: Subscription | None = None

    async def start(self) -> None:
        self._sub = await self.nc.subscribe(natsusers.CALLOUT_SUBJECT, queue=QUEUE, cb=self._on_request)

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None

    async def _on_request(self, msg: Msg) -> None:
        if not msg.reply:
            return
        try:
            req = claims.decode_request(msg.data)
        except (ValueError, msgspec.DecodeError) as e:
            _log.warning("unreadable authorization request", error=str(e))
            return  # nothing to bind an answer to: the server times the connect out
        await self.nc.publish(msg.reply, self.answer(req))

    def answer(self, req: claims.Request) -> bytes:
        token = req.connect_opts.auth_token.strip()
        try:
            principal = self.authenticator.authenticate(f"Bearer {token}")
        except ApiError as e:
            self._refused(req, e)
            return self.signer.refuse(req, "invalid or missing Bosun token")
        g = grant(principal, self.index, hashlib.sha256(token.encode()).hexdigest())
        _log.info("nats client admitted", principal=principal.name, client=req.client_info.host,
                  cid=req.client_info.id, publish=len(g.permissions.publish),
                  subscribe=len(g.permissions.subscribe))
        return self.signer.allow(req, g.name, g.permissions)

    def _refused(self, req: claims.Request, error: ApiError) -> None:
        record = AuditRecord(time=time.time(), principal=ANONYMOUS, verb="connect", kind="", namespace=UNKNOWN_NS,
                             name=req.connect_opts.name[:253], decision="unauthenticated", reason=error.message,
                             code=error.code, status=error.status, source="nats", client=req.client_info.host)
        self.recorder.submit(record)
        observe(record)


def grant_of(authenticator: Authenticator, index: PolicyIndex | None) -> Callable[[str], Grant | None]:
    """principal name -> what a connection of it would be granted now (None: it no longer exists)."""

    def current(name: str) -> Grant | None:
        if name == ADMIN:
            return grant(Principal(ADMIN, admin=True), index, authenticator.admin_digest_hex())
        spec = index.principals.get(name) if index is not None else None
        if spec is None:
            return None
        return grant(Principal(name), index, spec.token_sha256)

    return current
