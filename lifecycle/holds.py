"""What holds messages in the stream right now, read from the engine (`core.retention` says why each)."""
from __future__ import annotations

import contextlib

import msgspec
import nats.js.errors

from core import archive, partitioned, retention
from core import log as corelog
from core.log import Log, StoredMessage
from core.retention import Hold

CONTROLLER_PREFIX = "controller-"
"""Controller hosts' consumers: remade from the partition checkpoints on every run, which hold instead."""


class Snapshot(msgspec.Struct, frozen=True):
    """The newest projection snapshot (`KV_bosun-archive` key `projections`)."""

    seq: int = 0
    bytes: int = 0
    at: float = 0.0
    nuid: str = ""
    """Its chunks' id: the archiver purges the chunks of the one it replaces."""


async def gather(log: Log, projectors: bool = True) -> list[Hold]:
    """Every hold but the retention's own (the archiver adds that from the first message it cannot take).
    `projectors`: some projector answers snapshot requests, so until there is a snapshot nothing goes (a
    read model made later starts from one; with no projector it folds the archive instead)."""
    holds: list[Hold | None] = []
    for info in await log.jsm.consumers_info(log.stream):
        name = info.name or ""
        if name.startswith(CONTROLLER_PREFIX):
            continue
        acked = info.ack_floor.stream_seq if info.ack_floor and info.ack_floor.stream_seq else 0
        holds.append(retention.consumer_hold(name, acked, info.num_pending or 0, info.num_ack_pending or 0))
    holds.extend(retention.checkpoint_holds(await log.kv_entries(corelog.CHECKPOINTS)))
    holds.append(await _copy(log))
    snap = await snapshot(log)
    if snap is not None:
        holds.append(Hold(kind="projections", name="projection snapshot", seq=snap.seq,
                          detail=f"the newest projection snapshot is at seq {snap.seq}"))
    elif projectors:
        holds.append(Hold(kind="projections", name="projection snapshot", seq=0,
                          detail="no projection snapshot yet"))
    return [h for h in holds if h is not None]


async def first_after(log: Log, seq: int) -> StoredMessage | None:
    """The stream's first message after `seq` (the oldest not archived, for `seq` = the archive's head)."""
    async with contextlib.aclosing(log.read_stream(">", seq + 1, batch=1)) as messages:
        async for m in messages:
            return m
    return None


async def snapshot(log: Log) -> Snapshot | None:
    raw = await archive.kv_get(log, archive.SNAPSHOT)
    return msgspec.json.decode(raw, type=Snapshot) if raw else None


async def _copy(log: Log) -> Hold | None:
    """The partition-mapped copy holds what it has not sourced yet (purged first, it would never have it)."""
    with contextlib.suppress(nats.js.errors.NotFoundError):
        info = await log.jsm.stream_info(partitioned.stream_name(log.stream))
        last = (await log.jsm.stream_info(log.stream)).state.last_seq
        for source in info.sources or []:
            lag = int(source.lag or 0)
            if lag:
                return Hold(kind="copy", name=info.config.name or "", seq=last - lag,
                            detail=f"{lag} messages not copied to {info.config.name} yet")
    return None
