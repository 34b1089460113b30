"""The controller host: routes the log to per-resource actors and does all their I/O.

One durable consumer delivers `bosun.ev.>` and `bosun.cmd.>` in stream order. Each message goes to the
mailbox of the resource it belongs to (and of the actor named in `Bosun-From`/`Bosun-Notify`); mailboxes
are drained one at a time per resource, concurrently across resources. A message is acked only after
the decision that followed it is durably appended, and acks are cumulative (AckAll up to the oldest
message still in progress), so the ack floor is always a safe checkpoint. Cold start folds from the
partition checkpoints with one ordered pass of that consumer and decides only once caught up.
"""
from __future__ import annotations

import asyncio
import heapq
from collections.abc import Callable
from collections import deque
import os
import time

import nats.js.errors
import structlog
from nats.js import api

from actors.cells import Cell
from actors.controller import actor_of_key, actors_for, controllers
from actors.decisions import Context, PoolView, backoff
from actors.effects import DecisionWriter
from actors.effects import ids as _ids
from actors.leases import Leases, partition_of
from actors.persistence import Checkpoint, Persistence
from actors.routing import targets
from actors.telemetry import reconciling, sample
from core import codec, kinds, subjects
from core import headers as H
from core import log as corelog
from core.events import Event
from core.feed import Delivery, Feed
from core.log import Conflict, Log, StoredMessage
from core.metrics import ACTORS_PASSIVATED
from core.names import Ref

log = structlog.get_logger("bosun.controller")
_AUDIT_PREFIX = subjects.AUDIT[:-1]
TICK = object()
"""Mailbox item meaning "decide again" (a timer fired, or catch-up finished)."""


class Host:
    def __init__(self, lg: Log, *, host_id: str, partitions: int = 16, fetch_batch: int = 512,
                 max_in_flight: int = 8192, concurrency: int = 128, idle_seconds: float = 30.0,
                 flush_seconds: float = 5.0) -> None:
        self.log = lg
        self.host_id = host_id
        self.partitions = partitions
        self.fetch_batch = fetch_batch
        self.max_in_flight = max_in_flight
        self.idle_seconds = idle_seconds
        self.flush_seconds = flush_seconds
        self.slots = asyncio.Semaphore(concurrency)
        self.cells: dict[str, Cell] = {}
        self.loading: dict[str, asyncio.Future[Cell]] = {}
        self.views: dict[str, PoolView] = {}
        self.context = Context()
        self.timers: list[tuple[float, str]] = []
        self.pending: dict[int, int] = {}
        """Stream seq -> targets that have not folded it yet."""
        self.unacked: deque[Delivery] = deque()
        """Deliveries not yet covered by an ack, in stream order (see `_release`)."""
        self.caught_up = asyncio.Event()
        self.catch_up_target = 0
        self.seen = 0
        """Stream sequence of the last message delivered: caught up once it reaches `catch_up_target`."""
        self.tasks: set[asyncio.Task[None]] = set()
        self.leases: Leases | None = None
        self.feed: Feed | None = None
        self.durable = f"controller-{host_id}"
        self.stats = {"decisions": 0, "appends": 0, "conflicts": 0, "failures": 0, "passivated": 0}
        self.writer = DecisionWriter(lg, self.stats)
        self.persistence = Persistence(lg)
        self.traces: dict[str, list[str]] = {}
        """Per actor: traceparents of the events folded since its last decision (its reconcile span's links)."""

    # ---- lifecycle -----------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        await self.persistence.open()
        self.leases = Leases(await self.log.kv(corelog.LEASES), self.host_id, self.partitions)
        while not await self.leases.acquire():
            log.info("waiting for partition leases", host=self.host_id)
            if await _wait(stop, 2.0):
                return
        start = await self._restore() + 1
        await self.persistence.list_keys()
        await self._activate_publishers()
        feed = await self._subscribe(start)
        self.catch_up_target = await self.log.last_seq()
        log.info("controller starting", host=self.host_id, partitions=sorted(self.leases.owned), from_seq=start,
                 catch_up_to=self.catch_up_target)
        if self.catch_up_target < start:
            await self._caught_up()
        loops = [self._consume(feed, stop), self._timers(stop), self._housekeeping(stop), self._renew(stop)]
        try:
            await asyncio.gather(*loops)
            if self.tasks:
                await asyncio.wait(list(self.tasks), timeout=5)
            try:
                async with asyncio.timeout(5):  # a clean stop is best effort: a crash is survivable anyway
                    await self.flush()
            except (TimeoutError, nats.errors.Error, corelog.Unavailable) as e:
                log.warning("final flush incomplete; the next start folds the rest from the log", error=repr(e))
            await self.leases.release()
        finally:
            for task in list(self.tasks):
                task.cancel()
            await feed.stop()

    async def _restore(self) -> int:
        """The oldest checkpoint of our partitions (every event at or below it is in a snapshot); re-arms
        the timers that were kept with them."""
        assert self.leases is not None
        seqs = []
        for p in self.leases.owned:
            checkpoint = await self.persistence.checkpoint(p)
            seqs.append(checkpoint.seq)
            for token, when in checkpoint.timers.items():
                heapq.heappush(self.timers, (when, token))
        return min(seqs, default=0)

    async def _subscribe(self, start: int) -> Feed:
        """(Re)create our durable consumer at `start`: its position after a restart is the checkpoint."""
        try:
            await self.log.jsm.delete_consumer(self.log.stream, self.durable)
        except nats.js.errors.NotFoundError:
            pass
        config = api.ConsumerConfig(
            durable_name=self.durable, deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start,
            ack_policy=api.AckPolicy.ALL, ack_wait=120, max_ack_pending=self.max_in_flight,
            max_deliver=-1)
        # No subject filter: the stream holds events, commands and audit records, and a multi-subject
        # filter makes nats-server pay per delivered message in proportion to the stream's subjects
        # (cold start was quadratic: 2,000 resources x 10 events took 13 s, unfiltered 2 s; see
        # bench/RESULTS.md). Audit records are skipped in `_dispatch` (and acked with what follows them).
        await self.log.jsm.add_consumer(self.log.stream, config)
        self.feed = Feed(self.log.nc, self.log.stream, self.durable, batch=self.fetch_batch)
        await self.feed.start()
        return self.feed

    async def _activate_publishers(self) -> None:
        """Resources whose facts others read (pools) are loaded eagerly so every decide sees them."""
        for ctrl in controllers():
            if not ctrl.publishes_view:
                continue
            for key in await self.persistence.matching(f"{ctrl.info.key}.>"):
                ref = Ref.parse(key)
                if self._owns(ref):
                    await self._cell(ref)

    # ---- consuming ------------------------------------------------------------------------------------

    async def _consume(self, feed: Feed, stop: asyncio.Event) -> None:
        while not stop.is_set():
            room = self.max_in_flight - len(self.unacked)  # what the server counts against max_ack_pending
            if room <= 0:
                await asyncio.sleep(0.005)
                continue
            try:
                batch = await feed.take(min(self.fetch_batch, room), timeout=0.5)
            except nats.errors.ConnectionClosedError:
                raise
            except nats.errors.Error as e:
                log.warning("pull failed", error=str(e))
                await _wait(stop, 0.5)
                continue
            for delivery in batch:
                await self._dispatch(delivery)
            await self._release()
            if not self.caught_up.is_set() and not self.pending and (not batch or self.seen >= self.catch_up_target):
                await self._caught_up()

    async def _dispatch(self, delivery: Delivery) -> None:
        stored = delivery.stored
        self.seen = stored.seq
        self.unacked.append(delivery)
        if stored.subject.startswith(_AUDIT_PREFIX):  # not for actors (see `_subscribe`): done already
            return
        try:
            parsed = subjects.parse(stored.subject)
            info = kinds.get(parsed.ref.kind)
            event = codec.decode(info, stored.data, stored.headers)
        except (ValueError, KeyError, Exception) as e:  # noqa: BLE001 - a poison message must not wedge us
            log.error("undecodable message skipped", seq=stored.seq, subject=stored.subject, error=str(e))
            return
        mine = [r for r in targets(parsed.ref, stored.headers) if self._owns(r)]
        if not mine:
            return
        actors = [a for ref in mine for a in actors_for(ref) if self._wanted(a[0], a[1].wants, event)]
        self.pending[stored.seq] = len(actors)
        catching_up = not self.caught_up.is_set()
        cells = self.cells
        for key, _ctrl in actors:
            cell = cells.get(key)  # the common case: a live actor, no await
            if cell is None:
                cell = await self._cell_of(key)
            if catching_up and not cell.running and not cell.queue:
                self._fold(cell, stored, event)  # nothing is decided before catch-up: no task needed
                self._done(stored.seq)
            else:
                cell.queue.append((stored, event))
                self._schedule(cell)

    def _wanted(self, key: str, wants: Callable[[Event], bool] | None, event: Event) -> bool:
        """A companion actor exists only for resources it cares about: once it has a cell or a snapshot, or
        when `wants` says this event starts its interest (the kind's own actor always exists)."""
        if wants is None or key in self.cells or key in self.loading:
            return True
        keys = self.persistence.keys
        return keys is None or key in keys or wants(event)

    def _done(self, seq: int) -> None:
        """One target of `seq` has folded (and decided on) it."""
        left = self.pending.get(seq)
        if left is None:
            return
        if left <= 1:
            del self.pending[seq]
        else:
            self.pending[seq] = left - 1

    async def _release(self) -> None:
        """Ack (AckAll) up to the newest delivered message below the oldest one still in progress.

        Deliveries arrive in stream order, so the done prefix of `unacked` is exactly what a checkpoint
        may cover; one ack per prefix instead of one per message halves what the server handles.
        """
        last: Delivery | None = None
        unacked, pending = self.unacked, self.pending
        while unacked and unacked[0].stored.seq not in pending:
            last = unacked.popleft()
        if last is not None:
            assert self.feed is not None
            try:
                await self.feed.ack(last)
            except nats.errors.Error as e:
                log.warning("ack failed; messages will be redelivered and skipped", seq=last.stored.seq,
                            error=str(e))

    def _owns(self, ref: Ref) -> bool:
        assert self.leases is not None
        return partition_of(ref, self.partitions) in self.leases.owned

    async def _caught_up(self) -> None:
        if self.caught_up.is_set():
            return
        self.caught_up.set()
        log.info("controller caught up", seq=self.catch_up_target, actors=len(self.cells))
        for cell in list(self.cells.values()):
            self._tick(cell)
        for _, key in list(self.timers):
            if key not in self.cells:
                self._tick(await self._cell_of(key))

    # ---- cells ------------------------------------------------------------------------------------------

    async def _cell(self, ref: Ref) -> Cell:
        return await self._cell_of(ref.token)

    async def _cell_of(self, token: str) -> Cell:
        """The actor with this cell key (a resource token, or a companion's `<token>.<name>`), loaded."""
        cell = self.cells.get(token)
        if cell is not None:
            return cell
        if token in self.loading:
            return await self.loading[token]
        fut: asyncio.Future[Cell] = asyncio.get_running_loop().create_future()
        self.loading[token] = fut
        try:
            found = actor_of_key(token)
            assert found is not None, token
            ref, ctrl = found
            data = await self.persistence.load(token)
            cell = Cell(ref, ctrl) if data is None else Cell(ref, ctrl, Cell.load(data))
            cell.idle_since = time.monotonic()
            self.cells[token] = cell
            self._publish_view(cell)
            fut.set_result(cell)
            return cell
        except BaseException as e:
            fut.set_exception(e)
            raise
        finally:
            del self.loading[token]

    def _schedule(self, cell: Cell) -> None:
        if not cell.running:
            cell.running = True
            task = asyncio.create_task(self._drain(cell))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    def _tick(self, cell: Cell) -> None:
        if not any(item is TICK for item in cell.queue):
            cell.queue.append(TICK)
        self._schedule(cell)

    async def _drain(self, cell: Cell) -> None:
        """Fold everything queued for this resource, then decide once (level-based), then ack."""
        async with self.slots:
            try:
                while cell.queue:
                    acks: list[int] = []
                    tick = False
                    while cell.queue:
                        item = cell.queue.popleft()
                        if item is TICK:
                            tick = True
                            continue
                        stored, event = item
                        acks.append(stored.seq)
                        self._fold(cell, stored, event)
                    if self.caught_up.is_set() and (tick or cell.causes):
                        await self._decide(cell)
                    for seq in acks:
                        self._done(seq)
                    await self._release()
            finally:
                cell.running = False
                cell.idle_since = time.monotonic()

    def _fold(self, cell: Cell, stored: StoredMessage, event: Event) -> None:
        if cell.seen(stored.seq):
            return
        try:
            cell.fold_delivered(stored.seq, stored.subject, event)
        except Exception as e:  # noqa: BLE001 - isolate: one bad fold marks one resource
            log.error("evolve failed; event skipped", **_ids(cell), seq=stored.seq, error=repr(e))
            return
        if H.TRACEPARENT in stored.headers:
            cell.trace = {H.TRACEPARENT: stored.headers[H.TRACEPARENT]}
            self.traces.setdefault(cell.key, []).append(stored.headers[H.TRACEPARENT])
        self._publish_view(cell)

    def _publish_view(self, cell: Cell) -> None:
        view = cell.controller.view(cell.state)
        token = cell.key
        if view is None:
            if self.views.pop(token, None) is not None:
                self.context = Context(pools=tuple(self.views.values()))
        elif self.views.get(token) != view:
            self.views[token] = view
            self.context = Context(pools=tuple(self.views.values()))

    # ---- deciding ---------------------------------------------------------------------------------------

    async def _decide(self, cell: Cell) -> None:
        traces = self.traces.pop(cell.key, [])[-64:]
        with reconciling(cell, traces, self.stats):
            await self._reconcile(cell)
        if cell.causes:  # not decided durably: the next attempt links these too
            self.traces[cell.key] = traces + self.traces.get(cell.key, [])

    async def _reconcile(self, cell: Cell) -> None:
        now = time.time()
        try:
            decision = cell.controller.decide(cell.state, now, self.context)
        except Exception as e:  # noqa: BLE001 - failure isolation: this resource degrades, others go on
            await self._failed(cell, now, e)
            return
        self.stats["decisions"] += 1
        try:
            await self.writer.execute(cell, decision, now, self.context)
            self._publish_view(cell)
        except Conflict as e:
            self.stats["conflicts"] += 1
            log.warning("write fenced: actor is behind the log; deciding again later", **_ids(cell), error=str(e))
            self._set_wake(cell, now + backoff(1, cell.ref.token))
            return
        except corelog.Unavailable as e:
            await self._failed(cell, now, e, record=False)
            return
        cell.failures = 0
        cell.causes.clear()
        self._set_wake(cell, decision.wake_at)

    async def _failed(self, cell: Cell, now: float, error: BaseException, record: bool = True) -> None:
        """Mark this one resource Degraded, record why, and retry with backoff."""
        cell.failures += 1
        self.stats["failures"] += 1
        delay = backoff(cell.failures, cell.ref.token, base=1.0, cap=60.0)
        log.error("reconcile failed", **_ids(cell), attempt=cell.failures, retry_in=round(delay, 2),
                  error=repr(error))
        if record:
            try:
                await self.writer.record_failure(cell, now, error, delay)
            except (Conflict, corelog.Unavailable) as e:
                log.warning("could not record failure", **_ids(cell), error=str(e))
        self._set_wake(cell, now + delay)

    def _set_wake(self, cell: Cell, when: float | None) -> None:
        if cell.wake_at != when:
            cell.wake_at = when
            cell.version += 1
        if when is not None:
            heapq.heappush(self.timers, (when, cell.key))

    # ---- timers, passivation, snapshots ------------------------------------------------------------------

    async def _timers(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            now = time.time()
            while self.timers and self.timers[0][0] <= now:
                when, token = heapq.heappop(self.timers)
                cell = self.cells.get(token)
                if cell is None:
                    found = actor_of_key(token)
                    if found is None or not self._owns(found[0]):
                        continue
                    cell = await self._cell_of(token)
                if cell.wake_at is not None and cell.wake_at <= now and self.caught_up.is_set():
                    cell.wake_at = None
                    self._tick(cell)
            delay = min(0.5, max(0.005, self.timers[0][0] - time.time())) if self.timers else 0.5
            await _wait(stop, delay)

    async def _housekeeping(self, stop: asyncio.Event) -> None:
        while not await _wait(stop, min(self.flush_seconds, 2.0)):
            await self.flush()
            await self._passivate()

    async def _renew(self, stop: asyncio.Event) -> None:
        """Lease renewal on its own loop: a long flush must never let our partitions expire."""
        assert self.leases is not None
        while not await _wait(stop, 4.0):
            try:
                lost = await self.leases.renew()
            except nats.errors.Error as e:
                log.warning("lease renewal failed; retrying", error=str(e))
                continue
            if lost:
                self._drop_partitions(lost)

    def _drop_partitions(self, lost: set[int]) -> None:
        log.warning("partition leases lost; stopping them", partitions=sorted(lost))
        for token, cell in list(self.cells.items()):
            if partition_of(cell.ref, self.partitions) in lost:
                cell.queue.clear()
                del self.cells[token]

    async def flush(self) -> None:
        """Snapshot dirty actors, then move our partitions' checkpoints to the consumer's ack floor (with
        the timers of actors not in memory)."""
        try:
            info = await self.log.jsm.consumer_info(self.log.stream, self.durable)
            floor = int(info.ack_floor.stream_seq or 0) if info.ack_floor else 0
        except nats.errors.Error:
            return
        sample(self.cells, len(self.pending), self.durable, info)
        if not self.caught_up.is_set():
            return
        await self.persistence.save(c for c in list(self.cells.values()) if c.dirty)
        assert self.leases is not None
        timers: dict[int, dict[str, float]] = {p: {} for p in self.leases.owned}
        for when, token in self.timers:
            cell = self.cells.get(token)
            if cell is None or cell.wake_at is not None:
                found = actor_of_key(token)
                due = timers.get(partition_of(found[0], self.partitions)) if found else None
                if due is not None:
                    due[token] = min(when, due.get(token, when))
        for p, due in timers.items():
            await self.persistence.write_checkpoint(p, Checkpoint(seq=floor, timers=due))

    async def _passivate(self) -> None:
        """Drop idle actors from memory (snapshotted first): memory follows active resources, not all."""
        if not self.caught_up.is_set():
            return
        now = time.monotonic()
        idle: list[Cell] = []
        for cell in list(self.cells.values()):
            busy = cell.running or cell.queue or cell.own or cell.causes
            if busy or now - cell.idle_since < self.idle_seconds:
                continue
            idle.append(cell)
        await self.persistence.save(c for c in idle if c.dirty)
        for cell in idle:
            if cell.running or cell.queue or cell.own or cell.causes or cell.dirty:
                continue  # it woke up while we were saving: keep it, snapshot again later
            token = cell.key
            if self.cells.get(token) is not cell:
                continue  # its partition was lost meanwhile
            del self.cells[token]
            self.traces.pop(token, None)
            self.stats["passivated"] += 1
            ACTORS_PASSIVATED.inc()




async def _wait(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to `seconds`, waking early on stop; True when stopping.

    Not `asyncio.wait_for`: on Python 3.11 it can swallow a cancellation, and a "crashed" host that
    keeps running would compete with its successor.
    """
    if stop.is_set():
        return True
    waiter = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({waiter}, timeout=seconds)
    finally:
        waiter.cancel()
    return stop.is_set()


async def serve(nats_url: str, *, stop: asyncio.Event, partitions: int = 16, host_id: str | None = None,
                idle_seconds: float = 30.0) -> None:
    """Run a controller host until `stop` is set."""
    import actors  # noqa: F401  (registers the shipped kinds)

    nc = await corelog.connect(nats_url, f"bosun-controller-{host_id or 'main'}")
    try:
        lg = Log(nc)
        await lg.ensure()
        host = Host(lg, host_id=host_id or os.environ.get("BOSUN_HOST_ID", "main"), partitions=partitions,
                    idle_seconds=idle_seconds)
        await host.run(stop)
    finally:
        await nc.close()

