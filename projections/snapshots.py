"""Projection snapshots: a read model as of a sequence, so a new one never folds archived history.

When the archiver wants to archive past the newest snapshot it asks for one (`bosun.sys.projections.snapshot`,
answered by one projector of the queue group). The projector drops the timeline the archive already holds
(history reads that part from the archive: `projections.archived`), copies its database as of its
checkpoint, and stores it compressed in the `bosun-projections` Object Store. A projector without a
database (a new gateway, a restored plane) and a rebuild start from it and fold only what followed,
all of it still in the stream: the archiver archives nothing past the newest snapshot.
"""
from __future__ import annotations

import asyncio
import tempfile
import zlib
from pathlib import Path

import msgspec

from core import archive, objects
from core.log import Log
from projections.store import Writer

OBJECT = "read-model"
QUEUE = "projectors"
LEVEL = 1
"""zlib level: the copy is made under the projector's lock; speed over size."""


class Taken(msgspec.Struct, frozen=True):
    """The answer to a snapshot request."""

    seq: int
    bytes: int
    nuid: str


async def take(writer: Writer, log: Log, head: int) -> Taken:
    """Snapshot `writer`'s generation (its timeline pruned through the archive's `head`) into the store."""
    with tempfile.TemporaryDirectory(prefix="bosun-snapshot-") as tmp:
        path = Path(tmp) / "read-model.db"
        seq = await writer.snapshot(path, prune_through=head)
        blob = await asyncio.to_thread(lambda: zlib.compress(path.read_bytes(), LEVEL))
    info = await objects.put(log, archive.PROJECTIONS, OBJECT, blob, write_once=False,
                             headers={"Bosun-Seq": [str(seq)]})
    return Taken(seq=seq, bytes=len(blob), nuid=info.nuid)


async def fetch(log: Log, path: Path) -> int | None:
    """Write the newest snapshot to `path` (a new generation's file); its checkpoint, or None when there is
    no snapshot or the stream still holds everything (nothing archived: fold from sequence 1 as always)."""
    if not (await log.archive.head(max_age=0)).seq:
        return None
    info = await objects.info(log, archive.PROJECTIONS, OBJECT)
    if info is None:
        return None
    data = await objects.read(log, info)
    await asyncio.to_thread(lambda: path.write_bytes(zlib.decompress(data)))
    return int((info.headers or {}).get("Bosun-Seq", ["0"])[0])
