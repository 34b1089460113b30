"""Waiting for the cluster instead of dying: connect, create the stream and buckets, retry on what passes.

Why: on a JetStream cluster the components may start before the servers, or while the meta leader or a
stream leader is being elected; JetStream then answers with timeouts, "no responders" or 503s for a few
seconds. Every component waits through that with backoff (and says so once per attempt) rather than
exiting; only a stop ends the wait.
"""
from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client as NATS

from core import dropped
from core import log as corelog

log = structlog.get_logger("bosun.ready")
T = TypeVar("T")

TRANSIENT: tuple[type[BaseException], ...] = (
    nats.errors.Error, nats.js.errors.Error, corelog.Unavailable, TimeoutError, OSError,
)
"""What a cluster throws while a node is down or a leader is being elected: worth waiting through."""

MAX_BACKOFF = 5.0


def backoff(attempt: int, base: float = 0.1, cap: float = MAX_BACKOFF) -> float:
    """Exponential with full jitter: many components retrying at once do not stampede a new leader."""
    return float(random.uniform(0.5, 1.0) * min(cap, base * 2 ** min(attempt, 16)))


async def retrying(what: str, attempt: Callable[[], Awaitable[T]], stop: asyncio.Event | None = None,
                   deadline: float | None = None) -> T:
    """`attempt()` until it succeeds; transient errors are logged and retried with backoff.

    Raises the last error once `deadline` (seconds) has passed, or `Stopped` when `stop` is set first."""
    loop = asyncio.get_running_loop()
    give_up = None if deadline is None else loop.time() + deadline
    n = 0
    while True:
        try:
            return await attempt()
        except TRANSIENT as e:
            if give_up is not None and loop.time() >= give_up:
                raise
            delay = backoff(n)
            n += 1
            log.warning(f"{what}: waiting for the cluster", error=str(e) or type(e).__name__, retry_in=round(delay, 2))
            if stop is not None and await wait(stop, delay):
                raise Stopped(what) from e
            if stop is None:
                await asyncio.sleep(delay)


class Stopped(Exception):
    """The component was asked to stop while still waiting for the cluster."""


async def connect(url: str, name: str, stop: asyncio.Event | None = None, **options: Any) -> NATS:
    """`core.log.connect`, waiting for the first server of the seed list to come up; appends in flight
    when the connection drops fail at once, feeds renew their pull requests when it is back (`core.dropped`)."""
    options["disconnected_cb"] = dropped.chained(dropped.on_disconnect, options.get("disconnected_cb"))
    options["reconnected_cb"] = dropped.chained(dropped.on_reconnect, options.get("reconnected_cb"))
    return await retrying(f"{name} connect", lambda: corelog.connect(url, name, **options), stop)


async def ensure(lg: corelog.Log, stop: asyncio.Event | None = None) -> None:
    """`Log.ensure`, waiting for a JetStream meta leader (a cluster still forming answers with timeouts);
    registers `lg` with `core.dropped`."""
    dropped.watch(lg)
    await retrying("stream and buckets", lg.ensure, stop)


async def relay(outer: asyncio.Event, inner: asyncio.Event) -> None:
    """Set `inner` once `outer` is set (a run that may also end on its own, for its own reasons)."""
    await outer.wait()
    inner.set()


async def wait(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to `seconds`, waking early on stop; True when stopping.

    Not `asyncio.wait_for`: on Python 3.11 it can swallow a cancellation, and a "crashed" controller
    host that keeps running would compete with its successor.
    """
    if stop.is_set():
        return True
    waiter = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({waiter}, timeout=seconds)
    finally:
        waiter.cancel()
    return stop.is_set()
