"""Partition ownership through leases in a JetStream KV bucket (create-if-absent, renew by CAS).

Each lease value carries its holder and expiry (`actors.balance.Lease`): a lease past its expiry may be
taken over by CAS, so a dead host's partitions move within the lease TTL (`BOSUN_LEASE_TTL`, default
4 s: the owners look again exactly at expiry, so a takeover lands within 5 s of a kill -9), independent
of the bucket's TTL. A host that cannot renew a lease stops that partition at once; a stale owner that
keeps writing is fenced anyway by the expected-last-subject-sequence on its actors' ctl subjects.
"""
from __future__ import annotations

import math
import time

import msgspec
import nats.js.errors
from nats.js.kv import KeyValue

from actors.balance import Lease, held_by, lease_of
from actors.partitions import partition_of as partition_of  # re-exported: the old home of the rule
from core.settings import DEFAULTS

DEFAULT_TTL = DEFAULTS.lease_ttl
"""Seconds a lease lasts unrenewed: how long a dead host's partitions wait for a new owner (BOSUN_LEASE_TTL,
passed in by the controller's entry)."""


class Leases:
    def __init__(self, kv: KeyValue, host_id: str, partitions: int, ttl: float | None = None,
                 prefix: str = "") -> None:
        self.kv = kv
        self.prefix = prefix
        """Keys of this host's scope (`<scope>.`): hosts running different kinds lease separately."""
        self.host_id = host_id
        self.partitions = partitions
        self.ttl = ttl if ttl is not None else DEFAULT_TTL
        self.revisions: dict[int, int] = {}
        self.expiry: dict[int, float] = {}
        """Per owned partition: the expiry its lease value on the board says (set before the write is sent,
        so never later than what any other host reads there)."""
        self.margin = min(1.0, self.ttl / 4)
        self.lapse_at = math.inf
        """From when another host could take one of our leases within `margin` (renewals late): a host must
        stop deciding before, or the new owner's catch-up would miss what it writes after. Kept current on
        every change (checked before every write)."""

    @property
    def owned(self) -> set[int]:
        return set(self.revisions)

    @property
    def expires_at(self) -> float:
        """When the first of our leases runs out unless renewed (0: none held)."""
        return min(self.expiry.values(), default=0.0)

    def _expiry_changed(self) -> None:
        self.lapse_at = self.expires_at - self.margin if self.expiry else math.inf

    def _value(self) -> tuple[bytes, float]:
        expires = time.time() + self.ttl
        return msgspec.json.encode(Lease(self.host_id, expires)), expires

    async def acquire(self, limit: int | None = None, board: dict[str, bytes] | None = None) -> set[int]:
        """Take partitions not yet owned, up to `limit` in all — ours from before a restart first (as the
        `board` shows them), so a host starting over gets its own back before any free one; returns the
        newly acquired ones."""
        limit = self.partitions if limit is None else limit
        gained: set[int] = set()
        mine = held_by(board or {}, self.host_id, self.partitions)
        for p in sorted(range(self.partitions), key=lambda p: p not in mine):
            if len(self.revisions) >= limit:
                break
            if p not in self.revisions and await self._take(p):
                gained.add(p)
        return gained

    async def _take(self, p: int) -> bool:
        key = f"{self.prefix}p.{p}"
        value, expires = self._value()
        try:
            self.revisions[p], self.expiry[p] = await self.kv.create(key, value), expires
            self._expiry_changed()
            return True
        except nats.js.errors.KeyWrongLastSequenceError:
            pass
        try:
            entry = await self.kv.get(key)
        except nats.js.errors.KeyNotFoundError:
            return False
        if entry.value is None or entry.revision is None:
            return False
        lease = lease_of(entry.value)
        if lease.host != self.host_id and lease.expires > time.time():
            return False
        # Ours from before a restart, or expired: take it by CAS (a racing host gets a wrong-sequence).
        value, expires = self._value()
        try:
            self.revisions[p], self.expiry[p] = await self.kv.update(key, value, last=entry.revision), expires
            self._expiry_changed()
            return True
        except nats.js.errors.KeyWrongLastSequenceError:
            return False

    async def renew(self) -> set[int]:
        """Renew all owned leases; returns the partitions lost (someone else holds them, or they expired)."""
        lost: set[int] = set()
        value, expires = self._value()
        try:
            for p, rev in list(self.revisions.items()):
                try:
                    self.revisions[p] = await self.kv.update(f"{self.prefix}p.{p}", value, last=rev)
                    self.expiry[p] = expires
                except (nats.js.errors.KeyWrongLastSequenceError, nats.js.errors.KeyNotFoundError):
                    self.forget({p})
                    lost.add(p)
        finally:  # a renewal cut short by a timeout still counts for the leases it did renew
            self._expiry_changed()
        return lost

    def lapsing(self) -> bool:
        return time.time() > self.lapse_at

    def forget(self, partitions: set[int]) -> None:
        """Stop renewing these leases without handing them back: they run out within the TTL."""
        for p in partitions:
            self.revisions.pop(p, None)
            self.expiry.pop(p, None)
        self._expiry_changed()

    async def release(self, partitions: set[int] | None = None) -> None:
        """Hand leases back at once (all of them by default): the next owner need not wait for the TTL."""
        for p in sorted(self.owned if partitions is None else partitions & self.owned):
            rev = self.revisions.pop(p)
            self.expiry.pop(p, None)
            self._expiry_changed()
            try:
                await self.kv.delete(f"{self.prefix}p.{p}", last=rev)
            except nats.js.errors.Error:
                pass
