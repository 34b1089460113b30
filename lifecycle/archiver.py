"""The archiver: moves messages older than the retention from the stream into the archive.

One pass (under the archive's lease, `lifecycle.lease`):

1. read the stream after the archive's head, up to what every reader is past (`lifecycle.holds`), and no
   message younger than the retention;
2. write them as one segment — its index first, then the segment itself, whose meta message is the
   commit (`core.objects`: a writer killed before it leaves no object);
3. move the head to the segment's end (`KV_bosun-archive` `head`);
4. purge from the stream what is at or below a head moved at least PURGE_GRACE seconds ago, keeping
   every fenced subject's last message (`lifecycle.purging`); and the same range from `BOSUN_P`.

A kill -9 at any point loses nothing: until the head moves, the stream still holds every message, and
the next pass writes the same segment again (same name, same bytes: the write-once bucket takes the
retry as done). Nothing is archived twice: a segment starts right after the head.

It runs beside the log, never in its append path: appends never wait for it.
"""
from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable

import msgspec
import nats.errors
import structlog

from core import archive, natsusers, objects, ready, retention, segments
from core.log import Log, StoredMessage
from core.retention import Hold
from core.settings import DEFAULTS, Settings
from lifecycle import holds, purging, status
from lifecycle.lease import Lease

log = structlog.get_logger("bosun.archiver")

SEGMENT_MESSAGES = 4096
SEGMENT_RAW = 8 << 20
TICK = 1.0
MAX_TICK = 10.0
SNAPSHOT_TIMEOUT = 60.0


class Archiver:
    def __init__(self, lg: Log, retain: float, *, segment_messages: int = SEGMENT_MESSAGES,
                 linger: float | None = None, grace: float = archive.PURGE_GRACE,
                 clock: Callable[[], float] = time.time) -> None:
        self.log = lg
        self.retain = retain
        self.segment_messages = segment_messages
        self.linger = min(60.0, retain) if linger is None else linger
        """A partial segment waits until its oldest message is this much past the retention: segments
        hold minutes of messages, not one tick's."""
        self.grace = grace
        self.tick = min(MAX_TICK, max(TICK, retain / 12))
        """Seconds between passes with nothing to write: a pass costs a dozen requests whatever it finds,
        and a message need not leave the stream the second its retention ends."""
        self.clock = clock
        self.lease = Lease(lg, f"archiver@{socket.gethostname()}")
        self.head = 0
        self.purged = 0
        self.moves: list[tuple[int, float]] = []
        """(head, monotonic time it was published): purged once PURGE_GRACE old."""
        self.oldest: status.Oldest | None = None
        self.snapshot_asked = 0.0
        self.no_projector = False
        self._snapshotting: asyncio.Task[None] | None = None

    async def prepare(self) -> None:
        """Create the archive's buckets (ours), find the head and how far the stream was purged."""
        await archive.ensure(self.log)
        found = await self.log.archive.catalogue()
        self.head = max((await self.log.archive.head(max_age=0)).seq, found[-1].hi if found else 0)
        previous = await status.read(self.log)
        self.purged = min(previous.purged, self.head) if previous is not None else 0
        if self.head:  # when this head moved is unknown: it counts from now
            self.moves = [(self.head, time.monotonic())]
        await self.log.kv_put(archive.BUCKET, archive.HEAD, str(self.head).encode())

    async def run(self, stop: asyncio.Event) -> None:
        await ready.retrying("archive buckets", self.prepare, stop)
        try:
            while not stop.is_set():
                busy = False
                try:
                    busy = await self.step()
                except ready.TRANSIENT as e:
                    log.warning("archiving pass failed; retrying", error=str(e) or type(e).__name__)
                if not busy:
                    await ready.wait(stop, self.tick)
        finally:
            if self._snapshotting is not None:
                self._snapshotting.cancel()

    async def step(self) -> bool:
        """One pass; True when it wrote a segment (another may follow at once)."""
        if not await self.lease.acquire():
            holder = self.lease.other.holder if self.lease.other else "?"
            await status.write(self.log, await self._status(paused_by=holder))
            return False
        try:
            made = await self.archive_one()
            await self.purge_due()
            await status.write(self.log, await self._status())
            return made
        finally:
            with contextlib.suppress(*ready.TRANSIENT):
                await self.lease.release()

    # ---- archiving -------------------------------------------------------------------------------------

    async def archive_one(self) -> bool:
        now = self.clock()
        last = (await self.log.jsm.stream_info(self.log.stream)).state.last_seq
        held = retention.lowest(await holds.gather(self.log, projectors=self._projectors()))
        if held is not None and held.seq >= last:
            held = None
        batch, raw, young, first = await self._take(last if held is None else held.seq, now)
        blocked = retention.lowest([young, held])
        if blocked is not None and blocked.kind == "projections":
            self._ask_snapshot()
        full = len(batch) >= self.segment_messages or raw >= SEGMENT_RAW
        if batch and not full and now - batch[0].time < self.retain + self.linger:
            blocked = Hold(kind="retention", name="segment", seq=self.head,
                           detail=f"gathering a segment: written once its oldest message is {self.linger:g}s "
                                  "past the retention")
            batch = []
        if first is None:
            first = await holds.first_after(self.log, self.head)
        self.oldest = None if first is None else status.Oldest(seq=first.seq, time=first.time, held_by=blocked)
        if not batch:
            return False
        await self._write(batch)
        self.oldest = None
        return True

    def _projectors(self) -> bool:
        """Does a projector answer snapshot requests (asked again once a minute when none did)?"""
        if self.no_projector and time.monotonic() - self.snapshot_asked > 60:
            self.no_projector = False
        return not self.no_projector

    async def _take(self, limit: int, now: float) -> tuple[list[StoredMessage], int, Hold | None,
                                                          StoredMessage | None]:
        """The messages of the next segment: after the head, through `limit`, none younger than the
        retention; (messages, their raw size, the retention's hold when a young message stopped it, the
        first message after the head when one was read)."""
        batch: list[StoredMessage] = []
        raw = 0
        first = None
        if limit <= self.head:
            return batch, raw, None, first
        async with contextlib.aclosing(self.log.read_stream(">", self.head + 1, limit)) as messages:
            async for m in messages:
                first = first or m
                young = retention.age_hold(m.seq, m.time, now, self.retain)
                if young is not None:
                    return batch, raw, young, first
                batch.append(m)
                raw += len(m.data) + 200
                if len(batch) >= self.segment_messages or raw >= SEGMENT_RAW:
                    break
        return batch, raw, None, first

    async def _write(self, batch: list[StoredMessage]) -> None:
        lo = self.head + 1
        while True:
            body, raw = segments.encode(batch)
            if len(body) <= archive.MAX_CHUNK or len(batch) == 1:
                break
            batch = batch[:len(batch) // 2]
        hi = batch[-1].seq
        index = segments.index_of(lo, hi, batch, raw)
        tags = {"Bosun-Messages": [str(len(batch))], "Bosun-Raw-Bytes": [str(raw)]}
        await objects.put(self.log, archive.BUCKET, segments.name(segments.INDEX, lo, hi),
                          segments.encode_index(index), write_once=True)
        await objects.put(self.log, archive.BUCKET, segments.name(segments.SEGMENT, lo, hi), body,
                          write_once=True, headers=tags)
        await self.log.kv_put(archive.BUCKET, archive.HEAD, str(hi).encode())
        self.head = hi
        self.moves.append((hi, time.monotonic()))
        log.info("segment archived", lo=lo, hi=hi, messages=len(batch), bytes=len(body), raw=raw)

    def _ask_snapshot(self) -> None:
        """A read model's snapshot is what holds archiving: ask one projector for a newer one, in the
        background (a stopped projector must not stall the passes: its consumer holds archiving anyway)."""
        if self._snapshotting is not None and not self._snapshotting.done():
            return
        if time.monotonic() - self.snapshot_asked < max(2.0, min(self.retain, 60.0)):
            return
        self.snapshot_asked = time.monotonic()
        self._snapshotting = asyncio.ensure_future(self._snapshot())

    async def _snapshot(self) -> None:
        try:
            await self._request_snapshot()
        except ready.TRANSIENT as e:
            log.warning("projection snapshot not stored", error=str(e) or type(e).__name__)

    async def _request_snapshot(self) -> None:
        try:
            reply = await self.log.nc.request(natsusers.SNAPSHOT_REQUEST, msgspec.json.encode({"head": self.head}),
                                              timeout=SNAPSHOT_TIMEOUT)
        except nats.errors.NoRespondersError:
            self.no_projector = True
            return
        except nats.errors.TimeoutError:
            log.warning("no projection snapshot in time; archiving waits for one")
            return
        self.no_projector = False
        answer = msgspec.json.decode(reply.data)
        if not (isinstance(answer, dict) and isinstance(answer.get("seq"), int)):
            log.warning("projection snapshot failed", answer=answer)
            return
        before = await holds.snapshot(self.log)
        snap = holds.Snapshot(seq=answer["seq"], bytes=int(answer.get("bytes", 0)), at=self.clock(),
                              nuid=str(answer.get("nuid", "")))
        await self.log.kv_put(archive.BUCKET, archive.SNAPSHOT, msgspec.json.encode(snap))
        if before is not None and before.nuid and before.nuid != snap.nuid:  # the replaced one's chunks
            await self.log.jsm.purge_stream(objects.stream(archive.PROJECTIONS),
                                            subject=objects.chunk_subject(archive.PROJECTIONS, before.nuid))
        log.info("projection snapshot stored", seq=snap.seq, bytes=snap.bytes)

    # ---- purging ---------------------------------------------------------------------------------------

    async def purge_due(self) -> None:
        """Purge through the newest head moved at least `grace` seconds ago."""
        now = time.monotonic()
        due = max((h for h, at in self.moves if now - at >= self.grace), default=0)
        if due <= self.purged:
            return
        subjects: set[str] = set()
        await self.log.archive.catalogue(due)
        for seg in self.log.archive.overlapping(self.purged + 1, due):
            subjects.update((await self.log.archive.index(seg)).subjects)
        requests = await purging.purge_archived(self.log, due, subjects)
        await purging.purge_copy(self.log, due)
        log.info("archived messages left the stream", through=due, requests=requests)
        self.purged = due
        self.moves = [(h, at) for h, at in self.moves if h > due]

    async def _status(self, paused_by: str = "") -> status.Status:
        found = await self.log.archive.catalogue(self.head) if self.head else []
        return status.Status(retain=self.retain, head=self.head, purged=self.purged, segments=len(found),
                             messages=sum(s.messages for s in found), bytes=sum(s.bytes for s in found),
                             oldest=self.oldest, paused_by=paused_by, updated_at=self.clock())


async def serve(nats_url: str, *, stop: asyncio.Event, retain: float, settings: Settings = DEFAULTS,
                segment_messages: int = SEGMENT_MESSAGES) -> None:
    """`bosun archiver`: run until `stop`."""
    nc = await ready.connect(nats_url, "bosun-archiver")
    try:
        lg = Log(nc, replicas=settings.stream_replicas)
        await ready.retrying("the stream", lambda: lg.jsm.stream_info(lg.stream), stop)
        await Archiver(lg, retain, segment_messages=segment_messages).run(stop)
    finally:
        await nc.close()
