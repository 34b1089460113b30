"""Issue #25: the node door answers a beat sent as a request once it is stored (what a cut-off agent's
self-fencing clock counts from), an error when it is not, and nobody when no answer was asked (sim nodes, older
agents). A real nats-server and the real bucket."""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import msgspec

from core import natsusers, nodes
from core.log import Log
from gateway.intents.nodes import NodeDoor
from tests.conftest import eventually


@dataclass
class Msg:
    subject: str
    data: bytes
    reply: str = ""


def beat(node: str, reply: str = "", at: float = 12.5) -> Msg:
    return Msg(nodes.beat_subject(node), msgspec.json.encode(nodes.Heartbeat(at=at, epoch=1)), reply)


async def _answers(log: Log) -> list[tuple[str, Any]]:
    got: list[tuple[str, Any]] = []

    async def on(m: Any) -> None:
        got.append((m.subject, json.loads(m.data)))

    await log.nc.subscribe(natsusers.client_inbox(nodes.principal("a")) + ".>", cb=on)
    await log.nc.subscribe("_INBOX.node-b.>", cb=on)
    await log.nc.flush()
    return got


async def test_a_stored_beat_is_answered_into_the_nodes_inbox(log: Log) -> None:
    got = await _answers(log)
    door = NodeDoor(log.nc, log)
    inbox = natsusers.client_inbox(nodes.principal("a")) + ".r1"
    await door._handle(beat("a", inbox))  # type: ignore[arg-type]
    stored = await (await log.kv(nodes.BUCKET)).get("a")
    assert msgspec.json.decode(stored.value or b"", type=nodes.Heartbeat).at == 12.5
    assert await eventually(lambda: asyncio.sleep(0, got)) == [(inbox, {"beat": 12.5})]


async def test_an_unstored_beat_is_not_acknowledged_and_a_plain_beat_answers_nobody(log: Log) -> None:
    got = await _answers(log)
    door = NodeDoor(log.nc, log)
    inbox = natsusers.client_inbox(nodes.principal("a")) + ".r1"
    await log.jsm.delete_stream(f"KV_{nodes.BUCKET}")  # the bucket is gone: the put is not stored
    await door._handle(beat("a", inbox))  # type: ignore[arg-type]
    assert [(s, list(body)) for s, body in await eventually(lambda: asyncio.sleep(0, got))] == [(inbox, ["error"])]
    await log.ensure()  # the bucket again
    await door._handle(beat("a"))  # type: ignore[arg-type]  # published, no reply asked (sim nodes, older agents)
    await door._handle(beat("a", "_INBOX.node-b.r1"))  # type: ignore[arg-type]  # another node's inbox: no answer
    await door._handle(beat("a", inbox, at=13.5))  # type: ignore[arg-type]  # the last, answered: none before it
    await eventually(lambda: asyncio.sleep(0, len(got) == 2))
    assert got[1] == (inbox, {"beat": 13.5})
