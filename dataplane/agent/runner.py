"""The agent's runner: the process driver's machinery (fence, records, adoption through the /proc marker,
readiness, load) running the replicas a pool's ledger placed on this node.

It differs from the `process` driver only at its edges, because a node's credential reaches almost nothing:
- commands come from the node's own consumer (`node-<NAME>`, filter `bosun.cmd.node-<NAME>.>`), made by the
  gateway at the join; the runner only pulls from it and acks (it may not create or inspect a consumer);
- observations go through the gateway's node door as `ReplicaReport`s (`DoorLog`), which the gateway appends
  only for replicas assigned to this node; a refused one is dropped, never retried forever;
- devices come in the command (`StartOnNode.devices`, the pool's ledger's choice) and are checked again here,
  in the runner's own durable records: a start naming a device another replica holds is refused (lost), so
  one device never serves two replicas even if the plane were wrong;
- each replica also gets `BOSUN_NODE`;
- an `EvictReplicas` (the node was lost long enough for its replicas to be replaced elsewhere) kills the
  replicas it names at once (they are no longer assigned here: another copy serves), waits until they are gone,
  and only then moves the node's fence (`<data>/agent/fence`) to that command's stream sequence: the agent's
  beats carry it, and the node is Ready again only from a beat that reaches the eviction's fence.
- cut off from the plane for long enough (`cutoff`), the agent has the runner stop every replica on its own
  (`fence_self`): SIGTERM, SIGKILL after each one's grace, each recorded stopped as a `StopReplica` would (a
  tombstone: never started again), its `ReplicaStopped` sent when the plane answers again.
Replicas outlive the agent (their own sessions): a restarted agent adopts them (same pids) from its records.
"""
from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import msgspec
import nats.errors
import structlog
from nats.aio.client import Client as NATS

from core import nodes, subjects
from core.events import Event
from core.feed import Delivery, Feed
from core.names import Ref
from core.replicas import EvictReplicas, StartOnNode, StartReplica, StopReplica
from dataplane.base.shell import cancel_all, cause_of, command_of, retrying, trace_headers
from dataplane.process import procs, store
from dataplane.process.driver import FETCH_BATCH, Driver
from dataplane.process.fence import Fence
from dataplane.process.world import World

STREAM = "BOSUN"
REPORT_TIMEOUT = 5.0
EVICT_WAIT = 10.0
"""Seconds an eviction waits for its killed replicas to be gone before it gives up (the command is then
redelivered, and the fence stays where it was)."""
logger = structlog.get_logger()
_answer = msgspec.json.Decoder(dict[str, Any])


class Appended(msgspec.Struct, frozen=True):
    seq: int
    duplicate: bool = False


class DoorLog:
    """What the runner's outbox appends through: the gateway's door for this node (never the log itself)."""

    def __init__(self, nc: NATS, node: str) -> None:
        self.nc = nc
        self.node = node

    async def append(self, subject: str, event: Event, *, now: float | None = None, msg_id: str | None = None,
                     **_: Any) -> Appended:
        """Send one observation; returns once the gateway wrote it, or refused it for good (then it is dropped:
        retrying cannot help). Raises when unanswered, so the outbox keeps it and sends it again."""
        report = nodes.ReplicaReport(target=subjects.parse(subject).ref.token, id=msg_id or "",
                                     event=event,  # type: ignore[arg-type]  # a replica observation
                                     at=now or time.time())
        msg = await self.nc.request(nodes.report_subject(self.node), msgspec.json.encode(report),
                                    timeout=REPORT_TIMEOUT)
        answer = _answer.decode(msg.data)
        if "seq" in answer:
            return Appended(int(answer["seq"]))
        error = answer.get("error") or {}
        if error.get("code") in ("Invalid", "Forbidden"):
            logger.error("replica report refused: dropped", node=self.node, subject=subject, error=error)
            return Appended(0)
        raise nats.errors.Error(f"replica report not written: {error}")


class NodeWorld(World):
    """The process world, with devices taken from the command and checked against its own records."""

    def __init__(self, conn: Any, node: str) -> None:
        super().__init__(conn)
        self.node = node

    def _allot(self, cmd: StartReplica) -> tuple[str, str | None]:
        if not isinstance(cmd, StartOnNode):
            return "", f"node {self.node} runs only replicas placed on it (replica.start-on-node)"
        if cmd.node != self.node:
            return "", f"placed on node {cmd.node}, not on {self.node}"
        if len(cmd.devices) != cmd.gpus or len(set(cmd.devices)) != len(cmd.devices):
            return "", f"asks for {cmd.gpus} GPU but names devices {','.join(cmd.devices) or '-'}"
        held = {d for r in self.conn.execute("SELECT devices FROM replicas") for d in r["devices"].split(",") if d}
        clash = sorted(held & set(cmd.devices))
        if clash:
            return "", (f"device {','.join(clash)} of node {self.node} is used by another replica: "
                        "refused (one device never serves two replicas)")
        return ",".join(cmd.devices), None

    def usage(self) -> tuple[int, tuple[str, ...]]:
        """(replicas it runs, devices they hold), for the node's status report."""
        rows = self.conn.execute("SELECT devices FROM replicas").fetchall()
        return len(rows), tuple(sorted(d for r in rows for d in r["devices"].split(",") if d))


def read_fence(path: Path) -> int:
    try:
        return int(path.read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def write_fence(path: Path, fence: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(str(fence))
    os.replace(tmp, path)


class NodeRunner(Driver):
    def __init__(self, nc: NATS, node: str, data_dir: Path, *, relist_interval: float = 2.0,
                 load_interval: float = 2.0, fence: Fence | None = None) -> None:
        self.node_world = NodeWorld(store.connect(data_dir), node)
        super().__init__(self.node_world, DoorLog(nc, node), data_dir,  # type: ignore[arg-type]  # the door
                         relist_interval, load_interval, fence)
        self.nc = nc
        self.node = node
        self.extra_env = {"BOSUN_NODE": node}
        self.fence_file = Path(data_dir) / "fence"
        self.evicted_to = read_fence(self.fence_file)
        """The stream sequence of the last eviction carried out (or below which the consumer holds nothing)."""

    def fence_at_least(self, seq: int) -> None:
        """Nothing at or below `seq` is left for this node (its consumer starts above it): record so."""
        if seq > self.evicted_to:
            write_fence(self.fence_file, seq)
            self.evicted_to = seq

    async def _apply(self, delivery: Delivery) -> bool:
        stored = delivery.stored
        decoded = await command_of(self.feed, delivery)
        if decoded is None or not isinstance(decoded[1], EvictReplicas):
            return await super()._apply(delivery) if decoded is not None else False
        cmd = decoded[1]
        if cmd.node != self.node:
            logger.error("an eviction for another node ignored", node=self.node, named=cmd.node)
            await self.feed.term(delivery)
            return False
        if not await self.evict(cmd, cause_of(trace_headers(stored.headers), stored.seq)):
            return False  # not all gone yet: not acked, redelivered, the fence unmoved
        self.fence_at_least(stored.seq)
        logger.warning("evicted replicas stopped; fence moved", node=self.node, replicas=len(cmd.replicas),
                       fence=stored.seq)
        return True

    async def evict(self, cmd: EvictReplicas, cause: Any) -> bool:
        """Kill each named replica this node still runs (no grace: it was replaced elsewhere) and wait until
        every one is gone; True once none is left."""
        now = time.time()
        keys = []
        for e in cmd.replicas:
            try:
                ref = Ref.parse(e.target)
            except ValueError:
                continue
            _, who = self.world.stop(ref, StopReplica(replica=e.replica, pool=e.pool), now, cause)
            if who is not None:
                procs.signal_group(who, signal.SIGKILL)
                self.killed.add((ref.token, e.replica))
            keys.append((ref.token, e.replica))
        self.wake.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + EVICT_WAIT
        while any(self.world.record(*key) is not None for key in keys):
            if loop.time() >= deadline:
                logger.error("evicted replicas still running", node=self.node,
                             left=[k for k in keys if self.world.record(*k) is not None])
                return False
            self.wake.set()
            await asyncio.sleep(0.05)
        return True

    async def fence_self(self) -> int:
        """Stop every replica this node runs, on the agent's own word (cut off from the plane past the time it
        replaces them): each is recorded stopping now, as a `StopReplica` does, so it is never spawned again and
        its `ReplicaStopped` waits in the outbox until the plane answers; SIGTERM, then SIGKILL once its grace
        is over; returns once every one is gone (how many there were). The monitor may see an exit first (it
        escalates and records exits too): whichever does, the other finds the record gone."""
        now = time.time()
        stopping: list[tuple[tuple[str, str], float]] = []
        records = self.world.records()
        for rec in records:
            _, who = self.world.stop(rec.ref, StopReplica(replica=rec.replica, pool=rec.pool), now)
            if who is not None:
                procs.signal_group(who, signal.SIGTERM)
                stopping.append(((rec.token, rec.replica), now + rec.launch.termination_grace_seconds))
        self.wake.set()
        while stopping:
            now = time.time()
            left = []
            for key, deadline in stopping:
                rec = self.world.record(*key)
                if rec is None or rec.identity is None:
                    continue  # the monitor recorded its exit
                gone, code = self._gone(key, rec)
                if gone:
                    self._exited(key, rec, code, now)
                    continue
                if now >= deadline and key not in self.killed:
                    self.killed.add(key)
                    procs.signal_group(rec.identity, signal.SIGKILL)
                left.append((key, deadline))
            stopping = left
            if stopping:
                await asyncio.sleep(0.05)
        return len(records)

    async def run(self, stop: asyncio.Event) -> None:
        try:
            await retrying("resend outbox", self.outbox.flush)
            self.recover(time.time())
            await retrying("report recovery", self.outbox.flush)
            self.feed = feed = Feed(self.nc, STREAM, nodes.consumer(self.node), batch=FETCH_BATCH)
            await feed.start()
            loops = [asyncio.create_task(self._commands(feed), name="node-commands"),
                     asyncio.create_task(self._monitor(), name="node-monitor"),
                     asyncio.create_task(self._relist(), name="node-relist"),
                     asyncio.create_task(self.meter.run(), name="node-load")]
            stopper = asyncio.create_task(stop.wait(), name="node-stop")
            try:
                done, _ = await asyncio.wait([*loops, stopper], return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if task is not stopper:
                        task.result()
            finally:
                await cancel_all([*loops, stopper])
                await feed.stop()
                await self.http.aclose()
        finally:
            self.world.conn.close()
