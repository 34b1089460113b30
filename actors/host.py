"""The controller host: routes the log to per-resource actors and wires the parts that do their I/O.

Its consumers (`actors.intake`: the whole stream, or only its partitions' and the pools') deliver in
stream order. Each message goes to the mailbox of the resource it belongs to (and of the actor named in
`Bosun-From`/`Bosun-Notify`). Cold start folds from the partition checkpoints with one ordered pass and
decides only once caught up. The host itself only consumes and wires; each job has its own part (a lost partition is
dropped from every part, `_drop_partitions`):

- `actors.acks.AckLedger`       what every target has folded; how far the cumulative ack may go (pure)
- `actors.timers.TimerQueue`    when each actor decides again (pure)
- `actors.mailboxes.Mailboxes`  live cells, their queues, one drain task per cell
- `actors.views.ViewBoard`      facts published for other actors: the Context of every decide
- `actors.ownership.Ownership`  partition leases: which resources are ours, renewal, loss
- `actors.kernel`               routing, the fold, decide, the order of own writes (pure; shared with replay,
                                 what-if and the test world)
- `actors.reconciler.Reconciler` decide, append (`actors.effects`), carrying out a failed step (`actors.failures`)
- `actors.persistence.Persistence` snapshots and partition checkpoints
"""
from __future__ import annotations

import asyncio
import time

import nats.errors
import structlog

from actors import sharing
from actors.acks import AckLedger
from actors.cells import Cell
from actors.controller import Registry
from actors.intake import Gone, Intake, Lost, reads_partitions
from actors.isolation import Isolation
from actors.kernel import echo, recipients, targets
from actors.leases import Leases
from actors.mailboxes import TICK, Mailboxes
from actors.ownership import Ownership
from actors.persistence import Checkpoint, Persistence
from actors.quarantine import QuarantineBook
from actors.reconciler import Reconciler
from actors.telemetry import sample
from actors.timers import TimerQueue
from actors.views import ViewBoard
from actors.watchdog import Watchdog
from core import codec, loops, ready, subjects
from core import headers as H
from core import log as corelog
from core.events import Event
from core.feed import Delivery
from core.log import Log, StoredMessage
from core.metrics import ACTORS_PASSIVATED

log = structlog.get_logger("bosun.controller")
_AUDIT_PREFIX = subjects.AUDIT[:-1]


class Host:
    def __init__(self, lg: Log, *, registry: Registry, host_id: str, partitions: int = 16,
                 fetch_batch: int = 512, max_in_flight: int = 8192, concurrency: int = 128,
                 idle_seconds: float = 30.0, flush_seconds: float = 5.0, scope: str = "",
                 watchdog: Watchdog | None = None, lease_ttl: float | None = None, read: str = "auto") -> None:
        self.log = lg
        self.lease_ttl = lease_ttl
        """BOSUN_LEASE_TTL and BOSUN_READ come in from the controller's entry (`actors.serving.serve`)."""
        self.scope = prefix = f"{scope}." if scope else ""
        self.registry = registry
        self.host_id = host_id
        self.partitions = partitions
        self.fetch_batch = fetch_batch
        self.max_in_flight = max_in_flight
        self.idle_seconds = idle_seconds
        self.flush_seconds = flush_seconds
        self.stats = {"decisions": 0, "appends": 0, "conflicts": 0, "failures": 0, "passivated": 0, "echoes": 0}
        self.acks: AckLedger[Delivery] = AckLedger()
        self.timers = TimerQueue(partitions)
        self.views = ViewBoard(partitions)
        self.mailboxes = Mailboxes(self._load, self._drain, partitions=partitions, concurrency=concurrency)
        self.reconciler = Reconciler(lg, self.stats, self.timers, self.views, book=QuarantineBook(scope),
                                     may_write=lambda cell: self._leased(),
                                     watchdog=watchdog)
        self.isolation = Isolation(self.reconciler)
        self.persistence = Persistence(lg, prefix)
        self.ownership: Ownership | None = None
        self.durable = f"controller-{scope + '-' if scope else ''}{host_id}"
        self.intake = Intake(lg, self.durable, batch=fetch_batch, max_in_flight=max_in_flight, read=read)
        self.caught_up = asyncio.Event()
        self.catch_up_target = 0
        self.seen = 0
        """Stream sequence of the last message delivered: caught up once it reaches `catch_up_target`."""
        self.restart = False  # this run must give way to a fresh one (consumer gone, partitions to take)
        self.halt, self.lag = asyncio.Event(), 0

    @property
    def cells(self) -> dict[str, Cell]:
        """The actors in memory, by actor key (`Cell.key`: the resource token, or a companion's)."""
        return self.mailboxes.cells

    # ---- lifecycle -----------------------------------------------------------------------------------

    async def run(self, outer: asyncio.Event) -> None:
        """Until `outer` is set, or until this run must give way to a fresh one (`restart`)."""
        relay = asyncio.ensure_future(ready.relay(outer, self.halt))
        try:
            await self._run(self.halt)
        finally:
            relay.cancel()

    def _start_over(self) -> None:
        self.restart = True
        self.halt.set()

    async def _run(self, stop: asyncio.Event) -> None:
        await self.persistence.open()
        leases = Leases(await self.log.kv(corelog.LEASES), self.host_id, self.partitions, prefix=self.scope,
                        ttl=self.lease_ttl)
        self.ownership = owner = Ownership(leases, self._drop_partitions, self.log, on_gain=self._start_over,
                                           settled=lambda ps: self.mailboxes.settle(leases.margin, ps), serving=False,
                                           status=lambda: {"lag": self.lag, "actors": len(self.cells)},
                                           kinds=sorted(c.info.key for c in self.registry.controllers()
                                                        if self.registry.decides(c.info.key)))
        if not await owner.acquire(stop, _wait, self.host_id):
            return await owner.release()  # stopped while waiting: leave the board, others count us gone now
        try:  # renewing from now on: a slow start must not let our leases lapse
            await loops.all_or_none(stop, owner.renew(stop, _wait), self._serve(stop))
            if owner.hosts > 1 and not self.restart:  # others take over now; our flush would race them
                self._drop_partitions(owner.owned)
                await owner.release()
            await self.mailboxes.settle(timeout=5)
            try:
                async with asyncio.timeout(5):  # a clean stop is best effort: a crash is survivable anyway
                    await self.flush()
            except (TimeoutError, nats.errors.Error, corelog.Unavailable) as e:
                log.warning("final flush incomplete; the next start folds the rest from the log", error=repr(e))
            if not self.restart:  # starting over keeps the leases: the next run takes them back by CAS
                await owner.release()
        finally:
            self.mailboxes.cancel()
            await self.intake.close(delete=not self.restart)

    async def _serve(self, stop: asyncio.Event) -> None:
        """From the checkpoints of our partitions to the log's end (folded, consumers open), then on."""
        assert self.ownership is not None
        owner = self.ownership
        start = await self._restore() + 1
        await self.persistence.list_keys()
        await sharing.activate_publishers(self.registry, self.persistence.matching, self.mailboxes.cell_of)
        for key in await self.isolation.start(self.persistence.checkpoints, await self.log.last_seq()):
            actor = self.registry.actor_of_key(key) if self.registry.hosted(key.split(".", 1)[0]) else None
            if actor is not None and owner.owns(actor[0]):
                await self.mailboxes.cell_of(key)  # quarantined by a crash: its status says so once caught up
        publishers = sorted(c.info.key for c in self.registry.controllers() if c.publishes_view)
        await self.intake.open(start, owner.owned, self.partitions, publishers)
        self.catch_up_target = await self.log.last_seq()
        log.info("controller starting", host=self.host_id, partitions=sorted(owner.owned), from_seq=start,
                 catch_up_to=self.catch_up_target, reads="partitions" if self.intake.partitioned else "stream")
        if self.catch_up_target < start:
            await self._caught_up()
        await loops.all_or_none(stop, self._consume(stop), self._timers(stop), self._housekeeping(stop))

    async def _restore(self) -> int:
        """The oldest checkpoint of ALL partitions (other hosts' publishers are folded too); re-arms ours' timers."""
        assert self.ownership is not None
        seqs = []
        for p in range(self.partitions):
            checkpoint = await self.persistence.checkpoint(p)
            seqs.append(checkpoint.seq)
            for token, when in checkpoint.timers.items() if p in self.ownership.owned else ():
                self.timers.push(when, token)
        return min(seqs, default=0)

    # ---- consuming ------------------------------------------------------------------------------------

    async def _consume(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            goal = 0 if self.caught_up.is_set() else self.catch_up_target
            try:
                merged = await self.intake.take(self.acks, 0.5, goal)
            except (Gone, Lost) as e:  # a fresh run makes the consumers again and refolds from the checkpoints
                log.warning("consumer gone or a delivery lost; starting over", durable=str(e), error=type(e).__name__)
                self._start_over()
                return
            for i, (delivery, copies) in enumerate(merged):
                await self._dispatch(delivery, copies)
                if i % 64 == 63:  # let the lease renewal run: a starved loop must not let our leases lapse
                    await asyncio.sleep(0)
            await self._release()
            self.seen = self.intake.merge.frontier
            if not self.caught_up.is_set() and not self.acks.busy and self.seen >= self.catch_up_target:
                await self._caught_up()

    async def _dispatch(self, delivery: Delivery, copies: list[tuple[str, Delivery]]) -> None:
        """One message, delivered by one consumer or more (`copies`: each acked on its own)."""
        stored = delivery.stored
        for source, copy in copies:
            self.acks.delivered(copy, source)
        if stored.subject.startswith(_AUDIT_PREFIX):  # not for actors (see `_subscribe`): done already
            return
        assert self.ownership is not None
        owns = self.ownership.owns
        try:
            parsed = subjects.parse(stored.subject)
            mine = [r for r in targets(parsed.ref, stored.headers, self.registry.hosted)
                    if sharing.hosts(r, owns, self.registry)]
            if not mine:  # another host's (read only when this host reads the whole stream): not even decoded
                return
            event = codec.decode(self.registry.kind(parsed.ref.kind), stored.data, stored.headers)
        except (ValueError, KeyError, Exception) as e:  # noqa: BLE001 - a poison message must not wedge us
            log.error("undecodable message skipped", seq=stored.seq, subject=stored.subject, error=str(e))
            return
        actors = recipients(self.registry, mine, event, self._exists)  # the kernel's routing
        cells = self.mailboxes.cells
        if len(actors) == 1 and self._echo(cells.get(actors[0]), stored.seq):
            return
        self.acks.expect(stored.seq, len(actors))
        catching_up = not self.caught_up.is_set()
        for key in actors:
            cell = cells.get(key)  # the common case: a live actor, no await
            if cell is None:
                cell = await self.mailboxes.cell_of(key)
            if catching_up and not cell.running and not cell.queue:
                self._fold(cell, stored, event)  # nothing is decided before catch-up: no task needed
                self.acks.done(stored.seq)
            else:
                cell.queue.append((stored, event))
                self.mailboxes.schedule(cell)

    async def _release(self) -> None:
        await self.intake.ack(self.acks)

    async def _caught_up(self) -> None:
        if self.caught_up.is_set():
            return
        self.caught_up.set()
        if self.ownership is not None:
            self.ownership.serving = True
        log.info("controller caught up", seq=self.catch_up_target, actors=len(self.cells))
        for cell in list(self.cells.values()):
            self.mailboxes.tick(cell)
        for key in self.timers.tokens():
            if key not in self.cells:
                self.mailboxes.tick(await self.mailboxes.cell_of(key))

    # ---- cells ------------------------------------------------------------------------------------------

    async def _load(self, key: str) -> Cell:
        """The cell of an actor key (`Cell.key`) from its snapshot (or fresh), its published view on the board."""
        found = self.registry.actor_of_key(key)
        assert found is not None, key
        ref, ctrl = found
        data = await self.persistence.load(key)
        cell = Cell(ref, ctrl) if data is None else Cell(ref, ctrl, Cell.load(data))
        self.views.publish(cell)
        return cell

    async def _drain(self, cell: Cell) -> None:
        """Fold everything queued for this resource, then decide once (level-based), then ack."""
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
            if self.caught_up.is_set() and (tick or cell.causes) and self._owns(cell) and self._leased():
                await self.reconciler.decide(cell)
            for seq in acks:
                self.acks.done(seq)
            await self._release()

    def _echo(self, cell: Cell | None, seq: int) -> bool:
        """An own write coming back to an actor with nothing queued, running or undecided: the kernel's
        `echo` marks it seen in place. Its drain would have done exactly that and decided nothing (no new
        cause), but at the price of a task, a mailbox slot and an ack round: 6 of the 11 messages of a
        converging deployment are its own writes coming back, about half of them to an idle actor (the
        others arrive mid-decision and take the mailbox as before; issue 27)."""
        if cell is None or cell.running or cell.queue:
            return False
        if not echo(cell, seq):
            return False
        cell.idle_since = time.monotonic()
        self.stats["echoes"] += 1
        return True

    def _exists(self, key: str) -> bool:
        """Is this actor known (in memory, loading, or snapshotted)? A companion starts only when wanted."""
        return self.mailboxes.known(key, self.persistence.keys)

    def _fold(self, cell: Cell, stored: StoredMessage, event: Event) -> None:
        if not self.isolation.fold(cell, stored, event):  # the kernel's fold, under the watchdog
            return
        traceparent = stored.headers.get(H.TRACEPARENT)
        if traceparent is not None:
            cell.trace = {H.TRACEPARENT: traceparent}
            self.reconciler.caused_by(cell, traceparent)
        self.views.publish(cell)

    def _owns(self, cell: Cell) -> bool:
        """Decided here: its partition is ours and its kind is not only viewed (`Registry.add_viewer`)."""
        return self.ownership is not None and self.ownership.owns(cell.ref) and self.registry.decides(cell.ref.kind)

    def _leased(self) -> bool:
        """False once our leases may lapse (renewals late): another host could take them and decide on a log
        missing what we write next (fences cover an actor's own subjects, not its messages), and our snapshots
        and checkpoints would overwrite its own. We write none of them and start over."""
        if self.ownership is None or not self.ownership.lapsing():  # before every write: one comparison
            return True
        if not self.restart:
            log.warning("partition leases may lapse (renewals late); starting over", host=self.host_id,
                        partitions=sorted(self.ownership.owned))
            self._start_over()
        return False

    def _drop_partitions(self, lost: set[int]) -> None:
        """Stop lost partitions in every part: consumers, cells and queues, pending acks, timers, links, views."""
        self.intake.drop(lost, self.acks)
        if not self.intake.partitioned and self.ownership is not None and reads_partitions(
                self.ownership.owned, self.partitions, self.intake.read_mode):  # reading all for a share: read just it
            self._start_over()
        with sharing.keeping_views(self.mailboxes.cells, lost, self.partitions, self.registry) as kept:
            self.acks.forget(self.mailboxes.drop(lost))
        for cell in kept:
            self.views.publish(cell)
        self.timers.drop(lost)
        self.reconciler.drop(lost)
        self.views.drop(lost)

    # ---- timers, passivation, snapshots ------------------------------------------------------------------

    async def _timers(self, stop: asyncio.Event) -> None:
        assert self.ownership is not None
        while not stop.is_set():
            now = time.time()
            for key in self.timers.due(now):
                cell = self.cells.get(key)
                if cell is None:
                    found = self.registry.actor_of_key(key)
                    if found is None or not self.ownership.owns(found[0]):
                        continue
                    cell = await self.mailboxes.cell_of(key)
                if cell.wake_at is not None and cell.wake_at <= now and self.caught_up.is_set():
                    cell.wake_at = None
                    self.mailboxes.tick(cell)
            due = self.timers.next_due()
            await _wait(stop, 0.5 if due is None else min(0.5, max(0.005, due - time.time())))

    async def _housekeeping(self, stop: asyncio.Event) -> None:
        while not await _wait(stop, min(self.flush_seconds, 2.0)):
            await self.flush(paced=True)
            await self._passivate()

    async def flush(self, paced: bool = False) -> None:
        """Snapshot dirty actors, then our partitions' checkpoints to the done floor (+ passivated timers);
        `paced`: the snapshots leave room for the messages in between (`persistence.PACE`)."""
        floor = min(self.intake.merge.frontier, self.acks.oldest_pending() - 1)  # read before the snapshots
        sample(self.cells, len(self.acks.pending), self.durable, None)
        self.lag = self.intake.lag
        if not self.caught_up.is_set() or not self._leased():  # a stale owner's snapshots would overwrite the new one's
            return
        await self.persistence.save((c for c in list(self.cells.values()) if c.dirty and self._owns(c)),
                                    paced=paced, allowed=self._leased)
        if not self._leased():  # lapsed while saving: the checkpoints would claim snapshots we did not write
            return
        assert self.ownership is not None
        cells = self.cells

        def kept(token: str) -> bool:
            cell = cells.get(token)
            return cell is None or cell.wake_at is not None

        for p, due in self.timers.by_partition(self.ownership.owned, kept).items():
            await self.persistence.write_checkpoint(p, Checkpoint(seq=floor, timers=due))

    async def _passivate(self) -> None:
        """Drop idle actors from memory (snapshotted first): memory follows active resources, not all."""
        if not self.caught_up.is_set() or not self._leased():
            return
        now = time.monotonic()
        idle = [c for c in list(self.cells.values())
                if not c.busy and now - c.idle_since >= self.idle_seconds]
        idle = [c for c in idle if self._owns(c)]  # a view-only cell is never saved: its owner does that
        await self.persistence.save((c for c in idle if c.dirty), paced=True, allowed=self._leased)
        for cell in idle:
            if cell.busy or cell.dirty:
                continue  # it woke up while we were saving: keep it, snapshot again later
            if not self.mailboxes.forget(cell):
                continue  # its partition was lost meanwhile
            self.reconciler.forget(cell.key)
            self.stats["passivated"] += 1
            ACTORS_PASSIVATED.inc()


_wait = ready.wait  # sleep up to N seconds, waking early on stop (True when stopping)
