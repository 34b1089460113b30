"""The parts of a driver's shell (the loop around its world) that every driver runs the same way.

`command_of` reads a command off the feed or terminates it (a poison message must not stall a driver);
`cause_of` links the observations a command causes to it (trace context and the command's sequence);
`retrying` waits out an unreachable log (unsent observations stay in the outbox, so waiting loses
nothing); `cancel_all` ends the shell's loops on stop.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import nats.errors
import structlog

from core import codec, subjects
from core import headers as H
from core import log as corelog
from core.feed import Delivery, Feed
from core.names import Ref
from dataplane.base.ledger import Cause

RETRY_CAP = 5.0
logger = structlog.get_logger()


async def command_of(feed: Feed, delivery: Delivery) -> tuple[Ref, Any] | None:
    """The resource and decoded command of `delivery`; None (and the message terminated) when unreadable."""
    stored = delivery.stored
    try:
        return subjects.parse(stored.subject).ref, codec.decode_command(stored.data, stored.headers)
    except Exception as e:  # noqa: BLE001 - a poison message must not stall the driver
        logger.error("undecodable command", subject=stored.subject, seq=stored.seq, error=str(e))
        await feed.term(delivery)
        return None


def trace_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k in (H.TRACEPARENT, H.TRACESTATE)}


def cause_of(traced: dict[str, str], seq: int) -> Cause:
    """The headers every observation caused by the command at `seq` carries."""
    return Cause(traced | {H.CAUSES: str(seq)})


async def cancel_all(tasks: list[asyncio.Task[Any]]) -> None:
    """Cancel and await `tasks`, cancelling again any that swallowed it.

    Python 3.11's `asyncio.wait_for` (used inside nats-py) drops a cancellation that races with its inner
    future completing; a single cancel could leave a loop running forever after `stop`.
    """
    pending = set(tasks)
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.5)
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            logger.debug("loop ended with an error during shutdown", task=task.get_name(), error=str(task.exception()))


async def retrying(what: str, action: Callable[[], Awaitable[int]]) -> int:
    """Run `action` until the log accepts it: unsent observations stay queued, so waiting loses nothing."""
    attempt = 0
    while True:
        try:
            return await action()
        except (corelog.Unavailable, nats.errors.Error) as e:
            attempt += 1
            delay = min(RETRY_CAP, 0.1 * 2**attempt)
            logger.warning("log unavailable, retrying", action=what, attempt=attempt, retry_in=delay, error=str(e))
            await asyncio.sleep(delay)

