"""NATS intents: same admission, same reply JSON as HTTP, status in `Bosun-Status`."""
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NATS

from gateway.intents.responder import Responder, reply_status
from tests.integration.test_gateway_support import AUTH, TOKEN, Env, deployment, env, path  # noqa: F401


@pytest.fixture
async def responder(env: Env, nats_url: str) -> AsyncIterator[NATS]:
    r = Responder(env.gw.nc, env.gw.admission)
    await r.start()
    client = await nats.connect(nats_url, name="intent-client")  # a client: nats-py's default inbox prefix
    try:
        yield client
    finally:
        await client.close()
        await r.stop()


async def ask(nc: NATS, subject: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    msg = await nc.request(subject, data, timeout=10, headers=headers)
    return reply_status(msg.headers), json.loads(msg.data)


async def test_intent_reply_equals_http(env: Env, responder: NATS) -> None:
    hdr = {"Authorization": f"Bearer {TOKEN}"}
    status, reply = await ask(responder, "bosun.intent.ModelDeployment.demo.api", deployment("api"), hdr)
    assert status == 202 and reply == {"resourceVersion": reply["resourceVersion"], "generation": 1,
                                       "result": "created"}
    http = await env.client.put(path("demo", "modeldeployments", "api"), json=deployment("api"), headers=AUTH)
    assert http.json() == {**reply, "result": "unchanged"}
    status, again = await ask(responder, "bosun.intent.md.demo.api", deployment("api"), hdr)
    assert (status, again) == (202, http.json())


async def test_intent_errors_equal_http(env: Env, responder: NATS) -> None:
    before = await env.last_seq()
    bad = deployment("neg", replicas=-1)
    status, reply = await ask(responder, "bosun.intent.modeldeployments.demo.neg", bad,
                              {"Authorization": f"Bearer {TOKEN}"})
    http = await env.client.put(path("demo", "modeldeployments", "neg"), json=bad, headers=AUTH)
    assert status == http.status_code == 422 and reply == http.json()
    status, reply = await ask(responder, "bosun.intent.modeldeployments.demo.neg", deployment("neg"))
    assert status == 401 and reply["error"]["code"] == "Unauthorized"
    status, reply = await ask(responder, "bosun.intent.widgets.demo.neg", deployment("neg"),
                              {"Authorization": f"Bearer {TOKEN}"})
    assert status == 404 and reply["error"]["code"] == "UnknownKind"
    status, reply = await ask(responder, "bosun.intent.md.demo", deployment("neg"),
                              {"Authorization": f"Bearer {TOKEN}"})
    assert status == 400
    status, reply = await ask(responder, "bosun.intent.md.demo.y", b"kind: [", {"Authorization": f"Bearer {TOKEN}"})
    assert status == 400 and reply["error"]["code"] == "Malformed"
    assert await env.last_seq() == before


async def test_intent_if_match_and_delete(env: Env, responder: NATS) -> None:
    hdr = {"Authorization": f"Bearer {TOKEN}"}
    _, created = await ask(responder, "bosun.intent.md.demo.d", deployment("d"), hdr)
    status, _ = await ask(responder, "bosun.intent.md.demo.d", deployment("d", replicas=3),
                          {**hdr, "If-Match": str(created["resourceVersion"] + 100)})
    assert status == 409
    status, deleted = await ask(responder, "bosun.intent.md.demo.d", b"", {**hdr, "Bosun-Action": "delete"})
    assert status == 202 and deleted["result"] == "deleted"
