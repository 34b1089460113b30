"""The sim driver's shell: consumes commands, runs the readiness timer and the re-list loop, appends observations.

All rules live in `world.py` (one SQLite transaction per change, observations queued in the outbox);
this module only moves messages: fetch a batch of commands, apply each to the world, flush the outbox,
then ack. On start it flushes whatever a previous incarnation left unsent before consuming anything.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import nats.errors
import nats.js.errors
import structlog
from nats.js import api
from opentelemetry.trace import SpanKind

from core import dropped, ready, subjects, tracing
from core import headers as H
from core import log as corelog
from core.feed import Delivery, Feed, ensure_consumer
from core.metrics import COMMANDS, observe_consumer, sample_every
from core.names import Ref
from core.replicas import EnsurePool, RetirePool, StartReplica, StopReplica
from core.settings import DEFAULTS, Settings
from dataplane.base.outbox import Outbox
from dataplane.base.shell import cancel_all, cause_of, command_of, retrying, trace_headers
from dataplane.sim import load
from dataplane.sim.world import Cause, World

DRIVER = "sim"
CONSUMER = "driver-sim"
FETCH_BATCH = 256
FETCH_WAIT = 1.0
ACK_WAIT = 10.0
"""After a kill -9, unacked commands come back this late; a graceful stop hands them back at once."""

logger = structlog.get_logger()


async def serve(nats_url: str, data_dir: Path, *, stop: asyncio.Event, latency: float = 0.05, seed: int = 0,
                relist_interval: float = 2.0, settings: Settings = DEFAULTS) -> None:
    """Run the sim driver until `stop` is set. Its world lives in `<data_dir>/sim/world.db`; `settings` (read
    at the command's entry) give the stream's replicas, should it make the stream."""
    world = World.open(data_dir, latency=latency, seed=seed)
    try:
        nc = await ready.connect(nats_url, "bosun-driver-sim")  # waits for the cluster (core.ready)
        try:
            log = corelog.Log(nc, replicas=settings.stream_replicas)
            await ready.ensure(log)
            await Driver(world, log, relist_interval).run(stop)
        finally:
            await nc.close()
    finally:
        world.close()


class Driver:
    def __init__(self, world: World, log: corelog.Log, relist_interval: float) -> None:
        self.world = world
        self.log = log
        self.outbox = Outbox(world.conn, log)
        self.relist_interval = relist_interval
        self.starting = asyncio.Event()
        self.feed: Feed
        self.started: dict[tuple[str, str], str] = {}
        """(resource token, replica) -> traceparent of its start: readiness continues the start's trace."""
        """Set when a replica was inserted: the readiness timer re-arms on the new earliest deadline."""

    consumer = CONSUMER

    def consumer_config(self) -> api.ConsumerConfig:
        return _consumer()

    async def ensure_consumer(self) -> None:
        await ensure_consumer(self.log.jsm, self.log.stream, self.consumer_config())

    def loops(self, stop: asyncio.Event) -> list[asyncio.Task[None]]:
        """The shell's loops besides the commands' (a subclass adds its own)."""
        return [asyncio.create_task(self._readiness(), name="sim-readiness"),
                asyncio.create_task(self._relist(), name="sim-relist"),
                asyncio.create_task(self._loads(), name="sim-load"),
                asyncio.create_task(sample_every(5.0, self._sample, stop), name="sim-metrics")]

    async def run(self, stop: asyncio.Event) -> None:
        resent = await retrying("resend outbox", self.outbox.flush)
        if resent:
            logger.info("outbox resent", observations=resent)
        await self.ensure_consumer()
        self.feed = feed = dropped.watch_feed(Feed(self.log.nc, self.log.stream, self.consumer, batch=FETCH_BATCH))
        await feed.start()
        loops = [asyncio.create_task(self._commands(feed), name="sim-commands"), *self.loops(stop)]
        stopper = asyncio.create_task(stop.wait(), name="sim-stop")
        try:
            done, _ = await asyncio.wait([*loops, stopper], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stopper:
                    task.result()  # a loop ended: only by raising, so surface it
        finally:
            await cancel_all([*loops, stopper])
            await feed.stop()

    async def _commands(self, feed: Feed) -> None:
        while True:
            try:
                deliveries = await feed.take(FETCH_BATCH, timeout=FETCH_WAIT)
            except nats.js.errors.NotFoundError:  # leaderless after a node loss, or really gone: re-bind
                if await feed.revive(self.log.jsm) is False:
                    await self.ensure_consumer()
                await asyncio.sleep(FETCH_WAIT)
                continue
            except nats.errors.Error as e:  # disconnected: the client reconnects by itself
                logger.warning("pull failed", error=str(e) or type(e).__name__)
                await asyncio.sleep(FETCH_WAIT)
                continue
            if deliveries:
                await self._batch(deliveries)

    async def _batch(self, deliveries: list[Delivery]) -> None:
        """Apply, report, then ack. Stopped midway, hand the rest back at once instead of after ack_wait."""
        settled: set[str] = set()  # ack subjects of deliveries acked or terminated
        try:
            applied = []
            for d in deliveries:
                if await self._apply(d):
                    applied.append(d)
                else:
                    settled.add(d.reply)  # terminated
            await retrying("report observations", self.outbox.flush)
            for d in applied:
                await self.feed.ack(d)
                settled.add(d.reply)
        except asyncio.CancelledError:
            for d in deliveries:
                if d.reply not in settled:
                    with contextlib.suppress(Exception):
                        await self.feed.nak(d)
            raise

    async def _apply(self, delivery: Delivery) -> bool:
        """Apply one command to the world; False (and terminated) when it is not one we can ever apply."""
        stored = delivery.stored
        decoded = await command_of(self.feed, delivery)
        if decoded is None:
            return False
        ref, cmd = decoded
        with tracing.span(f"actuate {type(cmd).__name__}", parent=stored.headers.get(H.TRACEPARENT), ref=ref,
                          seq=stored.seq, kind=SpanKind.CONSUMER, attributes={"bosun.driver": DRIVER}) as sp:
            applied = self._actuate(ref, cmd, cause_of(tracing.inject(trace_headers(stored.headers)), stored.seq))
            sp.set_attribute("bosun.outcome", applied or "unknown")
        if applied is None:
            await self.feed.term(delivery)
            return False
        return True

    def _actuate(self, ref: Ref, cmd: Any, cause: Cause) -> str | None:
        """Apply one decoded command to the world; None when it is not a sim command."""
        log = logger.bind()  # identity, seq and trace_id come from the span's bound context
        now = time.time()
        match cmd:
            case StartReplica():
                outcome = self.world.start_replica(ref, cmd, now, cause)
                self.starting.set()
                if cause.headers.get(H.TRACEPARENT):
                    self.started[(ref.token, cmd.replica)] = cause.headers[H.TRACEPARENT]
                log.info("start replica", replica=cmd.replica, pool=cmd.pool, outcome=outcome)
            case StopReplica():
                outcome = self.world.stop_replica(ref, cmd, now, cause)
                log.info("stop replica", replica=cmd.replica, pool=cmd.pool, outcome=outcome)
            case EnsurePool():
                outcome = self.world.ensure_pool(ref, cmd, now, cause)
                log.info("ensure pool", capacity=cmd.capacity, generation=cmd.generation, outcome=outcome)
            case RetirePool():
                outcome = self.world.retire_pool(ref, now, cause)
                log.info("retire pool", outcome=outcome)
            case _:
                log.error("not a sim command", type=type(cmd).__name__)
                return None
        COMMANDS.labels(DRIVER, type(cmd).__name__, outcome).inc()
        return outcome

    def _started_cause(self, ref: Ref, replica: str) -> Cause:
        traceparent = self.started.pop((ref.token, replica), None)
        return Cause({H.TRACEPARENT: traceparent}) if traceparent else Cause()

    async def _sample(self) -> None:
        observe_consumer(self.consumer, await self.log.jsm.consumer_info(self.log.stream, self.consumer))

    async def _readiness(self) -> None:
        """Promote replicas when their ready_at passes: a timer on the earliest deadline, never a busy poll."""
        while True:
            self.starting.clear()
            for ref, replica in self.world.promote_ready(time.time(), self._started_cause):
                logger.info("replica ready", kind=ref.kind, namespace=ref.namespace, name=ref.name, replica=replica)
            await retrying("report readiness", self.outbox.flush)
            deadline = self.world.next_ready_at()
            timeout = None if deadline is None else max(0.0, deadline - time.time())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self.starting.wait()

    async def _relist(self) -> None:
        """The slow drift check: what exists versus what the log was told."""
        while True:
            await asyncio.sleep(self.relist_interval)
            lost, found = self.world.relist(time.time())
            for ref, replica in lost:
                logger.warning("replica lost (drift)", kind=ref.kind, namespace=ref.namespace, name=ref.name,
                               replica=replica)
            for ref, replica in found:
                logger.warning("unreported replica found", kind=ref.kind, namespace=ref.namespace, name=ref.name,
                               replica=replica)
            await retrying("report drift", self.outbox.flush)


    async def _loads(self) -> None:
        """Report synthetic load changes (`bosun driver sim set-load`) within half a second."""
        while True:
            await asyncio.sleep(0.5)
            if load.queue_changes(self.world.conn, time.time()):
                await retrying("report load", self.outbox.flush)


def _consumer() -> api.ConsumerConfig:
    return api.ConsumerConfig(
        durable_name=CONSUMER, name=CONSUMER, filter_subject=subjects.driver_commands(DRIVER),
        ack_policy=api.AckPolicy.EXPLICIT, ack_wait=ACK_WAIT, max_ack_pending=FETCH_BATCH * 4)
