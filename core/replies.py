"""Replies to the log's own requests on one wildcard inbox: a future per append, a queue per direct get.

Kept apart from `core.log` because it is the one piece that knows how JetStream answers a PUB with a
reply subject (the ack body, a 503 status when no stream listens).
"""
from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import AsyncIterator, Iterator
from typing import Any

import msgspec
from nats.aio.client import Client as NATS

from core.stored import Unavailable

_ATTEMPT: contextvars.ContextVar[float | None] = contextvars.ContextVar("bosun_attempt", default=None)


@contextlib.contextmanager
def attempt_within(seconds: float) -> Iterator[None]:
    """Wait at most `seconds` for each answer to the log's requests made in this block (and in the tasks it
    starts): an append's ack, a direct get's next message, a leader read.

    Why: a request whose message reached a server just before it died (a `kill -9` of a stream leader, of
    the replica a direct get was routed to) is never answered; without a bound it waits the log's full
    timeout (10 s). A caller that retries anyway — the gateway rides out an election round after round,
    keeping its `Nats-Msg-Id`, so a round whose ack was lost is found as its own — gives up on such a round
    after `seconds` and sends the next one to whoever answers now."""
    token = _ATTEMPT.set(seconds)
    try:
        yield
    finally:
        _ATTEMPT.reset(token)


def bounded(timeout: float) -> float:
    """`timeout`, or less inside an `attempt_within` block."""
    limit = _ATTEMPT.get()
    return timeout if limit is None else min(timeout, limit)


class _ApiError(msgspec.Struct):
    code: int = 0
    err_code: int = 0
    description: str = ""


class PubAck(msgspec.Struct):
    seq: int = 0
    duplicate: bool = False
    error: _ApiError | None = None


class Replies:
    """Replies to our requests on one wildcard inbox: a future per append, a queue per direct get.

    What `js.publish` does, minus its per-request inbox bookkeeping, timeout wrapper and JSON-to-dataclass
    parsing (appends are the control plane's hottest path: a dozen per resource change); and direct gets
    without a subscription, a SUB and an UNSUB each (the gateway reads before every apply).
    """

    def __init__(self, nc: NATS, timeout: float) -> None:
        self.nc = nc
        self.timeout = timeout
        self.waiting: dict[str, asyncio.Future[PubAck]] = {}
        self.streams: dict[str, asyncio.Queue[Any]] = {}
        self._prefix: asyncio.Future[str] | None = None
        self._n = 0
        self._decode = msgspec.json.Decoder(PubAck).decode

    async def publish(self, subject: str, data: bytes, hdrs: dict[str, str]) -> PubAck:
        prefix = await self._inbox()
        self._n += 1
        reply = f"{prefix}{self._n}"
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[PubAck] = loop.create_future()
        self.waiting[reply] = fut
        timer = loop.call_later(bounded(self.timeout), _fail, fut, Unavailable("append not acknowledged in time"))
        try:
            await self.nc.publish(subject, data, reply=reply, headers=hdrs)
            return await fut
        finally:
            timer.cancel()
            del self.waiting[reply]

    @contextlib.asynccontextmanager
    async def stream(self) -> AsyncIterator[tuple[str, asyncio.Queue[Any]]]:
        """A reply subject and the queue every reply to it lands in, for as long as the block runs."""
        prefix = await self._inbox()
        self._n += 1
        reply = f"{prefix}{self._n}"
        queue: asyncio.Queue[Any] = asyncio.Queue()
        self.streams[reply] = queue
        try:
            yield reply, queue
        finally:
            del self.streams[reply]

    async def _inbox(self) -> str:
        if self._prefix is None:
            self._prefix = asyncio.get_running_loop().create_future()
            try:
                prefix = self.nc.new_inbox() + "."
                await self.nc.subscribe(prefix + "*", cb=self._on_reply)
                self._prefix.set_result(prefix)
            except BaseException as e:
                self._prefix.set_exception(e)
                self._prefix = None
                raise
        return await self._prefix

    async def _on_reply(self, msg: Any) -> None:
        queue = self.streams.get(msg.subject)
        if queue is not None:
            queue.put_nowait(msg)
            return
        fut = self.waiting.get(msg.subject)
        if fut is None or fut.done():
            return
        if not msg.data:  # a status instead of an ack: 503 = no stream listens on the subject
            status = (msg.headers or {}).get("Status", "")
            fut.set_exception(Unavailable(f"no stream answered (status {status})"))
            return
        try:
            fut.set_result(self._decode(msg.data))
        except msgspec.DecodeError as e:
            fut.set_exception(Unavailable(f"unreadable publish ack: {e}"))


def _fail(fut: asyncio.Future[Any], error: BaseException) -> None:
    if not fut.done():
        fut.set_exception(error)
