"""Simulated nodes' shell (`bosun driver sim-nodes`, run by `bosun up --sim-nodes N`): one process serving
every simulated node, so that a thousand of them cost one connection and one consumer, not a thousand agents.

It does for each node what an agent does (`dataplane.agent`), in bulk:
- joins: a `node.joined` on the Node's `obs` slice (labels `sim=true`, `zone`, its GPUs `0..G-1`, a new epoch
  at every start of the component or of the node), appended with the same message id the gateway's door
  derives for an agent's (`node/<NAME>/node.joined/<epoch>/<at>`);
- beats: every node's heartbeat key in `bosun-nodes`, all in one burst of publishes every
  `HEARTBEAT_INTERVAL` (what the node lifecycle controller times), stopped nodes' not;
- reports: a `node.reported` when what a node runs changed, at most every `REPORT_EVERY` seconds (and at least
  every `nodes.REPORT_INTERVAL`);
- carries out evictions (`EvictReplicas` of a node lost long enough: its replicas stopped, then its fence moved to
  the command's sequence, which its beats carry);
- runs the replicas the pools placed on its nodes (`StartOnNode`, `StopReplica` on `bosun.cmd.node-<NAME>.…`)
  in the simulated world (`nodeworld`), read through ONE durable consumer, `sim-nodes`, whose filters are every
  simulated node's command subject (NATS subjects have no prefix wildcard; JetStream takes many filters).
"""
from __future__ import annotations

import asyncio
import os
import socket
import time
from pathlib import Path
from typing import Any

import msgspec
import nats.errors
import nats.js.errors
import structlog
from nats.js import api

from core import headers as H
from core import log as corelog
from core import nodes, ready, subjects
from core.feed import Delivery
from core.metrics import COMMANDS
from core.names import Ref
from core.natsusers import SIM_NODES
from core.replicas import EvictReplicas, StartOnNode, StopReplica
from core.settings import DEFAULTS, Settings
from dataplane.base.shell import retrying
from dataplane.sim.driver import ACK_WAIT, FETCH_BATCH, Driver
from dataplane.sim.nodeworld import NodesWorld, labels
from dataplane.sim.world import Cause

DRIVER = "sim-nodes"
REPORT_EVERY = 30.0
JOINS_IN_FLIGHT = 64
logger = structlog.get_logger()
_encode = msgspec.json.encode


async def serve(nats_url: str, data_dir: Path, *, names: tuple[str, ...], gpus: int, stop: asyncio.Event,
                latency: float = 0.05, seed: int = 0, relist_interval: float = 2.0,
                heartbeat: float = nodes.HEARTBEAT_INTERVAL, settings: Settings = DEFAULTS) -> None:
    """Serve simulated nodes `names` (`gpus` GPUs each) until `stop` is set. Their world lives in
    `<data_dir>/sim/nodes.db`."""
    world = NodesWorld.open(data_dir, latency=latency, seed=seed)
    try:
        world.ensure_nodes(names, gpus)
        nc = await ready.connect(nats_url, "bosun-sim-nodes")
        try:
            log = corelog.Log(nc, replicas=settings.stream_replicas)
            await ready.ensure(log)
            await NodesDriver(world, log, relist_interval, names, heartbeat).run(stop)
        finally:
            await nc.close()
    finally:
        world.close()


class NodesDriver(Driver):
    consumer = SIM_NODES
    world: NodesWorld

    def __init__(self, world: NodesWorld, log: corelog.Log, relist_interval: float, names: tuple[str, ...],
                 heartbeat: float = nodes.HEARTBEAT_INTERVAL) -> None:
        super().__init__(world, log, relist_interval)
        self.names = names
        self.heartbeat = heartbeat
        self.joined: dict[str, int] = {}
        """node -> the epoch whose join the log holds."""
        self.reported: dict[str, tuple[tuple[int, tuple[str, ...]], float]] = {}
        """node -> (usage last reported, when)."""
        self.target = ""
        """The node the command being applied was sent to (its subject's driver token)."""

    def consumer_config(self) -> api.ConsumerConfig:
        return api.ConsumerConfig(
            durable_name=SIM_NODES, name=SIM_NODES, filter_subjects=[nodes.commands(n) for n in self.names],
            ack_policy=api.AckPolicy.EXPLICIT, ack_wait=ACK_WAIT, max_ack_pending=FETCH_BATCH * 4)

    async def ensure_consumer(self) -> None:
        """The one consumer over every simulated node's commands; made again when the nodes changed (its
        filters are the node list), keeping nothing of the old one's position: a node new to it starts
        from the stream's beginning, as an agent's consumer does."""
        config = self.consumer_config()
        try:
            info = await self.log.jsm.consumer_info(self.log.stream, SIM_NODES)
        except nats.js.errors.NotFoundError:
            await self.log.jsm.add_consumer(self.log.stream, config)
            return
        if sorted(info.config.filter_subjects or []) != sorted(config.filter_subjects or []):
            await self.log.jsm.delete_consumer(self.log.stream, SIM_NODES)
            await self.log.jsm.add_consumer(self.log.stream, config)

    def loops(self, stop: asyncio.Event) -> list[asyncio.Task[None]]:
        return [*super().loops(stop), asyncio.create_task(self._nodes(stop), name="sim-nodes")]

    async def _apply(self, delivery: Delivery) -> bool:
        driver = subjects.parse(delivery.stored.subject).driver or ""
        self.target = driver.removeprefix("node-")
        return await super()._apply(delivery)

    def _actuate(self, ref: Ref, cmd: Any, cause: Cause) -> str | None:
        now = time.time()
        match cmd:
            case StartOnNode():
                outcome = self.world.start_on_node(ref, cmd, now, cause) if cmd.node == self.target else None
                if outcome is None:
                    logger.error("start for another node", node=cmd.node, subject_node=self.target)
                    return None
                self.starting.set()
            case StopReplica():
                if not self.world.running(self.target):
                    outcome = "dropped"
                else:
                    outcome = self.world.stop_replica(ref, cmd, now, cause)
            case EvictReplicas() if cmd.node == self.target:
                seq = int(cause.headers.get(H.CAUSES, "0") or 0)
                named = [(Ref.parse(e.target), e.replica, e.pool) for e in cmd.replicas if e.target.count(".") == 2]
                stopped = self.world.evict(cmd.node, named, seq, now, cause)
                logger.warning("evicted replicas stopped; fence moved", node=cmd.node, stopped=stopped, fence=seq)
                outcome = "evicted"
            case _:
                logger.error("not a simulated node's command", type=type(cmd).__name__)
                return None
        COMMANDS.labels(DRIVER, type(cmd).__name__, outcome).inc()
        return outcome

    # ---- the nodes themselves -----------------------------------------------------------------------

    async def _nodes(self, stop: asyncio.Event) -> None:
        """Every `heartbeat`: join nodes new or restarted, beat the running ones, report changed usage."""
        while True:
            rows = self.world.nodes()
            running = [r for r in rows if not r["stopped"] and r["name"] in self.names]
            await self._join([r for r in running if self.joined.get(r["name"]) != r["epoch"]])
            await self._beat(running)
            await self._report(running)
            if await ready.wait(stop, self.heartbeat):
                return

    async def _join(self, rows: list[Any]) -> None:
        if not rows:
            return
        sem = asyncio.Semaphore(JOINS_IN_FLIGHT)
        host = socket.gethostname()

        async def one(r: Any) -> None:
            name = r["name"]
            event = nodes.NodeJoined(labels=labels(name, r["zone"]),
                                     devices=tuple(nodes.Device(id=str(i), model="sim") for i in range(r["gpus"])),
                                     host=host, pid=os.getpid(), epoch=r["epoch"], at=time.time())
            async with sem:
                await retrying("join node", lambda: self._append(name, event))
            self.joined[name] = r["epoch"]
            self.reported[name] = ((0, ()), time.monotonic())  # the join said it: nothing runs yet

        await asyncio.gather(*(one(r) for r in rows))
        logger.info("simulated nodes joined", nodes=len(rows))

    async def _append(self, name: str, event: nodes.NodeObservation) -> int:
        tag = type(event).__struct_config__.tag
        msg_id = f"node/{name}/{tag}/{getattr(event, 'epoch', 0)}/{getattr(event, 'at', 0.0)!r}"
        return (await self.log.append(nodes.obs_subject(name), event, msg_id=msg_id)).seq

    async def _beat(self, rows: list[Any]) -> None:
        """One publish per running node onto its key (no reply asked: the next beat is the retry)."""
        now, pid = time.time(), os.getpid()
        try:
            for r in rows:
                beat = nodes.Heartbeat(at=now, epoch=r["epoch"], pid=pid, fence=r["fence"])
                await self.log.nc.publish(f"$KV.{nodes.BUCKET}.{r['name']}", _encode(beat))
            await self.log.nc.flush()
        except nats.errors.Error as e:
            logger.warning("heartbeats not sent", error=str(e) or type(e).__name__)

    async def _report(self, rows: list[Any]) -> None:
        now = time.monotonic()
        usage = self.world.usage()
        due = []
        for r in rows:
            name = r["name"]
            mine = usage.get(name, (0, ()))
            last, when = self.reported.get(name, ((0, ()), 0.0))
            if (mine != last and now - when >= REPORT_EVERY) or now - when >= nodes.REPORT_INTERVAL:
                due.append((name, r["epoch"], mine))
        sem = asyncio.Semaphore(JOINS_IN_FLIGHT)

        async def one(name: str, epoch: int, mine: tuple[int, tuple[str, ...]]) -> None:
            event = nodes.NodeReported(replicas=mine[0], allocated=mine[1], epoch=epoch, at=time.time())
            async with sem:
                try:
                    await self._append(name, event)
                except (corelog.Unavailable, nats.errors.Error) as e:
                    logger.warning("node report not written", node=name, error=str(e) or type(e).__name__)
                    return
            self.reported[name] = (mine, now)

        await asyncio.gather(*(one(*d) for d in due))


__all__ = ["DRIVER", "NodesDriver", "serve"]
