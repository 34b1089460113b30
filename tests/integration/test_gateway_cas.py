"""If-Match is a strict compare-and-set: of two identical conditional writes from one version, one wins.

Before: the msg id was derived from (resource, generation, content), so the second of two identical
writers was deduplicated into the first and also answered 202. Now each request has its own id, and
only a client's resend under the same `Idempotency-Key` is recognised as the same request.
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NATS

from gateway.intents.responder import Responder, reply_status
from tests.integration.test_gateway_support import AUTH, TOKEN, Env, deployment, env, path  # noqa: F401

URL = path("demo", "modeldeployments", "hot")
SUBJECT = "bosun.intent.ModelDeployment.demo.hot"


@pytest.fixture
async def intents(env: Env, nats_url: str) -> AsyncIterator[NATS]:
    r = Responder(env.gw.nc, env.gw.admission)
    await r.start()
    client = await nats.connect(nats_url, name="cas-client")
    try:
        yield client
    finally:
        await client.close()
        await r.stop()


async def put(env: Env, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
    r = await env.client.put(URL, json=body, headers={**AUTH, **headers})
    return r.status_code, r.json()


async def ask(nc: NATS, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
    msg = await nc.request(SUBJECT, json.dumps(body).encode(), timeout=10,
                           headers={"Authorization": f"Bearer {TOKEN}", **headers})
    return reply_status(msg.headers), json.loads(msg.data)


async def test_two_identical_if_match_writes_one_wins(env: Env, intents: NATS) -> None:
    status, created = await put(env, deployment("hot", replicas=1), {})
    assert status == 202
    version = created["resourceVersion"]
    for replicas in range(2, 12):  # HTTP+HTTP, HTTP+NATS, NATS+NATS: each pair races from one version
        same = deployment("hot", replicas=replicas)
        cond = {"If-Match": str(version)}
        door_a = put(env, same, cond) if replicas % 3 else ask(intents, same, cond)
        door_b = put(env, same, cond) if replicas % 2 else ask(intents, same, cond)
        answers = await asyncio.gather(door_a, door_b)
        assert sorted(s for s, _ in answers) == [202, 409], answers
        won = next(body for s, body in answers if s == 202)
        assert won["result"] == "configured" and won["resourceVersion"] > version
        lost = next(body for s, body in answers if s == 409)
        assert lost["error"]["code"] == "Conflict"
        version = won["resourceVersion"]
    # The state is exactly what the last winner wrote, at the version it was told.
    assert await put(env, deployment("hot", replicas=11), {}) == (202, {**won, "result": "unchanged"})


async def test_idempotency_key_resend_answers_the_first_write(env: Env, intents: NATS) -> None:
    status, created = await put(env, deployment("hot", replicas=1), {})
    version = created["resourceVersion"]
    first = {"If-Match": str(version), "Idempotency-Key": "req-7"}
    status, applied = await put(env, deployment("hot", replicas=2), first)
    assert status == 202 and applied["result"] == "configured"
    # The client never saw that answer and resends the same request: the same write, not a 409.
    assert await put(env, deployment("hot", replicas=2), first) == (202, applied)
    assert await ask(intents, deployment("hot", replicas=2), first) == (202, applied)
    # Another request (another key, or no key) from the same version is refused.
    status, _ = await put(env, deployment("hot", replicas=2), {**first, "Idempotency-Key": "req-8"})
    assert status == 409
    status, _ = await put(env, deployment("hot", replicas=2), {"If-Match": str(version)})
    assert status == 409
    # The same key with other content is another request too.
    status, _ = await put(env, deployment("hot", replicas=3), first)
    assert status == 409
    assert await env.last_seq() == applied["resourceVersion"]


async def test_idempotency_key_on_delete_and_bad_keys(env: Env, intents: NATS) -> None:
    _, created = await put(env, deployment("hot"), {})
    cond = {"If-Match": str(created["resourceVersion"]), "Idempotency-Key": "del-1"}
    deleted = await env.client.delete(URL, headers={**AUTH, **cond})
    assert deleted.status_code == 202 and deleted.json()["result"] == "deleted"
    again = await env.client.delete(URL, headers={**AUTH, **cond})
    assert (again.status_code, again.json()) == (202, deleted.json())
    before = await env.last_seq()
    status, bad = await put(env, deployment("hot"), {"Idempotency-Key": "x" * 256})
    assert status == 400 and bad["error"]["code"] == "Malformed"
    status, bad = await ask(intents, deployment("hot"), {"Idempotency-Key": "tab\there"})
    assert status == 400 and bad["error"]["code"] == "Malformed"
    assert await env.last_seq() == before
