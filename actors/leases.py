"""Partition ownership through leases in a JetStream KV bucket (create-if-absent + TTL, renew by CAS).

A host that cannot renew a lease stops that partition at once; a stale owner that keeps writing is
fenced anyway by the expected-last-subject-sequence on its actors' ctl subjects.
"""
from __future__ import annotations

import nats.js.errors
from nats.js.kv import KeyValue

from actors.partitions import partition_of as partition_of  # re-exported: the old home of the rule


class Leases:
    def __init__(self, kv: KeyValue, host_id: str, partitions: int, prefix: str = "") -> None:
        self.kv = kv
        self.prefix = prefix
        """Keys of this host's scope (`<scope>.`): hosts running different kinds lease separately."""
        self.host_id = host_id
        self.partitions = partitions
        self.revisions: dict[int, int] = {}

    @property
    def owned(self) -> set[int]:
        return set(self.revisions)

    async def acquire(self) -> set[int]:
        """Try every partition not yet owned; returns the newly acquired ones."""
        gained: set[int] = set()
        for p in range(self.partitions):
            if p in self.revisions:
                continue
            key = f"{self.prefix}p.{p}"
            try:
                self.revisions[p] = await self.kv.create(key, self.host_id.encode())
                gained.add(p)
                continue
            except nats.js.errors.KeyWrongLastSequenceError:
                pass
            try:
                entry = await self.kv.get(key)
            except nats.js.errors.KeyNotFoundError:
                continue
            if entry.value == self.host_id.encode() and entry.revision is not None:
                # Our own lease from before a restart: take it back by CAS.
                try:
                    self.revisions[p] = await self.kv.update(key, self.host_id.encode(), last=entry.revision)
                    gained.add(p)
                except nats.js.errors.KeyWrongLastSequenceError:
                    pass
        return gained

    async def renew(self) -> set[int]:
        """Renew all owned leases; returns the partitions lost (someone else holds them, or they expired)."""
        lost: set[int] = set()
        for p, rev in list(self.revisions.items()):
            try:
                self.revisions[p] = await self.kv.update(f"{self.prefix}p.{p}", self.host_id.encode(), last=rev)
            except (nats.js.errors.KeyWrongLastSequenceError, nats.js.errors.KeyNotFoundError):
                del self.revisions[p]
                lost.add(p)
        return lost

    async def release(self) -> None:
        for p, rev in list(self.revisions.items()):
            try:
                await self.kv.delete(f"{self.prefix}p.{p}", last=rev)
            except nats.js.errors.Error:
                pass
        self.revisions.clear()
