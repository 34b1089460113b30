"""The node lifecycle controller: nodes whose heartbeat lease is late are NotReady, until they beat again; those
NotReady past the eviction timeout lose their replicas, which are replaced elsewhere.

Its own reconciler beside the Node actor, writing only `ctl.lifecycle` of each Node (`core.nodes.LIFECYCLE`),
besides what an eviction writes (`evictions`): every second it reads the `bosun-nodes` bucket (one direct get
for every key), times each beat by its arrival (`liveness.Beats`) and appends a verdict when one changes
(`liveness.verdicts`). The Node actor folds the verdicts into its phase. Each verdict expects the slice's last
sequence, so several controller hosts running it write each verdict once; a conflict re-reads the slice and
judges again next tick.

A node NotReady for `--eviction-timeout` more seconds is evicted: each replica the pools' ledgers hold on it
(`Ledgers`: the pool actors of this controller process, which keeps every pool's state) is declared lost on
its resource's `obs` slice (reason NodeLost; its deployment replaces it), its agent is ordered to stop them
(`EvictReplicas`, whose stream sequence is the eviction's fence) and the Node's slice records it
(`NodeReplicasEvicted`). The node is Ready again only from a beat that carries that fence: its agent stopped them.

A key is deleted when its agent leaves cleanly (`gateway.intents.nodes`): a node that left is forgotten,
never "lost".
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec
import nats.js.errors
import structlog

from actors.gpupool.model import Pool
from actors.node import evictions
from actors.node.kind import NODE
from actors.node.liveness import Beats, Recorded, Verdict, verdicts
from actors.placement import Slot
from core import codec, nodes, ready, subjects
from core.events import Event
from core.log import Conflict, Log
from core.replicas import Evicted

TICK = 1.0
DEFAULT_TIMEOUT = 10.0
DEFAULT_EVICTION = 30.0
CONCURRENT_APPENDS = 64
log = structlog.get_logger("bosun.nodes.lifecycle")
_beat = msgspec.json.Decoder(nodes.Heartbeat)

PoolLedgers = Sequence[tuple[str, Mapping[str, Sequence[Slot]]]]
"""(pool key, requester token -> the slots it holds) of every pool made of nodes."""


def slice_of(node: str) -> str:
    return subjects.ctl(nodes.ref(node), nodes.LIFECYCLE)


class Ledgers:
    """The pools' ledgers as this controller process folds them: the current controller host's pool actors (a
    host keeps every pool's state, its own and a view-only copy of the others'). None until a host has caught
    up with the log: an eviction waits rather than act on a ledger behind it."""

    def __init__(self) -> None:
        self.host: Any = None

    def attach(self, host: Any) -> None:
        self.host = host

    def __call__(self) -> PoolLedgers | None:
        host = self.host
        if host is None or not host.caught_up.is_set():
            return None
        out = []
        for cell in list(host.cells.values()):
            r = cell.state
            pool = getattr(r, "state", None)
            if cell.ref.kind == "gpupool" and isinstance(pool, Pool) and pool.slots and not r.gone:
                out.append((f"{cell.ref.namespace}/{cell.ref.name}", dict(pool.slots.items())))
        return out


class Lifecycle:
    def __init__(self, lg: Log, timeout: float = DEFAULT_TIMEOUT, clock: Callable[[], float] = time.monotonic,
                 *, eviction: float = DEFAULT_EVICTION,
                 ledgers: Callable[[], PoolLedgers | None] | None = None) -> None:
        self.log = lg
        self.timeout = timeout
        self.eviction = eviction
        self.ledgers = ledgers
        """Where an eviction finds the replicas on a node; None: this controller evicts nothing."""
        self.clock = clock
        self.beats = Beats()
        self.recorded: dict[str, Recorded] = {}
        """node -> its last verdict as the log holds it."""
        self.bucket = False

    async def step(self) -> list[tuple[str, Verdict]]:
        """One reading of the bucket; the verdicts it wrote. No bucket yet (a gateway of the previous release
        makes none): no node."""
        if not self.bucket:
            try:
                await self.log.jsm.stream_info(f"KV_{nodes.BUCKET}")
            except nats.js.errors.NotFoundError:
                return []
            self.bucket = True
        entries = await self.log.kv_entries(nodes.BUCKET)
        now = self.clock()
        self.beats.observe(entries, now, {node: _fence(value) for node, value in entries.items()})
        for node in [n for n in self.recorded if n not in self.beats.seen]:
            del self.recorded[node]
        for node in self.beats.seen:
            if node not in self.recorded:
                self.recorded[node] = await self._read(node)
        written: list[tuple[str, Verdict]] = []
        judged = verdicts(self.beats.seen, self.recorded, now, self.timeout,
                          self.eviction if self.ledgers is not None else None)
        for node, verdict in judged:
            done = await (self._evict(node, now) if verdict == "evict" else
                          self._write(node, verdict == "lost", entries.get(node, b"")))
            if done:
                written.append((node, verdict))
        return written

    async def _read(self, node: str) -> Recorded:
        last = await self.log.last(slice_of(node), leader=True)
        if last is None:
            return Recorded()
        try:
            event = codec.decode(NODE.info, last.data, last.headers)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return Recorded(seq=last.seq)
        if isinstance(event, nodes.NodeReplicasEvicted):
            return Recorded(lost=True, seq=last.seq, fence=max(event.fence, 1))
        return Recorded(lost=isinstance(event, nodes.NodeHeartbeatLost), seq=last.seq)

    async def _write(self, node: str, lost: bool, value: bytes) -> bool:
        event: Event
        if lost:
            try:
                at = _beat.decode(value).at
            except (msgspec.DecodeError, msgspec.ValidationError):
                at = 0.0
            event = nodes.NodeHeartbeatLost(timeout=self.timeout, last_beat=at)
        else:
            event = nodes.NodeHeartbeatResumed()
        try:
            appended = await self.log.append(slice_of(node), event, expected_last_subject_seq=self.recorded[node].seq)
        except Conflict:
            self.recorded[node] = await self._read(node)  # another host judged first: judge again next tick
            return False
        self.recorded[node] = Recorded(lost=lost, seq=appended.seq)
        log.info("node verdict", node=node, ready=not lost, timeout=self.timeout)
        return True

    async def _evict(self, node: str, now: float) -> bool:
        """Declare the replicas on `node` lost, order its agent to stop them, then record it (fenced): a host
        that crashes mid-way, or a second host, writes each message once (their ids derive from the verdict)."""
        assert self.ledgers is not None
        ledgers = self.ledgers()
        if ledgers is None:
            return False  # no caught-up ledger in this process yet: next tick
        lost_seq = self.recorded[node].seq
        replicas = evictions.assigned(ledgers, node)
        subject, order = evictions.command(node, replicas)
        sent = await self.log.append(subject, order, msg_id=evictions.command_id(node, lost_seq))
        waited = round(now - self.beats.seen[node].at, 1)
        gate = asyncio.Semaphore(CONCURRENT_APPENDS)

        async def declare(replica: Evicted) -> None:
            where, event, msg_id = evictions.lost(node, lost_seq, replica, waited)
            async with gate:
                await self.log.append(where, event, msg_id=msg_id)

        await asyncio.gather(*(declare(r) for r in replicas))
        try:
            appended = await self.log.append(slice_of(node), evictions.marker(sent.seq, replicas, self.eviction),
                                             expected_last_subject_seq=lost_seq,
                                             msg_id=f"lifecycle/{node}/{lost_seq}/evicted")
        except Conflict:
            self.recorded[node] = await self._read(node)
            return False
        self.recorded[node] = Recorded(lost=True, seq=appended.seq, fence=sent.seq)
        if appended.duplicate:
            return False  # another host (or our own earlier try) recorded it
        log.warning("node evicted", node=node, replicas=len(replicas), fence=sent.seq, eviction=self.eviction)
        return True


def _fence(value: bytes) -> int:
    try:
        return _beat.decode(value).fence
    except (msgspec.DecodeError, msgspec.ValidationError):
        return 0


async def serve(nats_url: str, *, stop: asyncio.Event, timeout: float = DEFAULT_TIMEOUT,
                eviction: float = DEFAULT_EVICTION, ledgers: Ledgers | None = None, tick: float = TICK,
                replicas: int = 1) -> None:
    """Run the node lifecycle controller until `stop` is set (waits for the cluster first). `ledgers`: the
    pools' ledgers of this process's controller host (without: it marks nodes NotReady but evicts nothing)."""
    try:
        nc = await ready.connect(nats_url, "bosun-node-lifecycle", stop)
    except ready.Stopped:
        return
    try:
        lg = Log(nc, replicas=replicas)
        await ready.ensure(lg, stop)
        lifecycle = Lifecycle(lg, timeout, eviction=eviction, ledgers=ledgers)
        while not stop.is_set():
            try:
                await lifecycle.step()
            except ready.TRANSIENT as e:
                log.warning("node lifecycle step failed; retrying", error=str(e) or type(e).__name__)
            await ready.wait(stop, tick)
    except ready.Stopped:
        return
    finally:
        await nc.close()
