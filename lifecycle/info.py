"""`GET /v1/log` and `bosun log info`: the stream, the archive, the retention, and what holds archiving back.

Read live from the engine (the stream's state, the archive's catalogue, the consumers and checkpoints),
with the archiver's own status for what only it knows (its retention, a segment it is still gathering).
"""
from __future__ import annotations

import time

import msgspec

from core import durations, retention
from core.log import Log
from core.retention import Hold
from lifecycle import holds, status
from lifecycle.status import Oldest

NO_RETENTION = Hold(kind="retention", name="retention", seq=0,
                    detail="no retention: the stream keeps every message (bosun up --retain DURATION)")


class ArchiveInfo(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    first_seq: int = 0
    last_seq: int = 0
    """The archive's head: every message at or below it is archived."""
    bytes: int = 0
    segments: int = 0
    messages: int = 0


class LogInfo(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    first_seq: int
    last_seq: int
    messages: int
    bytes: int
    retain: str | None
    """The retention (`30d`), or null: everything stays in the stream."""
    archive: ArchiveInfo
    oldest_unarchived: Oldest | None = None
    """The oldest message not archived yet and what keeps it in the stream (null: nothing left to archive)."""
    holds: list[Hold] = []
    """Everything holding messages in the stream now, lowest first (`oldestUnarchived.heldBy` is the first
    that applies)."""
    purged_through: int = 0
    archiver_updated_at: float | None = None
    paused_by: str = ""


async def log_info(log: Log) -> LogInfo:
    state = (await log.jsm.stream_info(log.stream)).state
    st = await status.read(log)
    found = await log.archive.catalogue()
    head = found[-1].hi if found else 0
    archived = ArchiveInfo(first_seq=found[0].lo if found else 0, last_seq=head,
                           bytes=sum(s.bytes for s in found), segments=len(found),
                           messages=sum(s.messages for s in found))
    first = await holds.first_after(log, head)
    oldest = None
    live: list[Hold] = []
    if first is not None:
        if st is None:
            held: Hold | None = NO_RETENTION
        else:
            age = retention.age_hold(first.seq, first.time, time.time(), st.retain)
            live = sorted([*await holds.gather(log, projectors=False), *([age] if age else [])],
                          key=lambda h: h.seq)
            held = retention.lowest(live)
            if held is None and st.oldest is not None:
                held = st.oldest.held_by
        oldest = Oldest(seq=first.seq, time=first.time, held_by=held)
    return LogInfo(first_seq=state.first_seq, last_seq=state.last_seq, messages=state.messages,
                   bytes=state.bytes, retain=durations.render(st.retain) if st else None, archive=archived,
                   oldest_unarchived=oldest, holds=live, purged_through=st.purged if st else 0,
                   archiver_updated_at=st.updated_at if st else None, paused_by=st.paused_by if st else "")
