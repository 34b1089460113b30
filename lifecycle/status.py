"""The archiver's own account of its work (`KV_bosun-archive` key `status`), for `bosun log info`."""
from __future__ import annotations

import msgspec

from core import archive
from core.log import Log
from core.retention import Hold


class Oldest(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """The oldest message not archived yet, and what keeps it in the stream."""

    seq: int
    time: float = 0.0
    held_by: Hold | None = None


class Status(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    retain: float
    """Seconds."""
    head: int = 0
    purged: int = 0
    """Everything archived at or below it has left the stream (fenced subjects' last messages stay)."""
    segments: int = 0
    messages: int = 0
    bytes: int = 0
    oldest: Oldest | None = None
    paused_by: str = ""
    """A backup holding the archive's lease."""
    updated_at: float = 0.0


_decode = msgspec.json.Decoder(Status).decode


async def read(log: Log) -> Status | None:
    raw = await archive.kv_get(log, archive.STATUS)
    if not raw:
        return None
    try:
        return _decode(raw)
    except msgspec.DecodeError:
        return None


async def write(log: Log, status: Status) -> None:
    await log.kv_put(archive.BUCKET, archive.STATUS, msgspec.json.encode(status))
