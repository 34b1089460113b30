"""Riding out a leader election: an apply that meets an unavailable log is tried again until a deadline.

Why: when a JetStream node dies, the stream's leader is re-elected within a few seconds, and every
append meanwhile fails (no responders, timeouts). A client should see a 202 once the new leader is up,
not a 503 for a blip. Safe to repeat: each round re-reads and re-fences, and the append keeps its
per-request `Nats-Msg-Id` (a round whose ack was lost is found as ours, by `Log.append` or by the next
round's read: `requests.py`). Only after `within` seconds (BOSUN_APPEND_DEADLINE, default 15) does the caller
get the 503.
"""
from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog

from core.log import Unavailable
from core.settings import DEFAULTS

T = TypeVar("T")
log = structlog.get_logger("bosun.gateway")


DEADLINE = DEFAULTS.append_deadline
"""Seconds an apply rides out an unavailable log by default; the gateway's entry passes BOSUN_APPEND_DEADLINE."""


async def through_elections(attempt: Callable[[], Awaitable[T]], within: float = DEADLINE) -> T:
    loop = asyncio.get_running_loop()
    give_up = loop.time() + within
    delay = 0.05
    while True:
        try:
            return await attempt()
        except Unavailable as e:
            pause = random.uniform(0.5, 1.0) * delay
            if loop.time() + pause >= give_up:
                raise
            log.info("log unavailable; retrying the apply", error=str(e), retry_in=round(pause, 3))
            await asyncio.sleep(pause)
            delay = min(1.0, delay * 2)
