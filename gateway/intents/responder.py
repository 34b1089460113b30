"""The NATS door: `bosun.intent.<kind>.<ns>.<name>` requests, answered exactly as HTTP would answer.

A queue subscription (group `bosun-gateway`) so any number of gateways share the load. Each request is
handled in its own task (bounded), so one slow append never stalls the others. The reply body is the
HTTP response body; its status rides in the `Bosun-Status` header.
"""
from __future__ import annotations

import asyncio
import functools
from typing import Any

import msgspec
import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from core import headers as H
from core import subjects
from gateway.admission.admit import Action, Admission, Intent, Outcome
from gateway.errors import ApiError, malformed
from gateway.metrics import INTENTS

QUEUE = "bosun-gateway"
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
                  if_match=h.get("if-match"), traceparent=h.get(H.TRACEPARENT), source="nats")


async def answer(admission: Admission, subject: str, data: bytes, headers: dict[str, str] | None) -> Outcome:
    try:
        intent = intent_of(subject, data, headers)
    except ApiError as e:
        return Outcome(e.status, e.body)
    return await admission.handle(intent)


class Responder:
    def __init__(self, nc: NATS, admission: Admission, concurrency: int = CONCURRENCY) -> None:
        self.nc = nc
        self.admission = admission
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
        try:
            outcome = await answer(self.admission, msg.subject, msg.data, msg.headers)
        except Exception as e:
            _log.exception("intent failed", subject=msg.subject, error=repr(e))
            error = ApiError(500, "Internal", "internal server error")
            outcome = Outcome(error.status, error.body)
        _intents(outcome.status).inc()
        if msg.reply:
            await self.nc.publish(msg.reply, _encoder.encode(outcome.body),
                                  headers={H.STATUS: str(outcome.status), "Content-Type": "application/json"})


@functools.cache
def _intents(status: int) -> Any:
    return INTENTS.labels(str(status))


def reply_status(headers: dict[str, Any] | None) -> int:
    """The HTTP-equivalent status of an intent reply (for clients and tests)."""
    return int((headers or {}).get(H.STATUS, "0"))
