"""The projector: a durable JetStream consumer that keeps the SQLite read model (docs/design.md, "Projections").

Order of effects per batch: fetch -> apply the whole batch and the checkpoint in ONE transaction ->
commit -> ack -> announce on `bosun.sys.projections.changed`. A crash anywhere replays at most one
batch, and the checkpoint makes that replay a no-op: exactly-once effect.

The checkpoint, not the consumer, is the source of truth: whenever the consumer's position could make
it skip or reorder messages (a crash left some unacked, the database was rebuilt or lost) the consumer
is recreated to start right after the checkpoint, so messages are applied in stream order, never skipped.
"""
from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from pathlib import Path
from typing import Any

import msgspec
import nats.errors
import nats.js.errors
import structlog
from nats.js import api

from actors.controller import DEFAULT, Registry
from actors.registry import load
from core import dropped, natsusers, ready, subjects
from core.feed import Delivery, Feed
from core.log import Log, StoredMessage
from core.metrics import sample_every
from core.settings import DEFAULTS, Settings
from projections import generations, snapshots, telemetry
from projections import rebuild as rebuilding
from projections.readmodel import CHANGED
from projections.store import Writer

DURABLE = "projector"
FILTERS = [subjects.EVENTS, subjects.COMMANDS, subjects.AUDIT]
"""What the projector reads: everything the stream holds (`core.log` creates it with these subjects)."""


def _delivers_filters(config: api.ConsumerConfig) -> bool:
    """True when an existing consumer delivers exactly FILTERS: filtered on them, or not filtered at all.

    New consumers are created unfiltered: FILTERS are all the stream's subjects, and a multi-subject
    filter makes nats-server pay per delivered message in proportion to the number of subjects stored.
    """
    filters = list(config.filter_subjects or [])
    if config.filter_subject:
        filters.append(config.filter_subject)
    return not filters or sorted(filters) == sorted(FILTERS)


BATCH = 512
FETCH_TIMEOUT = 0.5
MAX_ACK_PENDING = 100_000
RETIRE_AFTER = 5.0
"""Seconds an old generation stays on disk after a swap, so readers switch before it is deleted."""
RETRY = 1.0

log = structlog.get_logger("projections.projector")
_json = msgspec.json.Encoder()


class _Reset(Exception):
    """The consumer delivered out of order w.r.t. the checkpoint: recreate it from the checkpoint."""


async def serve(nats_url: str, db_dir: Path, *, stop: asyncio.Event, durable: str = DURABLE,
                registry: Registry | None = None, settings: Settings = DEFAULTS) -> None:
    """Run until `stop` is set. One projector per `db_dir` (each with its own durable name).

    `registry` (default: `actors.registry.load()`) must know every kind in the log: decoding needs them.
    `settings` (read at the command's entry) give the stream's replicas, should this projector make it.
    """
    registry = registry or load()
    db_dir = Path(db_dir)
    db_dir.mkdir(parents=True, exist_ok=True)
    nc = await ready.connect(nats_url, "bosun-projector")  # waits for the cluster (core.ready)
    try:
        bosun_log = Log(nc, replicas=settings.stream_replicas)
        await ready.ensure(bosun_log)
        projector = await Projector.open(bosun_log, db_dir, durable, registry)
        try:
            await projector.run(stop)
        finally:
            await projector.close()
    finally:
        await nc.close()


class Projector:
    def __init__(self, bosun_log: Log, db_dir: Path, durable: str, generation: int, writer: Writer,
                 registry: Registry = DEFAULT) -> None:
        self.log = bosun_log
        self.registry = registry
        self.db_dir = db_dir
        self.durable = durable
        self.generation = generation
        self.writer = writer
        self._lock = asyncio.Lock()
        """Held while a batch is applied and while a rebuild catches up and swaps: never both at once."""
        self._reset = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._rebuilding: asyncio.Task[Any] | None = None

    @classmethod
    async def open(cls, bosun_log: Log, db_dir: Path, durable: str = DURABLE,
                   registry: Registry = DEFAULT) -> Projector:
        """Open the live generation (creating gen 1 on first run) and delete every other one."""
        generation = generations.current(db_dir)
        if generation is None or not generations.path(db_dir, generation).exists():
            generation = generations.next_generation(db_dir)
            await snapshots.fetch(bosun_log, generations.path(db_dir, generation))  # archived history: start there
            writer = await Writer.open(generations.path(db_dir, generation), registry)
            generations.flip(db_dir, generation)
        else:
            writer = await Writer.open(generations.path(db_dir, generation), registry)
        head = (await bosun_log.archive.head(max_age=0)).seq
        if writer.checkpoint < head:  # archived past it (no snapshot to start from): fold the archive first
            await rebuilding.catch_up(bosun_log, writer, head)
        for other in generations.on_disk(db_dir):
            if other != generation:  # older ones are retired, newer ones are half-built rebuilds
                generations.remove(db_dir, other)
        return cls(bosun_log, db_dir, durable, generation, writer, registry)

    async def run(self, stop: asyncio.Event) -> None:
        sub = await self.log.nc.subscribe(rebuilding.SUBJECT, cb=self._on_rebuild)
        snap = await self.log.nc.subscribe(natsusers.SNAPSHOT_REQUEST, queue=snapshots.QUEUE, cb=self._on_snapshot)
        self._later(sample_every(2.0, lambda: telemetry.sample(self.log, self.durable, self.writer.checkpoint), stop))
        try:
            while not stop.is_set():
                try:
                    await self._consume(stop)
                except _Reset:
                    self._reset = True
                except (nats.errors.Error, nats.js.errors.Error, OSError, sqlite3.Error) as e:
                    # Fetched-but-unapplied messages would come back after newer ones: restart from
                    # the checkpoint instead, which keeps stream order.
                    self._reset = True
                    log.warning("projector consumer failed; retrying", error=str(e) or type(e).__name__)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), RETRY)
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
                await snap.unsubscribe()

    async def close(self) -> None:
        """Cancel a running rebuild (its half-built generation is deleted) and pending retirements."""
        pending = [*self._tasks, *([self._rebuilding] if self._rebuilding else [])]
        for task in pending:
            task.cancel()
        try:
            await asyncio.gather(*pending, return_exceptions=True)
        finally:
            await self.writer.close()

    # ---- consuming ------------------------------------------------------------------------------------

    async def _consume(self, stop: asyncio.Event) -> None:
        feed = await self._bind()
        try:
            while not stop.is_set():
                deliveries = await feed.take(BATCH, timeout=FETCH_TIMEOUT)
                if deliveries:
                    await self._apply(feed, deliveries)
        finally:
            await feed.stop()

    async def _apply(self, feed: Feed, deliveries: list[Delivery]) -> None:
        async with self._lock:
            before = self.writer.checkpoint
            stored = sorted({d.stored.seq: d.stored for d in deliveries if d.stored.seq > before}.values(),
                            key=lambda m: m.seq)
            if stored and not await self._in_order(before, stored):
                raise _Reset()
            started = time.time_ns()
            after = await self.writer.apply(stored)
            telemetry.project_spans(stored, started)
            # acked only once durable, redelivered ones (<= checkpoint) too: the consumer acks cumulatively,
            # so acking the last delivery acks the whole batch (and anything delivered before it)
            await feed.ack(deliveries[-1])
            if after > before:
                await self._announce()

    async def _in_order(self, checkpoint: int, batch: list[StoredMessage]) -> bool:
        """True when `batch` is exactly what the stream holds after `checkpoint` (gaps = deleted messages)."""
        seqs = [m.seq for m in batch]
        if seqs == list(range(checkpoint + 1, checkpoint + 1 + len(seqs))):
            return True
        stored: list[int] = []
        async with rebuilding.scan(self.log, checkpoint + 1, seqs[-1]) as found:
            async for m in found:
                stored.append(m.seq)
        if stored != seqs:
            log.warning("projector saw messages out of order; restarting from checkpoint", checkpoint=checkpoint)
        return stored == seqs

    async def _bind(self) -> Feed:
        """Bind the durable consumer, recreating it from the checkpoint unless that is provably safe.

        Kept when nothing is pending and it has acked no further than the checkpoint: it then redelivers
        at most what is already applied (skipped by seq), in order. Recreated when messages are pending
        (a crash between fetch and ack: they would come back AFTER newer ones), when it is ahead of
        the checkpoint (a lost or rebuilt database: it would skip messages the read model never saw), or
        when it was made with other settings (filters, or per-message acks before they became cumulative).
        """
        jsm, stream = self.log.jsm, self.log.stream
        checkpoint = self.writer.checkpoint
        try:
            info = await jsm.consumer_info(stream, self.durable)
        except nats.js.errors.NotFoundError:
            info = None
        keep = (info is not None and not self._reset and not info.num_ack_pending
                and info.ack_floor is not None and info.ack_floor.stream_seq <= checkpoint
                and _delivers_filters(info.config) and info.config.ack_policy == api.AckPolicy.ALL)
        if not keep:
            if info is not None:
                await jsm.delete_consumer(stream, self.durable)
            await jsm.add_consumer(stream, self._config(checkpoint))
            self._reset = False
        feed = dropped.watch_feed(Feed(self.log.nc, stream, self.durable, batch=BATCH))
        await feed.start()
        return feed

    def _config(self, checkpoint: int) -> api.ConsumerConfig:
        return api.ConsumerConfig(
            durable_name=self.durable, ack_policy=api.AckPolicy.ALL,  # unfiltered: see `_delivers_filters`
            max_ack_pending=MAX_ACK_PENDING, ack_wait=30.0, max_deliver=-1,
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE if checkpoint else api.DeliverPolicy.ALL,
            opt_start_seq=checkpoint + 1 if checkpoint else None)

    async def _announce(self) -> None:
        payload = {"seq": self.writer.checkpoint, "generation": self.generation}
        with contextlib.suppress(nats.errors.Error):
            await self.log.nc.publish(CHANGED, _json.encode(payload))

    # ---- snapshots (`projections.snapshots`) ------------------------------------------------------------

    async def _on_snapshot(self, msg: Any) -> None:
        self._later(self._snapshot_and_reply(msg))

    async def _snapshot_and_reply(self, msg: Any) -> None:
        try:
            head = int(msgspec.json.decode(msg.data).get("head", 0))
            reply: Any = await snapshots.take(self.writer, self.log, head)
            log.info("projection snapshot taken", seq=reply.seq, bytes=reply.bytes, pruned_through=head)
        except Exception as e:  # reported to the archiver, which asks again later
            log.exception("projection snapshot failed")
            reply = {"error": str(e) or type(e).__name__}
        with contextlib.suppress(nats.errors.Error):
            await msg.respond(_json.encode(reply))

    # ---- rebuilding -----------------------------------------------------------------------------------

    async def _on_rebuild(self, msg: Any) -> None:
        if self._rebuilding is not None and not self._rebuilding.done():
            await msg.respond(_json.encode({"error": "a rebuild is already running"}))
            return
        self._rebuilding = asyncio.create_task(self._rebuild_and_reply(msg))

    async def _rebuild_and_reply(self, msg: Any) -> None:
        try:
            reply: Any = await self.rebuild()
        except Exception as e:  # reported to the requester; the live view is untouched
            log.exception("projection rebuild failed")
            reply = {"error": str(e) or type(e).__name__}
        with contextlib.suppress(nats.errors.Error):
            await msg.respond(_json.encode(reply))

    async def rebuild(self) -> rebuilding.Summary:
        """Build gen N+1 from seq 1 beside the live one, pause live apply to catch up its tail, swap."""
        generation, writer = await rebuilding.build(self.log, self.db_dir, self.writer.checkpoint, self.registry)
        try:
            async with self._lock:
                await rebuilding.catch_up(self.log, writer, self.writer.checkpoint)
                summary = await rebuilding.summarize(writer, generation)
                generations.flip(self.db_dir, generation)
                old, old_generation = self.writer, self.generation
                self.writer, self.generation = writer, generation
        except BaseException:
            await writer.close()
            generations.remove(self.db_dir, generation)
            raise
        await old.close()
        self._later(self._retire(old_generation))
        await self._announce()
        log.info("projections rebuilt", generation=generation, seq=summary.seq)
        return summary

    async def _retire(self, generation: int) -> None:
        await asyncio.sleep(RETIRE_AFTER)
        generations.remove(self.db_dir, generation)

    def _later(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
