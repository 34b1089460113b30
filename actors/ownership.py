"""The partition owner: which partitions this host holds a lease on, sharing them fairly, letting go.

Leases live in a JetStream KV bucket (`actors.leases`); renewal runs on its own loop so a long flush
never lets them expire. Every renewal also publishes this host's presence (`host.<id>`: partitions,
lease expiry, lag, actors — the ops view) and reads the whole board in one direct get, so each host
holds about P/N partitions (`actors.balance`):

- more than its share (a host joined): the excess is dropped (`on_lost`) and released once the decisions
  already under way for it are written (`settled`: the next owner's catch-up must find them in the log,
  or it decides on a state missing our last messages); if they are not done soon, the leases are left
  to run out instead;
- less than its share while partitions are free (a host left or died), once its run has caught up: it
  takes their leases at once (a dead host's partitions are looked at exactly when its leases run out,
  `balance.next_expiry`), then
  `on_gain` — the host restarts its consumer from the checkpoints of the larger set (a partition's
  history must be folded before its actors decide, and a fresh start does exactly that). Until then the
  partitions are leased but not `active`: this run neither decides for them nor checkpoints them.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import structlog

from actors import balance
from actors.leases import Leases
from actors.partitions import partition_of
from core import log as corelog
from core.names import Ref
from core.ready import TRANSIENT

log = structlog.get_logger("bosun.controller")

Wait = Callable[[asyncio.Event, float], Awaitable[bool]]


class Ownership:
    def __init__(self, leases: Leases, on_lost: Callable[[set[int]], None], lg: corelog.Log | None = None,
                 on_gain: Callable[[], None] | None = None,
                 status: Callable[[], dict[str, Any]] | None = None, kinds: list[str] | None = None,
                 settled: Callable[[set[int]], Awaitable[set[int]]] | None = None, serving: bool = True) -> None:
        self.leases = leases
        self.kinds = kinds or []
        self.partitions = leases.partitions
        self.on_lost = on_lost
        self.lg = lg
        self.on_gain = on_gain
        self.settled = settled
        """Waits (bounded) for the running decisions of dropped partitions; those still running."""
        self.status = status
        self.serving = serving
        """The run has caught up: only then do free partitions make it start over (`on_gain`). A gain during a
        run's start would start over a run that never served: two hosts whose starts outlast the TTL (a nats
        node lost, elections under way) took each other's lapsed partitions that way for minutes."""
        self.hosts = 1
        """Live hosts seen on the board at the last renewal (this one included)."""
        self.active: set[int] = set()
        """The partitions this run serves: leased at its start, less those lost since (never those gained)."""
        self.wake_at: float | None = None
        """When another host's lease or presence runs out next (from the last board read)."""

    @property
    def owned(self) -> set[int]:
        return self.active

    @property
    def renew_seconds(self) -> float:
        return max(0.2, self.leases.ttl / 5)

    def owns(self, ref: Ref) -> bool:
        return partition_of(ref, self.partitions) in self.active

    def lapsing(self) -> bool:
        """Our leases may be taken by another host within a margin (renewals are late: NATS is slow, or this
        process was): decide and write nothing more in this run (`Leases.lapse_at`)."""
        return self.leases.lapsing()

    async def acquire(self, stop: asyncio.Event, wait: Wait, host_id: str) -> bool:
        """Wait until at least one partition is ours (up to a fair share); False when stopped first."""
        while True:
            try:
                board = await self._board()
                if not balance.held_by(board, host_id, self.partitions):
                    # A new host shows itself first, so the others make room. One starting over (it gained
                    # partitions) takes its own back first: a presence holding nothing would be a lie.
                    await self.announce()
                    board = await self._board()
                await self.leases.acquire(self._share(board), board)
            except TRANSIENT as e:
                log.warning("lease board unavailable; retrying", host=host_id, error=str(e) or type(e).__name__)
            if self.leases.owned:
                self.active = set(self.leases.owned)
                await self._announce_quietly()
                return True
            log.info("waiting for partition leases", host=host_id)
            if await wait(stop, min(1.0, self.renew_seconds)):
                return False

    async def renew(self, stop: asyncio.Event, wait: Wait) -> None:
        """Lease renewal and rebalancing on its own loop: a long flush must never let our partitions expire."""
        while not await wait(stop, self._pause()):
            try:
                lost = await self.leases.renew()
                if lost:
                    log.warning("partition leases lost; stopping them", host=self.leases.host_id,
                                partitions=sorted(lost))
                    self._lose(lost)
                await self._rebalance()
                await self.announce()
            except TRANSIENT as e:
                log.warning("lease renewal failed; retrying", host=self.leases.host_id,
                            error=str(e) or type(e).__name__)

    def _pause(self) -> float:
        """Until the next renewal, or until another host's lease runs out if sooner (a takeover then lands
        within the TTL of the dead host's last renewal, not up to a renewal period later)."""
        if self.wake_at is None:
            return self.renew_seconds
        return min(self.renew_seconds, max(0.01, self.wake_at - time.time() + 0.02))

    def _lose(self, lost: set[int]) -> None:
        self.active -= lost
        self.on_lost(lost)

    async def _rebalance(self) -> None:
        if self.lg is None:
            return
        board = await self._board()
        share = self._share(board)
        self.wake_at = balance.next_expiry(board, self.leases.host_id, time.time())
        owned = self.leases.owned
        if len(owned) > share:
            shed = balance.excess(owned, share)
            log.info("handing partitions off to other hosts", host=self.leases.host_id, partitions=sorted(shed),
                     hosts=self.hosts)
            self._lose(shed)
            await self.hand_off(shed)
        elif (len(owned) < share and self.serving and self.on_gain
              and balance.free(board, self.partitions, time.time())):
            gained = await self.leases.acquire(share, board)  # held now: served once the run starts over
            log.info("free partitions: taking a share", host=self.leases.host_id, have=len(owned), share=share,
                     hosts=self.hosts, taken=sorted(gained))
            if gained:
                self.on_gain()

    async def hand_off(self, partitions: set[int]) -> None:
        """Release dropped partitions once their decisions under way are written; else let them run out."""
        busy = await self.settled(partitions) if self.settled is not None and partitions else set()
        if busy:
            log.warning("decisions still being written: leases left to run out", host=self.leases.host_id,
                        partitions=sorted(busy))
            self.leases.forget(busy)
        await self.leases.release(partitions - busy)

    def _share(self, board: dict[str, bytes]) -> int:
        if self.lg is None:
            return self.partitions
        live = {p.hostId for p in balance.presences(board, time.time())} | {self.leases.host_id}
        self.hosts = len(live)
        return balance.fair_share(self.partitions, self.hosts)

    async def _board(self) -> dict[str, bytes]:
        """Our scope's leases and presences, keys without the scope's prefix (`p.<n>`, `host.<id>`): hosts
        running other kinds (`bosun controller --kinds`) lease separately and do not count as peers."""
        if self.lg is None:
            return {}
        prefix = self.leases.prefix
        return {key: value for k, value in (await self.lg.kv_entries(corelog.LEASES)).items()
                if k.startswith(prefix) and (key := k[len(prefix):]).startswith(("p.", "host."))}

    async def announce(self) -> None:
        """Publish this host's presence record: other hosts count it, `GET /v1/controllers` shows it."""
        extra = self.status() if self.status else {}
        record = balance.Presence(
            hostId=self.leases.host_id, partitions=sorted(self.leases.owned), leaseExpiresAt=self.leases.expires_at,
            lag=int(extra.get("lag", 0)), actors=int(extra.get("actors", 0)),
            expires=time.time() + self.leases.ttl, scope=self.leases.prefix.rstrip("."), kinds=self.kinds)
        await self.leases.kv.put(f"{self.leases.prefix}host.{self.leases.host_id}", msgspec.json.encode(record))

    async def _announce_quietly(self) -> None:
        try:
            await self.announce()
        except TRANSIENT as e:
            log.warning("presence not published", error=str(e) or type(e).__name__)

    async def release(self) -> None:
        """A clean stop: hand every partition off (as `hand_off`) and leave the board."""
        await self.hand_off(self.leases.owned)
        try:
            await self.leases.kv.delete(f"{self.leases.prefix}host.{self.leases.host_id}")
        except TRANSIENT:
            pass
