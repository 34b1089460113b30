"""Taking archived messages out of the stream (and out of its partition-mapped copy).

Only the archiver's NATS user may purge (`core.natsusers.ARCHIVER`), and it does so only for messages at
or below a head it moved PURGE_GRACE seconds ago (`core.archive`), keeping the last message of every
fenced subject (`core.retention.purges`). A purge request removes messages; it never rewrites one: a
crash half-way leaves some archived messages in the stream for the next pass to remove.
"""
from __future__ import annotations

import asyncio
from collections.abc import Iterable

import nats.js.errors

from core import partitioned, retention
from core.log import Log

WINDOW = 64
"""Requests in flight at once."""


async def purge_archived(log: Log, through: int, subjects: Iterable[str]) -> int:
    """Remove from the stream every message at or below `through` on `subjects` (the archived range's),
    keeping each fenced subject's last message; returns how many purge requests it made."""
    wanted = sorted(set(subjects))
    fenced = [s for s in wanted if retention.fenced(s)]
    lasts: dict[str, int] = {}
    for i in range(0, len(fenced), WINDOW):
        chunk = fenced[i:i + WINDOW]
        found = await asyncio.gather(*(log.last(s) for s in chunk))
        lasts.update({s: m.seq for s, m in zip(chunk, found, strict=True) if m is not None})
    plan = retention.purges(wanted, through, lasts)
    for i in range(0, len(plan), WINDOW):
        await asyncio.gather(*(log.jsm.purge_stream(log.stream, seq=seq, subject=subject)
                               for subject, seq in plan[i:i + WINDOW]))
    return len(plan)


async def purge_copy(log: Log, through: int) -> int:
    """Remove from `BOSUN_P` every message copied from at or below `through`; returns its new first seq."""
    name = partitioned.stream_name(log.stream)
    try:
        state = (await log.jsm.stream_info(name)).state
    except nats.js.errors.NotFoundError:
        return 0
    local = await local_through(log, name, state.first_seq, state.last_seq, through)
    if local:
        await log.jsm.purge_stream(name, seq=local + 1)
    return local + 1 if local else state.first_seq


async def local_through(log: Log, name: str, first: int, last: int, origin: int) -> int:
    """The copy's last sequence whose origin sequence is at or below `origin` (0: none). Origins grow
    with the copy's own sequence, so a binary search over leader gets finds it in ~log2(n) requests."""
    best, lo, hi = 0, first, last
    while lo <= hi:
        mid = (lo + hi) // 2
        try:
            raw = await log.jsm.get_msg(name, seq=mid, subject=">", next=True)
        except nats.js.errors.NotFoundError:
            hi = mid - 1
            continue
        seq = raw.seq or mid
        if partitioned.origin_seq(dict(raw.headers or {})) <= origin:
            best, lo = seq, seq + 1
        else:
            hi = mid - 1
    return best
