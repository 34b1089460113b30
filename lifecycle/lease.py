"""One writer of the archive at a time: the archiver for one pass, or a backup for its whole cut.

A key of the archive's KV bucket holding `{holder, until}`, taken and renewed with compare-and-set on its
revision (`Nats-Expected-Last-Subject-Sequence`), free once `until` (wall clock) has passed. A backup
holds it while it copies, so no segment is written and nothing leaves the stream meanwhile: the streams
it copies one after the other stay one consistent cut.
"""
from __future__ import annotations

import time

import msgspec

from core import archive
from core import headers as H
from core.log import Log

TTL = 15.0


class _Value(msgspec.Struct, frozen=True):
    holder: str = ""
    until: float = 0.0


class Lease:
    def __init__(self, log: Log, holder: str, ttl: float = TTL) -> None:
        self.log = log
        self.holder = holder
        self.ttl = ttl
        self.revision: int | None = None
        self.other: _Value | None = None
        """Who held it when we last failed to take it."""

    async def acquire(self) -> bool:
        """Take (or renew) the lease; False while someone else holds it."""
        subject = archive.key_subject(archive.LEASE)
        last = None
        async for m in self.log.direct({"multi_last": [subject], "batch": 1}, archive.kv_stream()):
            last = m
        current = msgspec.json.decode(last.data, type=_Value) if last is not None and last.data else _Value()
        if current.holder not in ("", self.holder) and current.until > time.time():
            self.other = current
            return False
        value = msgspec.json.encode(_Value(self.holder, time.time() + self.ttl))
        ack = await self.log.replies.publish(subject, value,
                                             {H.EXPECTED_LAST_SUBJECT_SEQ: str(last.seq if last else 0)})
        if ack.error is not None:
            return False
        self.revision, self.other = ack.seq, None
        return True

    async def release(self) -> None:
        if self.revision is None:
            return
        subject = archive.key_subject(archive.LEASE)
        await self.log.replies.publish(subject, msgspec.json.encode(_Value()),
                                       {H.EXPECTED_LAST_SUBJECT_SEQ: str(self.revision)})
        self.revision = None
