"""The NATS door: `bosun.intent.<kind>.<ns>.<name>` requests, answered exactly as HTTP would answer.

A queue subscription (group `bosun-gateway`) so any number of gateways share the load. Each request is
handled in its own task (bounded), so one slow append never stalls the others. The reply body is the
HTTP response body; its status rides in the `Bosun-Status` header.

Replies go only to the requester's own inbox: with the auth callout, a client is its principal and its
inbox is `_INBOX.<principal>`; a request is answered only when its token names a principal and its reply
subject lies in that principal's inbox. Anything else is refused unprocessed and audited, never
answered (an unauthenticated request has no inbox of its own). Otherwise a client could make the
gateway publish, with its own rights, onto a log subject, a KV lease, a system subject, or another
client's inbox. Without the callout (a NATS without Bosun's users), replies must lie under
`reply_prefix`.
"""
from __future__ import annotations

import asyncio
import functools
import re
from typing import Any

import msgspec
import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from core import headers as H
from core import natsserver, natsusers, subjects
from gateway.admission.admit import Action, Admission, Intent, Outcome
from gateway.errors import ApiError, malformed
from gateway.metrics import INTENTS

QUEUE = "bosun-gateway"
_PRINCIPAL_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
"""A Principal's name (`actors.governance.specs.Name`): the second token of a client's inbox."""
CONCURRENCY = 64
ACTION = "Bosun-Action"
_encoder = msgspec.json.Encoder()
_log = structlog.get_logger("bosun.intents")


def intent_of(subject: str, data: bytes, headers: dict[str, str] | None) -> Intent:
    """The Intent of a request; ApiError 400 for a subject that is not `bosun.intent.<kind>.<ns>.<name>`."""
    parts = subject.split(".")
    if len(parts) != 5 or parts[:2] != ["bosun", "intent"]:
        raise malformed(f"intent subjects are bosun.intent.<kind>.<namespace>.<name>, got {subject!r}", "$subject")
    h = {k.lower(): v for k, v in (headers or {}).items()}
    asked = h.get(ACTION.lower(), "").strip().lower()
    action: Action = "delete" if asked == "delete" else "retry" if asked == "retry" else "apply"
    return Intent(action=action, kind=parts[2], namespace=parts[3], name=parts[4], body=data,
                  content_type=h.get("content-type"), authorization=h.get(H.AUTHORIZATION.lower()),
                  if_match=h.get("if-match"), traceparent=h.get(H.TRACEPARENT),
                  idempotency_key=h.get("idempotency-key"), source="nats")


async def answer(admission: Admission, subject: str, data: bytes, headers: dict[str, str] | None) -> Outcome:
    try:
        intent = intent_of(subject, data, headers)
    except ApiError as e:  # not even an address: audited under the subject's tokens, as far as they go
        parts = (subject.split(".") + ["?"] * 5)[2:5]
        h = {k.lower(): v for k, v in (headers or {}).items()}
        return admission.refuse(Intent(action="apply", kind=parts[0], namespace=parts[1], name=parts[2],
                                       authorization=h.get(H.AUTHORIZATION.lower()), source="nats"), e)
    return await admission.handle(intent)


def reply_allowed(reply: str, prefix: str) -> bool:
    """A reply subject inside `prefix`'s inbox space, with no wildcard a publish would refuse anyway."""
    return reply.startswith(prefix + ".") and not any(c in reply for c in "*> \t\r\n")


class Responder:
    def __init__(self, nc: NATS, admission: Admission, concurrency: int = CONCURRENCY,
                 reply_prefix: str = natsserver.DEFAULT_INBOX, principal_inboxes: bool = False) -> None:
        self.nc = nc
        self.admission = admission
        self.reply_prefix = reply_prefix
        self.principal_inboxes = principal_inboxes
        """Replies go only to `_INBOX.<the request token's principal>` (clients connect as principals)."""
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._sub: Subscription | None = None

    async def start(self) -> None:
        self._sub = await self.nc.subscribe(subjects.INTENTS, queue=QUEUE, cb=self._on_message)

    async def stop(self) -> None:
        """Stop taking requests, then finish the ones in flight (their writes may already be durable)."""
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _on_message(self, msg: Msg) -> None:
        await self._slots.acquire()
        task = asyncio.create_task(self._handle(msg))
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._slots.release()

    async def _handle(self, msg: Msg) -> None:
        if msg.reply:
            prefix = self._inbox_of(msg, msg.reply) if self.principal_inboxes else self.reply_prefix
            if not reply_allowed(msg.reply, prefix):
                await self._refuse_reply(msg, prefix)
                return
        try:
            outcome = await answer(self.admission, msg.subject, msg.data, msg.headers)
        except Exception as e:  # noqa: BLE001 - a bug must still answer, like HTTP's 500
            _log.exception("intent failed", subject=msg.subject, error=repr(e))
            error = ApiError(500, "Internal", "internal server error")
            outcome = Outcome(error.status, error.body)
        _intents(outcome.status).inc()
        if msg.reply:
            await self.nc.publish(msg.reply, _encoder.encode(outcome.body),
                                  headers={H.STATUS: str(outcome.status), "Content-Type": "application/json"})


    def _inbox_of(self, msg: Msg, reply: str) -> str:
        """The inbox prefix of the principal the request's token names. Without a valid token the request
        has no principal: its answer (a 401, nothing else) may go to any client's inbox `_INBOX.<name>`,
        never outside the client inbox space (a client that forgot the header is told so, not left to
        time out; the 401 says nothing about anyone)."""
        h = {k.lower(): v for k, v in (msg.headers or {}).items()}
        try:
            principal = self.admission.authenticator.authenticate(h.get(H.AUTHORIZATION.lower()))
        except ApiError:
            name = reply.split(".")[1] if reply.count(".") >= 2 else ""
            return natsusers.client_inbox(name) if _PRINCIPAL_NAME.fullmatch(name) else natsusers.CLIENT_INBOX + ".-"
        return natsusers.client_inbox(principal.name)

    async def _refuse_reply(self, msg: Msg, prefix: str) -> None:
        """Audit a request whose reply subject is not the requester's inbox; nothing is published."""
        _log.warning("intent refused: reply subject outside the requester's inbox", subject=msg.subject,
                     reply=msg.reply[:200])
        self._refuse(msg, ApiError(400, "ReplySubject", f"replies go only to inboxes under {prefix}.>", []))

    def _refuse(self, msg: Msg, error: ApiError) -> None:
        try:
            intent = intent_of(msg.subject, b"", msg.headers)
        except ApiError:
            intent = Intent(action="apply", kind="?", namespace="?", name="?", source="nats")
        self.admission.refuse(intent, error)
        _intents(error.status).inc()


@functools.cache
def _intents(status: int) -> Any:
    return INTENTS.labels(str(status))


def reply_status(headers: dict[str, Any] | None) -> int:
    """The HTTP-equivalent status of an intent reply (for clients and tests)."""
    return int((headers or {}).get(H.STATUS, "0"))
