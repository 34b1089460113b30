"""Batches from a durable pull consumer: what nats-py's `PullSubscription.fetch` does, minus its per-message cost.

nats-py's fetch waits for every message of a batch separately (`next_msg`: a uuid, a task and a timer per
message), which costs the projector more than folding the message. Here deliveries land in a buffer
from the subscription's callback and a batch is taken from that buffer; the event loop waits only when
the buffer is empty. The request protocol is nats-py's own, step for step (`_fetch_n`): a first
`no_wait` request for what is available now and, when that brought nothing, a lingering one until the
timeout. Deliveries that arrive after a fetch returned stay buffered for the next one, in order.
"""
from __future__ import annotations

import asyncio
import collections
import time
from typing import Any

import msgspec
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import api

_HEARTBEAT = api.StatusCode.CONTROL_MESSAGE.value
_NO_MESSAGES = api.StatusCode.NO_MESSAGES.value
_REQUEST_TIMEOUT = api.StatusCode.REQUEST_TIMEOUT.value
_TEMPORARY = (_NO_MESSAGES, api.StatusCode.CONFLICT.value, _REQUEST_TIMEOUT)
_json = msgspec.json.Encoder()


class Puller:
    """One inbox bound to a durable pull consumer of `stream`; `fetch` like `PullSubscription.fetch`."""

    def __init__(self, nc: NATS, stream: str, durable: str) -> None:
        self._nc = nc
        self._request_subject = f"{api.DEFAULT_PREFIX}.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self._inbox = nc.new_inbox()
        self._buffer: collections.deque[Msg] = collections.deque()
        self._wake: asyncio.Future[None] | None = None
        self._sub: Any = None

    @classmethod
    async def bind(cls, nc: NATS, stream: str, durable: str) -> Puller:
        puller = cls(nc, stream, durable)
        puller._sub = await nc.subscribe(puller._inbox, cb=puller._delivered,  # nats-py's pull limits
                                         pending_msgs_limit=512 * 1024, pending_bytes_limit=256 * 1024 * 1024)
        return puller

    async def unsubscribe(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()

    async def _delivered(self, msg: Msg) -> None:
        self._buffer.append(msg)
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    async def _next(self, timeout: float | None) -> Msg:
        """The next delivery (message or status); raises nats.errors.TimeoutError after `timeout` seconds."""
        if self._buffer:
            return self._buffer.popleft()
        if timeout is not None and timeout <= 0:
            raise nats.errors.TimeoutError
        self._wake = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(self._wake, timeout)
        except TimeoutError:
            if self._nc.is_closed:
                raise nats.errors.ConnectionClosedError from None
            raise nats.errors.TimeoutError from None
        finally:
            self._wake = None
        return self._buffer.popleft()

    async def _request(self, batch: int, expires: int | None = None, no_wait: bool = False) -> None:
        req: dict[str, Any] = {"batch": batch}
        if expires:
            req["expires"] = expires
        if no_wait:
            req["no_wait"] = True
        await self._nc.publish(self._request_subject, _json.encode(req), reply=self._inbox)
        await asyncio.sleep(0)

    async def fetch(self, batch: int, timeout: float) -> list[Msg]:
        """Up to `batch` messages in delivery order; raises nats.errors.TimeoutError when none came in time."""
        if self._nc.is_closed:
            raise nats.errors.ConnectionClosedError
        start = time.monotonic()

        def remaining() -> float:
            return timeout - (time.monotonic() - start)

        msgs: list[Msg] = []
        needed = batch
        while self._buffer and needed > 0:  # delivered after an earlier fetch returned (statuses were for it)
            msg = self._buffer.popleft()
            if not _status(msg):
                msgs.append(msg)
                needed -= 1
        if needed <= 0:
            return msgs
        got_any_response = False

        # First request: what is available now. `expires` only when nothing is buffered: the server
        # treats no_wait with expires as a lingering pull (see nats-py's `_fetch_n`).
        await self._request(needed, None if msgs else int(timeout * 1_000_000_000) - 100_000, no_wait=True)
        try:
            msg = await self._next(timeout)
        except TimeoutError:
            if msgs:
                return msgs
            raise
        status = _status(msg)
        if status == _HEARTBEAT:
            got_any_response = True
        elif _processable(status, msg):
            msgs.append(msg)
            needed -= 1
            try:
                for _ in range(needed):
                    msg = await self._next(remaining())
                    status = _status(msg)
                    if status in (_NO_MESSAGES, _REQUEST_TIMEOUT):
                        break
                    if status == _HEARTBEAT:
                        got_any_response = True
                        continue
                    if _processable(status, msg):
                        needed -= 1
                        msgs.append(msg)
            except TimeoutError:
                pass  # at least one message already arrived
        if msgs:
            return msgs

        # Second request: linger until the first message or the rest of the timeout.
        left = remaining()
        expires = int(left * 1_000_000_000) - 100_000
        if left <= 0 or expires <= 0:
            raise nats.errors.TimeoutError
        await self._request(needed, expires)
        while needed:
            try:
                msg = await self._next(remaining())
            except TimeoutError:
                if got_any_response:
                    raise nats.js.errors.FetchTimeoutError from None
                raise
            status = _status(msg)
            if status == _HEARTBEAT:
                got_any_response = True
                continue
            if not status:
                needed -= 1
                msgs.append(msg)
            break
        try:  # the rest of the batch, until the timeout
            for _ in range(needed):
                left = remaining()
                if left < 0:
                    return msgs
                msg = await self._next(left)
                status = _status(msg)
                if status == _HEARTBEAT:
                    got_any_response = True
                    continue
                if status in (_NO_MESSAGES, _REQUEST_TIMEOUT):
                    break
                if _processable(status, msg):
                    needed -= 1
                    msgs.append(msg)
        except TimeoutError:
            pass
        if not msgs and got_any_response:
            raise nats.js.errors.FetchTimeoutError
        return msgs


def _status(msg: Msg) -> str | None:
    headers = msg.headers
    return headers.get("Status") if headers else None


def _processable(status: str | None, msg: Msg) -> bool:
    """A message (True), a temporary status to skip (False); any other status is an error."""
    if not status:
        return True
    if status in _TEMPORARY:
        return False
    raise nats.js.errors.APIError.from_msg(msg)
