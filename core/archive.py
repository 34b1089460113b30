"""The archive: where messages older than the retention go before they leave the stream (docs/lifecycle.md).

Three buckets of the engine itself, replicated like the stream:

- `OBJ_bosun-archive`, a write-once Object Store: segments (`core.segments`) and their indexes. Nothing
  in it can be purged, deleted or replaced (`core.objects`), by anyone, the archiver included.
- `KV_bosun-archive`: `head` — every message at or below it is in the archive (the segments tile
  `1..head`); the archiver's `status`; `projections` — the newest projection snapshot; `lease`.
- `OBJ_bosun-projections`: the projection snapshot a new read model starts from (`projections.snapshots`).

The one rule that makes archive + stream one sequence space for readers (`Log.read`): the archiver moves
`head` first and removes messages at or below it from the stream only PURGE_GRACE seconds later. A
reader that learnt `head` = h at time t may therefore trust the stream for everything above h until
t + PURGE_GRACE, and reads what is at or below h from the archive.
"""
from __future__ import annotations

import asyncio
import bisect
import contextlib
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator
from typing import NamedTuple, TypeVar

import nats.errors
import nats.js.errors
from nats.js import api

from core import objects, segments
from core.engine import Engine
from core.stored import StoredMessage, Unavailable

BUCKET = "bosun-archive"
"""The archive's Object Store and its KV bucket (streams `OBJ_bosun-archive` and `KV_bosun-archive`)."""
PROJECTIONS = "bosun-projections"
HEAD, STATUS, SNAPSHOT, LEASE = "head", "status", "projections", "lease"
PURGE_GRACE = 10.0
"""Seconds between the archiver moving `head` and removing what is below it from the stream."""
TRUST = PURGE_GRACE * 0.5
"""How old a reader's `head` may be before it asks again (half the grace: room for slow pages)."""
MAX_CHUNK = 900_000
"""Largest compressed segment (one chunk, under a NATS server's default 1 MB payload)."""
V = TypeVar("V")
INDEXES_KEPT = 4096
BODIES_KEPT = 8


class Head(NamedTuple):
    seq: int
    at: float
    """`time.monotonic()` when it was asked: the stream above `seq` is whole until `at + PURGE_GRACE`."""


class Segment(NamedTuple):
    lo: int
    hi: int
    bytes: int
    """Compressed size."""
    messages: int
    info: objects.Info


async def ensure(log: Engine) -> None:
    """Create the archive's buckets when absent (the archiver's user may; readers only read them)."""
    await objects.ensure(log, BUCKET, write_once=True, max_msg_size=MAX_CHUNK + 64 * 1024)
    await objects.ensure(log, PROJECTIONS, write_once=False)
    try:
        await log.jsm.stream_info(kv_stream())
    except nats.js.errors.NotFoundError:
        await log.js.create_key_value(api.KeyValueConfig(bucket=BUCKET, replicas=log.replicas, history=1,
                                                         storage=api.StorageType.FILE, direct=True))


def kv_stream() -> str:
    return f"KV_{BUCKET}"


def key_subject(key: str) -> str:
    return f"$KV.{BUCKET}.{key}"


async def kv_get(log: Engine, key: str) -> bytes | None:
    """The value of one key of the archive's KV bucket (None: no key, or no bucket)."""
    found = None
    async with contextlib.aclosing(log.direct({"multi_last": [key_subject(key)], "batch": 1}, kv_stream())) as got:
        async for m in got:
            if m.headers.get("KV-Operation") not in ("DEL", "PURGE"):
                found = m.data
    return found


async def leader_get(log: Engine, key: str) -> bytes | None:
    """`kv_get` from the stream leader: on a cluster a lagging replica could answer a direct get with an
    old head, and a reader trusting it could miss what was purged meanwhile."""
    try:
        raw = await log.jsm.get_msg(kv_stream(), subject=key_subject(key))
    except (nats.js.errors.NotFoundError, nats.errors.NoRespondersError):
        return None
    return raw.data


class Archive:
    """A process's view of the archive: the head, the segment catalogue (listed incrementally: the
    bucket is write-once, so what was listed never changes) and caches of indexes and segment bodies."""

    def __init__(self, log: Engine) -> None:
        self.log = log
        self._head = Head(0, -PURGE_GRACE)
        self._segments: list[Segment] = []
        self._los: list[int] = []
        self._listed = 0
        """OBJ stream sequence of the last meta message listed."""
        self._indexes: OrderedDict[str, segments.Index] = OrderedDict()
        self._bodies: OrderedDict[str, list[StoredMessage]] = OrderedDict()

    # ---- head --------------------------------------------------------------------------------------

    async def head(self, max_age: float = TRUST) -> Head:
        """The archive's head, asked again when the one known is older than `max_age` seconds."""
        if time.monotonic() - self._head.at <= max_age:
            return self._head
        asked = time.monotonic()
        raw = await leader_get(self.log, HEAD)
        seq = int(raw) if raw and raw.strip().isdigit() else 0
        self._head = Head(max(seq, self._head.seq), asked)
        return self._head

    # ---- catalogue -----------------------------------------------------------------------------------

    async def catalogue(self, through: int = 0) -> list[Segment]:
        """Every segment, ascending; listed again when those known end below `through` — which they must
        reach (the head said so): a replica that lags is asked again, then it is an error, never a gap."""
        if not self._segments or self._segments[-1].hi < through or not through:
            await self._list()
        for _ in range(20):
            if not through or (self._segments and self._segments[-1].hi >= through):
                return self._segments
            await asyncio.sleep(0.1)
            await self._list()
        raise Unavailable(f"the archive's catalogue does not reach its head {through} yet")

    async def _list(self) -> None:
        found: list[Segment] = []
        async for seq, info in objects.listing(self.log, BUCKET, self._listed):
            self._listed = seq
            parsed = segments.parse_name(info.name)
            if parsed is None or parsed[0] != segments.SEGMENT:
                continue
            count = int((info.headers or {}).get("Bosun-Messages", ["0"])[0])
            found.append(Segment(parsed[1], parsed[2], info.size, count, info))
        if found:
            merged = {s.lo: s for s in (*self._segments, *found)}
            self._segments = sorted(merged.values())
            self._los = [s.lo for s in self._segments]

    def overlapping(self, start: int, end: int) -> list[Segment]:
        i = max(0, bisect.bisect_right(self._los, start) - 1)
        return [s for s in self._segments[i:] if s.lo <= end and s.hi >= start]

    # ---- reading ---------------------------------------------------------------------------------------

    async def read(self, subject_filter: str, start: int, end: int) -> AsyncGenerator[StoredMessage, None]:
        """Archived messages on `subject_filter` in `start..end`, in stream order."""
        if end < start:
            return
        await self.catalogue(end)
        everything = segments.matches_all(subject_filter)
        for seg in self.overlapping(start, end):
            if everything:
                wanted = None
            else:
                index = await self.index(seg)
                wanted = set(index.seqs(subject_filter, start, end))
                if not wanted:
                    continue
            for m in await self.body(seg):
                if start <= m.seq <= end and (wanted is None or m.seq in wanted):
                    yield m

    async def index(self, seg: Segment) -> segments.Index:
        name = segments.name(segments.INDEX, seg.lo, seg.hi)
        cached = self._indexes.get(name)
        if cached is not None:
            self._indexes.move_to_end(name)
            return cached
        blob = await objects.get(self.log, BUCKET, name)
        if blob is None:
            raise segments.BadSegment(f"archive index {name} is missing")
        index = segments.decode_index(blob)
        _remember(self._indexes, name, index, INDEXES_KEPT)
        return index

    async def body(self, seg: Segment) -> list[StoredMessage]:
        name = seg.info.name
        cached = self._bodies.get(name)
        if cached is not None:
            self._bodies.move_to_end(name)
            return cached
        messages = segments.decode(await objects.read(self.log, seg.info))
        _remember(self._bodies, name, messages, BODIES_KEPT)
        return messages


def _remember(cache: OrderedDict[str, V], key: str, value: V, limit: int) -> None:
    cache[key] = value
    while len(cache) > limit:
        cache.popitem(last=False)
