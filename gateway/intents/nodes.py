"""Nodes' door: an agent's reports and heartbeats, checked and written by the gateway.

A node's agent connects as its principal `node-<NAME>`, whose NATS permissions let it publish on
`bosun.node.<NAME>.*` and nothing else (`core.natsusers.node_publish`): the subject is its identity. The
gateway (one queue group across gateways) turns

- `bosun.node.<NAME>.obs` (a NodeJoined, NodeReported or NodeLeft) into an append on the Node's `obs`
  slice, with a message id it derives itself under `node/<NAME>/`: an agent never writes the log, so it
  can neither set another writer's dedup id nor any header;
- `bosun.node.<NAME>.beat` (a Heartbeat) into a put of the node's key in the `bosun-nodes` bucket (deleted
  when the node reports it left).

A node's join is answered once its command consumer exists: `node-<NAME>` on the BOSUN stream, filter
`bosun.cmd.node-<NAME>.>` (`core.nodes.consumer`, `commands`), made here so the node itself never needs the
consumer API (it may only pull from that one consumer and ack).

- `bosun.node.<NAME>.obs` carrying a `ReplicaReport` (what the agent's runner saw of a replica) into an
  append on that resource's `obs` slice, only when the replica was assigned to this node (a `StartOnNode` on
  the node's command subject for that resource), under `node/<NAME>/<its id>`; else `Forbidden`.

A report is answered (`{"seq": N}` or `{"error": …}`) into the node's own inbox only; a beat sent as a request
is answered `{"beat": at}` once stored (what a cut-off agent's self-fencing clock counts from), or an error.
Each node's messages are rate-limited (`Budget`): a compromised machine can flood neither the log nor the
bucket; an agent sends a beat every 2 s and a report a minute.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec
import nats.js.errors
import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import api

from core import codec, natsusers, nodes, subjects
from core.log import Log
from core.names import Ref
from core.replicas import ReplicaLost, ReplicaStopped, StartOnNode
from gateway.intents.assignments import Assignments

QUEUE = "bosun-gateway-nodes"
COMMAND_ACK_WAIT = 10.0
COMMANDS_IN_FLIGHT = 512
_reports = msgspec.json.Decoder(nodes.NodeJoined | nodes.NodeReported | nodes.NodeLeft | nodes.ReplicaReport)
_beats = msgspec.json.Decoder(nodes.Heartbeat)
_name = msgspec.json.Decoder(nodes.NodeName)
_encode = msgspec.json.encode
_log = structlog.get_logger("bosun.nodes")


def node_of(subject: str) -> tuple[str, str] | None:
    """(node, what) of `bosun.node.<NAME>.<obs|beat>`; None for anything else."""
    parts = subject.split(".")
    if len(parts) != 4 or parts[:2] != ["bosun", "node"] or parts[3] not in (nodes.REPORT, nodes.BEAT):
        return None
    try:
        _name.decode(_encode(parts[2]))
    except msgspec.ValidationError:
        return None
    return parts[2], parts[3]


@dataclass
class Budget:
    """Token buckets per node and kind of message: `burst` at once, then `rate` per second."""

    rate: float
    burst: float
    left: dict[str, tuple[float, float]] = field(default_factory=dict)
    """node -> (tokens, when counted)."""

    def take(self, node: str, now: float) -> bool:
        tokens, then = self.left.get(node, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        if tokens < 1:
            self.left[node] = (tokens, now)
            return False
        self.left[node] = (tokens - 1, now)
        return True


REPORTS = (1.0, 20.0)
BEATS = (2.0, 10.0)
REPLICAS = (20.0, 200.0)
"""(rate per second, burst) of each node's reports, beats and replica reports (a few per replica start and
stop, and a load figure per deployment every few seconds)."""
REPLICA = "replica"
FINAL = (ReplicaStopped, ReplicaLost)
"""A replica's last reports: the door forgets its assignment once one is written."""


def msg_id(node: str, event: nodes.NodeObservation) -> str:
    """The dedup id of a report: a retried report lands once; nothing else can collide with it."""
    tag = type(event).__struct_config__.tag
    return f"node/{node}/{tag}/{getattr(event, 'epoch', 0)}/{getattr(event, 'at', 0.0)!r}"


async def remove_commands(log: Log, node: str) -> bool:
    """Delete node `node`'s command consumer (`bosun node remove`); False when there was none."""
    try:
        await log.jsm.delete_consumer(log.stream, nodes.consumer(node))
    except nats.js.errors.NotFoundError:
        return False
    return True


class NodeDoor:
    def __init__(self, nc: NATS, log: Log, principal_inboxes: bool = True) -> None:
        self.nc = nc
        self.log = log
        self.principal_inboxes = principal_inboxes
        self._sub: Subscription | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.budgets = {nodes.REPORT: Budget(*REPORTS), nodes.BEAT: Budget(*BEATS), REPLICA: Budget(*REPLICAS)}
        self.assigned = Assignments()
        """(node, resource token, replica) seen on the node's command subject: what it may report on (bounded;
        a miss reads the subject again)."""

    async def start(self) -> None:
        self._sub = await self.nc.subscribe(nodes.DOOR, queue=QUEUE, cb=self._on_message)

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _on_message(self, msg: Msg) -> None:
        task = asyncio.create_task(self._handle(msg))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, msg: Msg) -> None:
        found = node_of(msg.subject)
        if found is None:
            return
        node, what = found
        if what == nodes.REPORT and msg.data.startswith(b'{"type":"node.replica-report"'):
            what = REPLICA  # its own budget: a busy node reports a lot more on its replicas than on itself
        if not self.budgets[what].take(node, time.monotonic()):
            _log.warning("node over its message budget", node=node, what=what)
            await self._reply(msg, node, {"error": {"code": "TooManyRequests", "message": "over the node's budget"}})
            return
        try:
            if what == nodes.BEAT:
                beat = _beats.decode(msg.data)
                await self.log.kv_put(nodes.BUCKET, node, _encode(beat))
                # stored: an agent that asks (a request) learns the plane counts it alive (dataplane.agent.cutoff)
                await self._reply(msg, node, {"beat": beat.at})
                return
            event = _reports.decode(msg.data)
            if isinstance(event, nodes.ReplicaReport):
                await self._replica(msg, node, event)
                return
            starts = await self.ensure_commands(node) if isinstance(event, nodes.NodeJoined) else 0
            appended = await self.log.append(nodes.obs_subject(node), event, msg_id=msg_id(node, event))
            if isinstance(event, nodes.NodeLeft):  # left, not lost: the lifecycle controller forgets it
                await self.log.replies.publish(f"$KV.{nodes.BUCKET}.{node}", b"", {"KV-Operation": "DEL"})
            await self._reply(msg, node, {"seq": appended.seq, **({"commandsFrom": starts} if starts else {})})
        except (msgspec.ValidationError, msgspec.DecodeError) as e:
            _log.warning("unreadable node message refused", node=node, what=what, error=str(e))
            await self._reply(msg, node, {"error": {"code": "Invalid", "message": str(e)[:500]}})
        except Exception as e:  # noqa: BLE001 - the log is unavailable: the agent retries
            _log.warning("node message not written", node=node, what=what, error=str(e))
            await self._reply(msg, node, {"error": {"code": "Unavailable", "message": str(e)[:500]}})

    async def _replica(self, msg: Msg, node: str, report: nodes.ReplicaReport) -> None:
        replica = getattr(report.event, "replica", None)
        if not await self._assigned(node, report.target, replica):
            _log.warning("node reported a replica not assigned to it", node=node, target=report.target,
                         replica=replica)
            await self._reply(msg, node, {"error": {"code": "Forbidden", "message":
                                                    f"{report.target} {replica or ''} is not assigned to node {node}"}})
            return
        ref = Ref.parse(report.target)
        appended = await self.log.append(subjects.obs(ref), report.event, now=report.at or None,
                                         msg_id=f"node/{node}/{report.id}")
        if replica is not None and isinstance(report.event, FINAL):
            self.assigned.forget(node, report.target, replica)  # a retried report reads the subject again
        await self._reply(msg, node, {"seq": appended.seq})

    async def _assigned(self, node: str, target: str, replica: str | None) -> bool:
        """Was `replica` of `target` (any replica of it, for None: a load figure) started on `node`? Read from
        the node's command subject for `target` on a miss, remembered once seen (the one asked about last, so
        it is the last the bounded cache lets go)."""
        if self.assigned.holds(node, target, replica):
            return True
        found: list[str] = []
        async for stored in self.log.read(f"bosun.cmd.{nodes.driver(node)}.{target}"):
            cmd = codec.decode_command(stored.data, stored.headers)
            if isinstance(cmd, StartOnNode) and cmd.node == node:
                found.append(cmd.replica)
        for rid in sorted(set(found), key=lambda r: r == replica):
            self.assigned.add(node, target, rid)
        return replica in found if replica is not None else bool(found)

    async def ensure_commands(self, node: str) -> int:
        """The node's command consumer, with its fixed filter (kept, with its position, across rejoins); the
        stream sequence it starts at (0: the stream's beginning, as consumers made before this were).

        A new one starts after the stream's current end: the node was placed nothing before it joined, and a
        node removed (`bosun node remove` deletes its consumer) and joined again must not replay the commands
        of its former life (it would start replicas long gone). The agent's fence starts there too."""
        durable = nodes.consumer(node)
        jsm = self.log.jsm
        try:
            info = await jsm.consumer_info(self.log.stream, durable)
        except nats.js.errors.NotFoundError:
            start = await self.log.last_seq() + 1
            try:
                info = await jsm.add_consumer(self.log.stream, api.ConsumerConfig(
                    durable_name=durable, name=durable, filter_subject=nodes.commands(node),
                    deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start,
                    ack_policy=api.AckPolicy.EXPLICIT, ack_wait=COMMAND_ACK_WAIT, max_ack_pending=COMMANDS_IN_FLIGHT))
            except nats.js.errors.BadRequestError:  # another gateway made it first (with its own start)
                info = await jsm.consumer_info(self.log.stream, durable)
        return int(info.config.opt_start_seq or 0)

    async def _reply(self, msg: Msg, node: str, body: dict[str, Any]) -> None:
        """Into the node's own inbox only (a reply subject elsewhere is not answered)."""
        inbox = natsusers.client_inbox(nodes.principal(node)) + "."
        if not msg.reply or (self.principal_inboxes and not msg.reply.startswith(inbox)):
            return
        if any(c in msg.reply for c in "*> \t\r\n"):
            return
        await self.nc.publish(msg.reply, _encode(body))
