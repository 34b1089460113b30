"""The partition owner: which partitions this host holds a lease on, keeping them, and letting go.

Leases live in a JetStream KV bucket (`actors.leases`); renewal runs on its own loop so a long flush
never lets them expire. A partition whose lease is lost is handed to `on_lost` at once: every part of
the host drops what it holds for it.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import nats.errors
import structlog

from actors.leases import Leases
from actors.partitions import partition_of
from core.names import Ref

log = structlog.get_logger("bosun.controller")

RENEW_SECONDS = 4.0

Wait = Callable[[asyncio.Event, float], Awaitable[bool]]


class Ownership:
    def __init__(self, leases: Leases, on_lost: Callable[[set[int]], None]) -> None:
        self.leases = leases
        self.partitions = leases.partitions
        self.on_lost = on_lost

    @property
    def owned(self) -> set[int]:
        return self.leases.owned

    def owns(self, ref: Ref) -> bool:
        return partition_of(ref, self.partitions) in self.leases.revisions

    async def acquire(self, stop: asyncio.Event, wait: Wait, host_id: str) -> bool:
        """Wait until at least one partition is ours; False when stopped first."""
        while not await self.leases.acquire():
            log.info("waiting for partition leases", host=host_id)
            if await wait(stop, 2.0):
                return False
        return True

    async def renew(self, stop: asyncio.Event, wait: Wait) -> None:
        """Lease renewal on its own loop: a long flush must never let our partitions expire."""
        while not await wait(stop, RENEW_SECONDS):
            try:
                lost = await self.leases.renew()
            except nats.errors.Error as e:
                log.warning("lease renewal failed; retrying", error=str(e))
                continue
            if lost:
                log.warning("partition leases lost; stopping them", partitions=sorted(lost))
                self.on_lost(lost)

    async def release(self) -> None:
        await self.leases.release()
