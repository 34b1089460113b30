"""Issue #25: the node door's replica -> node cache is bounded, and forgetting never lets a node report a
replica that is not assigned to it (a miss reads the node's command subject again: the log is the truth)."""
from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from core import codec, nodes
from core.names import Ref
from core.nodes import ReplicaReport
from core.replicas import Launch, LoadObserved, ReplicaReady, ReplicaStopped, StartOnNode
from gateway.intents.assignments import Assignments
from gateway.intents.nodes import NodeDoor

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


# ---- the door itself, over a log that holds a few StartOnNode commands ----------------------------------------


@dataclass
class Stored:
    data: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Appended:
    seq: int


@dataclass
class FakeLog:
    """What the door reads and writes of the log: each command subject's messages; the appends, counted."""

    subjects: dict[str, list[Stored]] = field(default_factory=dict)
    appended: list[tuple[str, Any]] = field(default_factory=list)
    reads: int = 0

    def start(self, node: str, replica: str, ref: Ref = CHAT) -> None:
        cmd = StartOnNode(replica=replica, pool="infra/fleet", gpus=1, model="m", generation=1,
                          launch=Launch(command=("/bin/true",)), node=node, devices=("0",))
        subject = f"bosun.cmd.{nodes.driver(node)}.{ref.token}"
        self.subjects.setdefault(subject, []).append(Stored(codec.encode(cmd)))

    async def read(self, subject: str) -> AsyncIterator[Stored]:
        self.reads += 1
        for m in self.subjects.get(subject, []):
            yield m

    async def append(self, subject: str, event: Any, **_: Any) -> Appended:
        self.appended.append((subject, event))
        return Appended(seq=len(self.appended))


@dataclass
class Msg:
    reply: str = ""  # no reply asked: the door answers nobody


def door(log: FakeLog, cap: int = 100) -> NodeDoor:
    d = NodeDoor(None, log)  # type: ignore[arg-type]  # never publishes: no reply subject
    d.assigned = Assignments(cap=cap)
    return d


async def report(d: NodeDoor, node: str, event: Any, n: int) -> bool:
    """True when the door appended the report (else it answered Forbidden)."""
    log: FakeLog = d.log  # type: ignore[assignment]
    before = len(log.appended)
    await d._replica(Msg(), node, ReplicaReport(target=CHAT.token, id=f"obs/{n}", event=event))  # type: ignore[arg-type]
    return len(log.appended) > before


async def test_the_door_stays_bounded_and_never_accepts_a_replica_of_another_node() -> None:
    log = FakeLog()
    for i in range(1, 9):
        log.start("a", f"chat-{i}")
    log.start("b", "chat-9")
    d = door(log, cap=3)
    for i in range(1, 9):
        assert await report(d, "a", ReplicaReady(replica=f"chat-{i}", pool="infra/fleet"), i)
        assert len(d.assigned) <= 3
    assert not await report(d, "a", ReplicaReady(replica="chat-9", pool="infra/fleet"), 20)  # b's, not a's
    assert not await report(d, "b", ReplicaReady(replica="chat-1", pool="infra/fleet"), 21)  # a's, not b's
    assert await report(d, "a", ReplicaReady(replica="chat-1", pool="infra/fleet"), 22)  # evicted: read again
    assert await report(d, "a", LoadObserved(rps=3.0), 23) and not await report(d, "c", LoadObserved(rps=1.0), 24)
    assert len(d.assigned) <= 3


async def test_a_final_report_forgets_the_replica_and_a_retry_of_it_is_still_accepted() -> None:
    log = FakeLog()
    log.start("a", "chat-1")
    d = door(log)
    assert await report(d, "a", ReplicaReady(replica="chat-1", pool="infra/fleet"), 1)
    reads = log.reads
    assert await report(d, "a", ReplicaReady(replica="chat-1", pool="infra/fleet"), 2)
    assert log.reads == reads  # held: no read
    assert await report(d, "a", ReplicaStopped(replica="chat-1", pool="infra/fleet"), 3)
    assert ("a", CHAT.token, "chat-1") not in d.assigned and len(d.assigned) == 0
    assert await report(d, "a", ReplicaStopped(replica="chat-1", pool="infra/fleet"), 3)  # the outbox's retry
    assert log.reads == reads + 1
    assert isinstance(log.appended[-1][1], ReplicaStopped)
