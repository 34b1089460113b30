"""The node lifecycle controller: nodes whose heartbeat lease is late are NotReady, until they beat again.

Its own reconciler beside the Node actor, writing only `ctl.lifecycle` of each Node (`core.nodes.LIFECYCLE`):
every second it reads the `bosun-nodes` bucket (one direct get for every key), times each beat by its
arrival (`liveness.Beats`) and appends a verdict when one changes (`liveness.verdicts`). The Node actor
folds the verdicts into its phase. Each append expects the slice's last sequence, so several controller
hosts running it write each verdict once; a conflict re-reads the slice and judges again next tick.

A key is deleted when its agent leaves cleanly (`gateway.intents.nodes`): a node that left is forgotten,
never "lost". Evicting a lost node's replicas (`--eviction-timeout`) comes with replicas on nodes.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import msgspec
import nats.js.errors
import structlog

from actors.node.kind import NODE
from actors.node.liveness import Beats, verdicts
from core import codec, nodes, ready, subjects
from core.events import Event
from core.log import Conflict, Log

TICK = 1.0
DEFAULT_TIMEOUT = 10.0
log = structlog.get_logger("bosun.nodes.lifecycle")
_beat = msgspec.json.Decoder(nodes.Heartbeat)


def slice_of(node: str) -> str:
    return subjects.ctl(nodes.ref(node), nodes.LIFECYCLE)


class Lifecycle:
    def __init__(self, lg: Log, timeout: float = DEFAULT_TIMEOUT,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.log = lg
        self.timeout = timeout
        self.clock = clock
        self.beats = Beats()
        self.recorded: dict[str, tuple[bool, int]] = {}
        """node -> (lost, sequence of that verdict) as the log holds it."""
        self.bucket = False

    async def step(self) -> list[tuple[str, bool]]:
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
        self.beats.observe(entries, now)
        for node in [n for n in self.recorded if n not in self.beats.seen]:
            del self.recorded[node]
        for node in self.beats.seen:
            if node not in self.recorded:
                self.recorded[node] = await self._read(node)
        written = []
        judged = verdicts(self.beats.arrived(), {n: lost for n, (lost, _) in self.recorded.items()}, now,
                          self.timeout)
        for node, lost in judged:
            if await self._write(node, lost, entries.get(node, b"")):
                written.append((node, lost))
        return written

    async def _read(self, node: str) -> tuple[bool, int]:
        last = await self.log.last(slice_of(node), leader=True)
        if last is None:
            return False, 0
        try:
            event = codec.decode(NODE.info, last.data, last.headers)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return False, last.seq
        return isinstance(event, nodes.NodeHeartbeatLost), last.seq

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
            appended = await self.log.append(slice_of(node), event, expected_last_subject_seq=self.recorded[node][1])
        except Conflict:
            self.recorded[node] = await self._read(node)  # another host judged first: judge again next tick
            return False
        self.recorded[node] = (lost, appended.seq)
        log.info("node verdict", node=node, ready=not lost, timeout=self.timeout)
        return True


async def serve(nats_url: str, *, stop: asyncio.Event, timeout: float = DEFAULT_TIMEOUT, tick: float = TICK,
                replicas: int = 1) -> None:
    """Run the node lifecycle controller until `stop` is set (waits for the cluster first)."""
    try:
        nc = await ready.connect(nats_url, "bosun-node-lifecycle", stop)
    except ready.Stopped:
        return
    try:
        lg = Log(nc, replicas=replicas)
        await ready.ensure(lg, stop)
        lifecycle = Lifecycle(lg, timeout)
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
