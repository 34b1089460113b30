"""The agent's shell: join as the node, run the replicas placed on it (`runner`), beat its heartbeat,
report its status, leave on a clean stop (its replicas run on: a restarted agent adopts them).

It connects with the node's own token (the join file), so all it may do is publish on its own
`bosun.node.<NAME>.*` (`core.nodes`): the gateway writes its reports on the Node's `obs` slice and its
beats to the node's KV lease. Each start is a new epoch (kept in `<data>/agent/epoch`), so the Node's
fold ignores whatever a previous incarnation still had in flight.

Each beat carries the node's fence: the stream sequence of the last eviction its runner carried out (or, for a
command consumer the gateway made at this join, the sequence it starts after). A node whose replicas were
evicted while it was away (a partition, a SIGSTOP, a long restart) is Ready again only from a beat reaching that
eviction: the runner processes its command backlog, stops what is no longer assigned to it, then moves the fence.

A beat is a request: the gateway answers once it stored it. An agent cut off from the plane for as long as the
plane waits before replacing its replicas (no beat acknowledged for the node timeout + the eviction timeout,
`--fence-after`) stops every replica it runs on its own (`cutoff` says when, `NodeRunner.fence_self` how):
stale copies do not serve beside their replacements during a long partition.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import nats.errors
import structlog
from nats.aio.client import Client as NATS

from core import log as corelog
from core import natsusers, nodes, ready
from dataplane.agent import cutoff
from dataplane.agent.gpus import Found
from dataplane.agent.runner import NodeRunner
from dataplane.process.driver import EXIT_GRACE

REPORT_TIMEOUT = 5.0
RETRY_CAP = 5.0
logger = structlog.get_logger()
_reply = msgspec.json.Decoder(dict[str, Any])


class Refused(Exception):
    """The gateway refused a report (it is malformed): retrying cannot help."""


class TokenRefused(Exception):
    """The node's token was refused: the agent stops (`bosun agent` exits `nodes.REFUSED_EXIT`). Most likely the
    node was removed or joined again (then starting it again with the same join file cannot help), but NATS
    refuses a connect the same way when no gateway answers its auth callout: a supervisor asks the gateway
    before it gives up on the agent (`supervisor.localnode.revoked`)."""

    def __init__(self, node: str) -> None:
        super().__init__(f"the node's token was refused (node {node} removed, or joined again with a new token; or "
                         f"no gateway answered NATS's auth callout): exiting (join it again: bosun node join {node})")


def next_epoch(data_dir: Path) -> int:
    """One more than the last start's (durable before the agent says anything)."""
    path = data_dir / "agent" / "epoch"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        last = int(path.read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        last = 0
    epoch = last + 1
    tmp = path.with_suffix(".tmp")
    tmp.write_text(str(epoch))
    os.replace(tmp, path)
    return epoch


def read_join(path: Path) -> nodes.JoinFile:
    return msgspec.json.decode(path.read_bytes(), type=nodes.JoinFile)


class Agent:
    def __init__(self, nc: NATS, node: str, epoch: int) -> None:
        self.nc = nc
        self.node = node
        self.epoch = epoch
        self.fence: Callable[[], int] = lambda: 0
        """The node's fence as of now (its runner's)."""
        self.commands_from = 0
        """Where the gateway says the node's command consumer starts (0: at the stream's beginning)."""
        self.acked_at: float | None = None
        """When (`time.monotonic`) the gateway last answered that it stored a beat; None: never in this life."""
        self.fenced_at: float | None = None
        """When the agent last stopped its replicas on its own (cut off), on the same clock."""
        self.unreported_fence = (0, 0.0)
        """(replicas it stopped on its own, seconds it had been cut off) not yet in a written status report."""

    async def report(self, event: nodes.NodeObservation, stop: asyncio.Event | None = None) -> int:
        """Send `event` until the gateway has written it (its stream sequence), or `stop` is set (0)."""
        attempt = 0
        data = msgspec.json.encode(event)
        while True:
            try:
                msg = await self.nc.request(nodes.report_subject(self.node), data, timeout=REPORT_TIMEOUT)
                answer = _reply.decode(msg.data)
                if "seq" in answer:
                    self.commands_from = max(self.commands_from, int(answer.get("commandsFrom") or 0))
                    return int(answer["seq"])
                error = answer.get("error") or {}
                if error.get("code") == "Invalid":
                    raise Refused(str(error.get("message", "")))
                logger.warning("report not written yet", node=self.node, error=error)
            except (nats.errors.Error, TimeoutError, msgspec.DecodeError) as e:
                logger.warning("report not answered", node=self.node, error=str(e) or type(e).__name__)
            attempt += 1
            delay = min(RETRY_CAP, 0.1 * 2**attempt)
            if stop is None:
                await asyncio.sleep(delay)
            elif await ready.wait(stop, delay):
                return 0

    async def beat(self, timeout: float = nodes.HEARTBEAT_INTERVAL) -> bool:
        """Send a beat and wait up to `timeout` for the gateway to say it stored it (then `acked_at` moves);
        whether it did. Unanswered is not an error: being cut off is what `acked_at` measures."""
        beat = nodes.Heartbeat(at=time.time(), epoch=self.epoch, pid=os.getpid(), fence=self.fence())
        try:
            msg = await self.nc.request(nodes.beat_subject(self.node), msgspec.json.encode(beat), timeout=timeout)
            answer = _reply.decode(msg.data)
        except (nats.errors.Error, TimeoutError, msgspec.DecodeError):
            return False
        if "beat" not in answer:
            return False
        self.acked_at = time.monotonic()
        return True


def joined(node: str, labels: dict[str, str], found: Found, epoch: int) -> nodes.NodeJoined:
    return nodes.NodeJoined(labels={**found.labels, **labels}, devices=found.devices, host=socket.gethostname(),
                            pid=os.getpid(), epoch=epoch, at=time.time(), note=found.note)


async def connect(join: nodes.JoinFile, node: str, refused: asyncio.Event, stop: asyncio.Event) -> NATS | None:
    """The node's connection (reconnecting forever, as every component's); None when its token is refused
    (`refused` is set then, and again whenever a reconnect is refused: a rotated or deleted credential) or
    `stop` is set first."""

    async def on_error(e: Exception) -> None:
        if "authorization violation" in str(e).lower():
            if not refused.is_set():
                logger.error("the node's token was refused: join it again (bosun node join NAME)", node=node)
            refused.set()
        else:
            logger.warning("nats connection error", error=str(e) or type(e).__name__)

    inbox = join.inbox_prefix or natsusers.client_inbox(nodes.principal(node))
    connecting = asyncio.ensure_future(corelog.connect(",".join(join.nats), f"bosun-agent-{node}", token=join.token,
                                                       inbox_prefix=inbox, error_cb=on_error))
    ended = [asyncio.ensure_future(refused.wait()), asyncio.ensure_future(stop.wait())]
    await asyncio.wait({connecting, *ended}, return_when=asyncio.FIRST_COMPLETED)
    for waiter in ended:
        waiter.cancel()
    if connecting.done():
        return connecting.result()
    connecting.cancel()
    await asyncio.wait({connecting})
    return None


async def serve(join: nodes.JoinFile, *, node: str, labels: dict[str, str], found: Found, data_dir: Path,
                stop: asyncio.Event, heartbeat: float = nodes.HEARTBEAT_INTERVAL,
                report_every: float = nodes.REPORT_INTERVAL, stop_replicas: bool = False,
                fence_after: float = cutoff.NODE_TIMEOUT + cutoff.EVICTION_TIMEOUT) -> None:
    """Run node `node`'s agent until `stop` is set, or until its token is refused (then it returns).
    `stop_replicas` (`bosun up`'s own node): a stop also stops its replicas (the next start finds them gone
    and reports them lost); else they run on and the next start adopts them. A refused token raises
    `TokenRefused` (after stopping the replicas too with `stop_replicas`: the node is out of the plane, which
    replaces them elsewhere, and no agent of this join file will ever adopt them again). `fence_after`: seconds
    without an acknowledged beat after which it stops its replicas on its own (0: never; `cutoff`)."""
    if join.node != node:
        raise ValueError(f"the join file is node {join.node}'s, not {node}'s")
    refused = asyncio.Event()
    nc = await connect(join, node, refused, stop)
    if nc is None:
        if refused.is_set() and not stop.is_set():
            raise TokenRefused(node)
        return
    ended = asyncio.Event()  # stopped, or refused
    relays = [asyncio.ensure_future(_relay(stop, ended)), asyncio.ensure_future(_relay(refused, ended))]
    try:
        agent = Agent(nc, node, next_epoch(data_dir))
        await agent.beat()
        if await agent.report(joined(node, labels, found, agent.epoch), ended):
            logger.info("node joined", node=node, epoch=agent.epoch, gpus=len(found.devices),
                        note=found.note or None)
            await _run(agent, data_dir, ended, heartbeat, report_every, fence_after,
                       stop_replicas=lambda: stop_replicas and (stop.is_set() or refused.is_set()))
            if not refused.is_set():
                with contextlib.suppress(nats.errors.Error, TimeoutError, Refused):
                    async with asyncio.timeout(REPORT_TIMEOUT):
                        await agent.report(nodes.NodeLeft(epoch=agent.epoch, at=time.time()))
                logger.info("node left", node=node, epoch=agent.epoch)
    finally:
        for relay in relays:
            relay.cancel()
        await nc.close()
    if refused.is_set() and not stop.is_set():
        raise TokenRefused(node)


async def _run(agent: Agent, data_dir: Path, ended: asyncio.Event, heartbeat: float, report_every: float,
               fence_after: float, *, stop_replicas: Callable[[], bool]) -> None:
    """The joined node's life: its runner, its beats and its cut-off watch until `ended`; then its replicas
    stopped if `stop_replicas()` says so once ended."""
    runner = NodeRunner(agent.nc, agent.node, data_dir / "agent")
    if agent.commands_from:
        runner.fence_at_least(agent.commands_from - 1)  # nothing older can reach this node's runner
    agent.fence = lambda: runner.evicted_to
    running = asyncio.ensure_future(runner.run(ended))
    beating = asyncio.ensure_future(_beat_until(agent, ended, heartbeat, running))
    watching = asyncio.ensure_future(_fence_when_cut_off(agent, runner, ended, fence_after))
    try:
        await _report_until(agent, ended, heartbeat, report_every, runner, running)
    finally:
        ended.set()
        await asyncio.wait({running, beating, watching})
        for task, what in ((running, "runner"), (beating, "heartbeat"), (watching, "cut-off watch")):
            if not task.cancelled() and task.exception() is not None:
                logger.error(f"the node's {what} failed", node=agent.node, error=str(task.exception()))
        if stop_replicas():
            await runner.stop_replicas(EXIT_GRACE)


async def _beat_until(agent: Agent, ended: asyncio.Event, heartbeat: float, running: asyncio.Future[None]) -> None:
    """A beat every `heartbeat` seconds until `ended` (or its runner failed), each waiting at most that long for
    its acknowledgement; in a task of its own, so a report retried through a partition never holds beats up."""
    while not await ready.wait(ended, heartbeat) and not running.done():
        await agent.beat(timeout=heartbeat)


async def _fence_when_cut_off(agent: Agent, runner: NodeRunner, ended: asyncio.Event, after: float) -> None:
    """Stop every replica the node runs once no beat was acknowledged for `after` seconds (`cutoff.due`), once
    per cut (a later acknowledgement rearms it), until `ended`."""
    while True:
        now = time.monotonic()
        if agent.acked_at is not None and cutoff.due(agent.acked_at, agent.fenced_at, now, after):
            agent.fenced_at, waited = now, now - agent.acked_at  # (an acknowledgement may come while it fences)
            logger.error("cut off from the plane: fencing itself, stopping every replica it runs (the plane has "
                         "replaced them)", node=agent.node, seconds_without_ack=round(waited, 1),
                         fence_after=after, replicas=runner.node_world.usage()[0])
            stopped = await runner.fence_self()
            logger.warning("fenced: replicas stopped while cut off", node=agent.node, replicas=stopped)
            agent.unreported_fence = (agent.unreported_fence[0] + stopped, waited)
        if await ready.wait(ended, max(0.05, cutoff.next_look(agent.acked_at, time.monotonic(), after) -
                                       time.monotonic())):
            return


async def _report_until(agent: Agent, ended: asyncio.Event, heartbeat: float, report_every: float,
                        runner: NodeRunner, running: asyncio.Future[None]) -> None:
    """A status report when what it runs changed, when it fenced itself (said once, in the first report written
    after) and at least every `report_every` (looked at every `heartbeat` seconds), until `ended` (or its runner
    failed)."""
    last_report, last_usage = time.monotonic(), (0, ())
    while not await ready.wait(ended, heartbeat) and not running.done():
        usage = runner.node_world.usage()
        fenced, cut_off = agent.unreported_fence
        if usage != last_usage or fenced or time.monotonic() - last_report >= report_every:
            if await agent.report(nodes.NodeReported(replicas=usage[0], allocated=usage[1], epoch=agent.epoch,
                                                     at=time.time(), fenced=fenced, cut_off_seconds=cut_off),
                                  ended):
                agent.unreported_fence = (agent.unreported_fence[0] - fenced, agent.unreported_fence[1])
            last_report, last_usage = time.monotonic(), usage


async def _relay(source: asyncio.Event, target: asyncio.Event) -> None:
    await source.wait()
    target.set()
