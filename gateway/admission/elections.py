"""Riding out a leader election: an apply that meets an unavailable log is tried again until a deadline.

Why: when a JetStream node dies, the stream's leader is re-elected within a few seconds, and every
append meanwhile fails (no responders, timeouts). A client should see a 202 once the new leader is up,
not a 503 for a blip. Safe to repeat: each round re-reads and re-fences, and the append keeps its
per-request `Nats-Msg-Id` (a round whose ack was lost is found as ours, by `Log.append` or by the next
round's read: `requests.py`). Only after `within` seconds (BOSUN_APPEND_DEADLINE, default 15) does the caller
get the 503.

Each round waits at most ATTEMPT seconds for any one answer (`core.log.attempt_within`): a round whose append
or read went to the server that was just killed is never answered, and used to hold the apply for the log's
whole timeout (10 s: a client with a 5 s timeout saw it hang, then its next request hang behind the same
dead route). Rounds retry at most RETRY_CAP apart, so an apply lands within about that of the new leader's
election (nats-server elects one 4-9 s after the old one's last heartbeat; its timers are fixed).
"""
from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog

from core.log import Unavailable, attempt_within
from core.settings import DEFAULTS

T = TypeVar("T")
log = structlog.get_logger("bosun.gateway")


DEADLINE = DEFAULTS.append_deadline
"""Seconds an apply rides out an unavailable log by default; the gateway's entry passes BOSUN_APPEND_DEADLINE."""
ATTEMPT = 2.0
"""Seconds one round waits for an answer (an ack, a read) before it counts as unavailable and is sent again."""
RETRY_CAP = 0.5
"""The longest pause between rounds (exponential from 50 ms, jittered)."""


async def through_elections(attempt: Callable[[], Awaitable[T]], within: float = DEADLINE) -> T:
    loop = asyncio.get_running_loop()
    give_up = loop.time() + within
    delay = 0.05
    while True:
        try:
            with attempt_within(min(ATTEMPT, max(0.1, give_up - loop.time()))):
                return await attempt()
        except Unavailable as e:
            pause = random.uniform(0.5, 1.0) * delay
            if loop.time() + pause >= give_up:
                raise
            log.info("log unavailable; retrying the apply", error=str(e), retry_in=round(pause, 3))
            await asyncio.sleep(pause)
            delay = min(RETRY_CAP, delay * 2)
