"""Issue #25: the node door answers a beat sent as a request once it is stored (what a cut-off agent's
self-fencing clock counts from), an error when it is not, and nobody when no answer was asked (sim nodes, older
agents)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import msgspec

from core import natsusers, nodes
from core.log import Unavailable
from gateway.intents.nodes import NodeDoor


@dataclass
class FakeNats:
    published: list[tuple[str, Any]] = field(default_factory=list)

    async def publish(self, subject: str, data: bytes) -> None:
        self.published.append((subject, json.loads(data)))


@dataclass
class FakeLog:
    down: bool = False
    puts: list[tuple[str, str]] = field(default_factory=list)

    async def kv_put(self, bucket: str, key: str, value: bytes) -> None:
        if self.down:
            raise Unavailable("no quorum")
        self.puts.append((bucket, key))


@dataclass
class Msg:
    subject: str
    data: bytes
    reply: str = ""


def beat(node: str, reply: str = "", at: float = 12.5) -> Msg:
    return Msg(nodes.beat_subject(node), msgspec.json.encode(nodes.Heartbeat(at=at, epoch=1)), reply)


async def test_a_stored_beat_is_answered_into_the_nodes_inbox() -> None:
    nc, log = FakeNats(), FakeLog()
    door = NodeDoor(nc, log)  # type: ignore[arg-type]
    inbox = natsusers.client_inbox(nodes.principal("a")) + ".r1"
    await door._handle(beat("a", inbox))  # type: ignore[arg-type]
    assert log.puts == [(nodes.BUCKET, "a")] and nc.published == [(inbox, {"beat": 12.5})]


async def test_an_unstored_beat_is_not_acknowledged_and_a_plain_beat_answers_nobody() -> None:
    nc, log = FakeNats(), FakeLog(down=True)
    door = NodeDoor(nc, log)  # type: ignore[arg-type]
    inbox = natsusers.client_inbox(nodes.principal("a")) + ".r1"
    await door._handle(beat("a", inbox))  # type: ignore[arg-type]
    assert [(s, list(body)) for s, body in nc.published] == [(inbox, ["error"])]
    log.down = False
    await door._handle(beat("a"))  # type: ignore[arg-type]  # published, no reply asked (sim nodes, older agents)
    await door._handle(beat("a", "_INBOX.node-b.r1"))  # type: ignore[arg-type]  # another node's inbox: no answer
    assert len(log.puts) == 2 and len(nc.published) == 1
