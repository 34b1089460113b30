"""Issue #25: the node door's replica -> node cache is bounded, and forgetting never lets a node report a
replica that is not assigned to it (a miss reads the node's command subject again: the log is the truth)."""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from core import codec, natsusers, nodes, subjects
from core import log as corelog
from core.log import Log
from core.names import Ref
from core.nodes import ReplicaReport
from core.replicas import Launch, LoadObserved, ReplicaReady, ReplicaStopped, StartOnNode
from gateway.intents.assignments import Assignments
from gateway.intents.nodes import NodeDoor
from tests.conftest import REGISTRY

CHAT = Ref("modeldeployment", "team-a", "chat")


def test_the_cache_holds_at_most_its_cap_least_recently_used_out_first() -> None:
    cache = Assignments(cap=3)
    for i in range(1, 4):
        cache.add("a", CHAT.token, f"chat-{i}")
    assert cache.holds("a", CHAT.token, "chat-1")  # used: now the most recent
    cache.add("a", CHAT.token, "chat-4")
    assert len(cache) == 3
    assert not cache.holds("a", CHAT.token, "chat-2")  # the least recently used went
    assert [cache.holds("a", CHAT.token, f"chat-{i}") for i in (1, 3, 4)] == [True, True, True]
    for i in range(5, 1005):
        cache.add("b", CHAT.token, f"chat-{i}")
    assert len(cache) == 3 and not cache.holds("a", CHAT.token, None)  # node a's pair went with its entries


def test_forgetting_a_replica_keeps_its_siblings_for_load_figures() -> None:
    cache = Assignments()
    cache.add("a", CHAT.token, "chat-1")
    cache.add("a", CHAT.token, "chat-2")
    cache.forget("a", CHAT.token, "chat-1")
    cache.forget("a", CHAT.token, "chat-9")  # never held: nothing happens
    assert not cache.holds("a", CHAT.token, "chat-1") and cache.holds("a", CHAT.token, None)
    cache.forget("a", CHAT.token, "chat-2")
    assert len(cache) == 0 and not cache.holds("a", CHAT.token, None)
    with pytest.raises(ValueError):
        Assignments(cap=0)


# ---- the door itself, over a real log holding a few StartOnNode commands ---------------------------------------


class CountingLog(Log):
    """The real log, counting the door's reads of command subjects (a held assignment reads nothing)."""

    reads = 0

    def read(self, *args: Any, **kwargs: Any) -> Any:
        self.reads += 1
        return super().read(*args, **kwargs)


@pytest.fixture
async def log(nats_url: str) -> AsyncIterator[CountingLog]:
    nc = await corelog.connect(nats_url, "test")
    lg = CountingLog(nc)
    await lg.ensure()
    yield lg
    await nc.close()


async def start(log: Log, node: str, replica: str, ref: Ref = CHAT) -> None:
    cmd = StartOnNode(replica=replica, pool="infra/fleet", gpus=1, model="m", generation=1,
                      launch=Launch(command=("/bin/true",)), node=node, devices=("0",))
    await log.append(f"bosun.cmd.{nodes.driver(node)}.{ref.token}", cmd)


@dataclass
class Msg:
    reply: str = ""  # no reply asked: the door answers nobody


def door(log: Log, cap: int = 100) -> NodeDoor:
    d = NodeDoor(log.nc, log)
    d.assigned = Assignments(cap=cap)
    return d


async def report(d: NodeDoor, node: str, event: Any, n: int) -> bool:
    """True when the door appended the report on the resource's obs slice (else it answered Forbidden)."""
    before = await d.log.last_seq()
    await d._replica(Msg(), node, ReplicaReport(target=CHAT.token, id=f"obs/{n}", event=event))  # type: ignore[arg-type]
    return await d.log.last_seq() > before


async def last_obs(log: Log) -> Any:
    found = [codec.decode(REGISTRY.kind(CHAT.kind), m.data, m.headers)
             async for m in log.read(subjects.obs(CHAT))]
    return found[-1]


async def test_the_door_stays_bounded_and_never_accepts_a_replica_of_another_node(log: CountingLog) -> None:
    for i in range(1, 9):
        await start(log, "a", f"chat-{i}")
    await start(log, "b", "chat-9")
    d = door(log, cap=3)
    for i in range(1, 9):
        assert await report(d, "a", ReplicaReady(replica=f"chat-{i}", pool="infra/fleet"), i)
        assert len(d.assigned) <= 3
    assert not await report(d, "a", ReplicaReady(replica="chat-9", pool="infra/fleet"), 20)  # b's, not a's
    assert not await report(d, "b", ReplicaReady(replica="chat-1", pool="infra/fleet"), 21)  # a's, not b's
    assert await report(d, "a", ReplicaReady(replica="chat-1", pool="infra/fleet"), 22)  # evicted: read again
    assert await report(d, "a", LoadObserved(rps=3.0), 23) and not await report(d, "c", LoadObserved(rps=1.0), 24)
    assert len(d.assigned) <= 3


async def test_a_final_report_forgets_the_replica_and_a_retry_of_it_is_still_accepted(log: CountingLog) -> None:
    await start(log, "a", "chat-1")
    d = door(log)
    assert await report(d, "a", ReplicaReady(replica="chat-1", pool="infra/fleet"), 1)
    reads = log.reads
    assert await report(d, "a", ReplicaReady(replica="chat-1", pool="infra/fleet"), 2)
    assert log.reads == reads  # held: no read
    assert await report(d, "a", ReplicaStopped(replica="chat-1", pool="infra/fleet"), 3)
    assert ("a", CHAT.token, "chat-1") not in d.assigned and len(d.assigned) == 0
    answers: asyncio.Queue[Any] = asyncio.Queue()
    inbox = natsusers.client_inbox(nodes.principal("a"))

    async def heard(m: Any) -> None:
        await answers.put(json.loads(m.data))

    await log.nc.subscribe(inbox + ".>", cb=heard)
    retried = await log.last_seq()
    await d._replica(Msg(inbox + ".r1"), "a", ReplicaReport(  # type: ignore[arg-type]
        target=CHAT.token, id="obs/3", event=ReplicaStopped(replica="chat-1", pool="infra/fleet")))
    answer = await asyncio.wait_for(answers.get(), 10)
    assert "seq" in answer, answer  # the outbox's retry is accepted (not Forbidden) ...
    assert log.reads == reads + 1 and await log.last_seq() == retried  # ... and stored once (its message id)
    assert isinstance(await last_obs(log), ReplicaStopped)
