"""Rebuild: a fresh read-model generation from sequence 1, built BESIDE the live one, then swapped in.

Once part of the history is archived (retention, docs/lifecycle.md), a rebuild starts from the newest
projection snapshot instead and folds only what followed it (`projections.snapshots`).

Queries never see an empty or half-built view: the new generation becomes visible only when CURRENT
is flipped (atomically) after it caught up. The live projector uses `build` + `catch_up` + its own
swap (see `projector.Projector.rebuild`); `rebuild` is the offline form for tools and tests.
"""
from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import msgspec
from nats.aio.client import Client as NATS

from actors.controller import DEFAULT, Registry
from core.log import Log, StoredMessage
from projections import generations, snapshots
from projections.store import Writer

SUBJECT = "bosun.sys.projections.rebuild"
"""Core-NATS request answered by the running projector with a Summary (or `{"error": ...}`)."""
ALL = "bosun.>"
BATCH = 512


class Summary(msgspec.Struct, frozen=True):
    seq: int
    resources: int
    timeline: int
    generation: int


async def catch_up(log: Log, writer: Writer, up_to: int, batch: int = BATCH) -> int:
    """Apply every stored message in (writer.checkpoint, up_to] to `writer`; returns its checkpoint."""
    if up_to <= writer.checkpoint:
        return writer.checkpoint
    buffer: list[StoredMessage] = []
    async with scan(log, writer.checkpoint + 1, up_to) as messages:
        async for m in messages:
            buffer.append(m)
            if len(buffer) >= batch:
                await writer.apply(buffer)
                buffer = []
    return await writer.apply(buffer, through=up_to)


def scan(log: Log, start: int, up_to: int) -> contextlib.aclosing[AsyncGenerator[StoredMessage, None]]:
    """Every stored message in [start, up_to], closed (its direct-get subscription too) even on error."""
    return contextlib.aclosing(log.read(ALL, start, up_to_seq=up_to))


async def build(log: Log, db_dir: Path, up_to: int, registry: Registry = DEFAULT) -> tuple[int, Writer]:
    """A new generation replayed from sequence 1 through `up_to`, not yet visible to readers.

    On failure the half-built file is deleted; on success the caller owns the writer.
    """
    generation = generations.next_generation(db_dir)
    await snapshots.fetch(log, generations.path(db_dir, generation))  # history archived: from the snapshot
    writer = await Writer.open(generations.path(db_dir, generation), registry)
    try:
        await catch_up(log, writer, up_to)
    except BaseException:
        await writer.close()
        generations.remove(db_dir, generation)
        raise
    return generation, writer


async def summarize(writer: Writer, generation: int) -> Summary:
    counts = await writer.counts()
    return Summary(writer.checkpoint, counts["resources"], counts["timeline"], generation)


async def rebuild(log: Log, db_dir: Path, registry: Registry = DEFAULT) -> Summary:
    """Offline rebuild through the log's last sequence, then flip CURRENT to it.

    Only while no projector writes `db_dir` (a running one must be asked with `request` instead, or it
    would keep writing the generation that was just replaced). Older generations are left for the next
    projector start to delete, so readers still on them are never cut off.
    """
    db_dir.mkdir(parents=True, exist_ok=True)
    generation, writer = await build(log, db_dir, await log.last_seq(), registry)
    try:
        summary = await summarize(writer, generation)
    finally:
        await writer.close()
    generations.flip(db_dir, generation)
    return summary


async def request(nc: NATS, timeout: float = 600.0) -> dict[str, Any]:
    """Ask the running projector to rebuild; its reply: Summary fields, or `{"error": message}`."""
    reply = await nc.request(SUBJECT, b"{}", timeout=timeout)
    body: dict[str, Any] = msgspec.json.decode(reply.data)
    return body
