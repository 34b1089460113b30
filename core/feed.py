"""A durable pull consumer read continuously: pull requests kept topped up, messages handed over in the
batches they arrived in.

nats-py's `fetch` pays a task, a uuid and a timer per delivered message (`next_msg`), and `msg.metadata`
parses the ack subject into datetimes. Every message of the log is consumed by the controller and the
projector (commands by the driver too), so those loops read through this instead: one callback
subscription, outstanding pull requests counted and renewed before they run dry, the stream sequence
and time read straight off the ack subject. Acks are explicit: under `AckPolicy.ALL` (the controller and
the projector) one `ack` of a delivery covers every earlier one; the driver acks each command.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import msgspec
import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client as NATS
from nats.js import api

from core import headers as H
from core.log import StoredMessage

log = structlog.get_logger("bosun.feed")


class Delivery(NamedTuple):
    """One delivered message: what it is, and the subject its ack goes to."""

    stored: StoredMessage
    reply: str

    @property
    def consumer_seq(self) -> int:
        """The consumer's own count of deliveries (redeliveries included): contiguous unless one was lost."""
        tokens = self.reply.split(".")
        return int(tokens[6 if len(tokens) == 9 else 8])

    @property
    def stream_seq(self) -> int:
        """The sequence in the stream the consumer reads (a copy's own, when `stored` is restamped)."""
        tokens = self.reply.split(".")
        return int(tokens[5 if len(tokens) == 9 else 7])

    @property
    def pending(self) -> int:
        """Messages of the consumer's filter left after this one when it was sent (its lag then)."""
        return int(self.reply.rsplit(".", 1)[1])


async def ensure_consumer(jsm: Any, stream: str, config: api.ConsumerConfig) -> None:
    """Create the durable consumer unless it exists (its position survives restarts)."""
    try:
        await jsm.consumer_info(stream, config.durable_name)
    except nats.js.errors.NotFoundError:
        await jsm.add_consumer(stream, config)


class Feed:
    def __init__(self, nc: NATS, stream: str, durable: str, *, batch: int = 512, expires: float = 2.0,
                 restamp: Callable[[StoredMessage], StoredMessage] | None = None,
                 wake: asyncio.Event | None = None) -> None:
        self.nc = nc
        self.restamp = restamp
        """A copy's message as its origin holds it (the partitioned copy's, `core.partitioned`)."""
        self.wake = wake
        """Set on every arrival: one reader of several feeds waits on it."""
        self.stream = stream
        self.durable = durable
        self.batch = batch
        self.expires = expires
        self.buffer: list[Delivery] = []
        self.outstanding = 0
        """Messages asked for by pull requests still open on the server (not delivered, not expired)."""
        self.last_heard = 0.0
        self._waiter: asyncio.Future[None] | None = None
        self._gone: str | None = None
        """Why the consumer cannot deliver any more (deleted, never existed): `take` raises it."""
        self._sub: Any = None
        self._inbox = ""
        self._next = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self._request = msgspec.json.Encoder()

    async def start(self) -> None:
        self._inbox = self.nc.new_inbox()
        self._sub = await self.nc.subscribe(self._inbox, cb=self._on_msg)

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None

    async def take(self, limit: int, timeout: float) -> list[Delivery]:
        """Up to `limit` messages, waiting at most `timeout` for the first; [] when none came."""
        if limit <= 0:
            return []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self._gone is not None and not self.buffer:
                raise nats.js.errors.NotFoundError(description=self._gone)
            await self._top_up(limit)  # again after every wake-up: an expired request is renewed at once
            remaining = deadline - loop.time()
            if self.buffer or remaining <= 0:
                break
            waiter = self._waiter = loop.create_future()
            timer = loop.call_later(remaining, _settle, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
        taken = self.buffer[:limit]
        del self.buffer[:limit]
        return taken

    async def revive(self, jsm: Any) -> bool | None:
        """After `take` raised NotFoundError: does the consumer exist? True: it does (it was only
        leaderless, as during an election after a node loss) and pulling resumes; False: it is gone;
        None: the cluster cannot tell yet (pulling resumes, and asks again if it still gets no answer)."""
        try:
            await jsm.consumer_info(self.stream, self.durable)
        except nats.js.errors.NotFoundError:
            return False
        except nats.errors.Error as e:
            log.warning("consumer unreachable", durable=self.durable, error=str(e) or type(e).__name__)
            self._gone, self.outstanding = None, 0
            return None
        self._gone, self.outstanding = None, 0
        return True

    async def ack(self, delivery: Delivery) -> None:
        await self.nc.publish(delivery.reply, b"+ACK")

    async def nak(self, delivery: Delivery) -> None:
        """Hand it back for redelivery now rather than after the ack wait."""
        await self.nc.publish(delivery.reply, b"-NAK")

    async def term(self, delivery: Delivery) -> None:
        """Never redeliver it (a message no one can ever process)."""
        await self.nc.publish(delivery.reply, b"+TERM")

    async def _top_up(self, room: int) -> None:
        """Ask for more before the open requests run dry, never for more than the caller has room for."""
        now = time.monotonic()
        if self.outstanding and now - self.last_heard > self.expires + 1.0:
            self.outstanding = 0  # requests lost with a connection or a leader change: ask again
        want = min(self.batch, room - len(self.buffer) - self.outstanding, 2 * self.batch - self.outstanding)
        if want <= 0 or (self.outstanding and want < self.batch // 2):
            return
        self.outstanding += want
        self.last_heard = now
        request = {"batch": want, "expires": int(self.expires * 1e9)}
        await self.nc.publish(self._next, self._request.encode(request), reply=self._inbox)

    async def _on_msg(self, msg: Any) -> None:
        self.last_heard = time.monotonic()
        hdrs = msg.headers
        if not msg.reply:  # a status: the end of a pull request (408 expired, 409 ...) or a heartbeat
            status = hdrs.get("Status", "") if hdrs else ""
            if status in ("408", "409"):
                left = hdrs.get("Nats-Pending-Messages")
                self.outstanding = max(0, self.outstanding - int(left)) if left else 0
                if status == "409":
                    why = hdrs.get("Description", "")
                    log.warning("pull request ended", durable=self.durable, description=why)
                    if "deleted" in why.lower():
                        self._gone = why
            elif status == "503":  # nobody answers pull requests: the consumer does not exist
                self.outstanding = 0
                self._gone = f"consumer {self.durable} not found"
            elif status == "404":
                self.outstanding = 0
            self._wake()
            return
        self.outstanding = max(0, self.outstanding - 1)
        stored = stored_from_delivery(msg.subject, msg.reply, hdrs or {}, msg.data)
        self.buffer.append(Delivery(stored if self.restamp is None else self.restamp(stored), msg.reply))
        self._wake()

    def _wake(self) -> None:
        if self.wake is not None:
            self.wake.set()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


def _settle(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def stored_from_delivery(subject: str, reply: str, hdrs: dict[str, str], data: bytes) -> StoredMessage:
    """The stream sequence and time from the ack subject: `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.
    <cseq>.<nanos>.<pending>`, or the v2 form with `<domain>.<account hash>.` before the stream."""
    tokens = reply.split(".")
    off = 0 if len(tokens) == 9 else 2
    when = hdrs.get(H.TIME)
    if when:
        return StoredMessage(int(tokens[5 + off]), subject, hdrs, data, float(when))
    stamp = datetime.datetime.fromtimestamp(int(tokens[7 + off]) / 1e9, datetime.UTC)  # as nats-py
    return StoredMessage(int(tokens[5 + off]), subject, hdrs, data, stamp.timestamp())
