"""Messages without a valid envelope in a spec slice are skipped, never a 500 (issue #13, finding 1).

Before the fix, one reply published onto `bosun.ev.modeldeployment.<ns>.<name>.spec` turned every later
PUT/DELETE of that resource into a 500, and one on `bosun.ev.quota.<ns>.x.spec` every apply in the
namespace. The stray messages here are what the gateway's own 401 answer looked like.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.integration.test_gateway_support import AUTH, Env, deployment, gateway_env, path

STRAY = b'{"error":{"code":"Unauthorized","message":"a valid bearer token is required","details":[]}}'
STRAY_HEADERS = {"Bosun-Status": "401", "Content-Type": "application/json"}


@pytest.fixture
async def env(nats_url: str, tmp_path: Path) -> AsyncIterator[Env]:
    async with gateway_env(nats_url, tmp_path) as e:
        yield e


async def test_stray_message_on_a_spec_subject_does_not_break_its_writes(env: Env) -> None:
    url = path("team-a", "modeldeployments", "chat")
    first = await env.client.put(url, json=deployment("chat", "team-a"), headers=AUTH)
    assert first.status_code == 202
    stray = await env.log.publish("bosun.ev.modeldeployment.team-a.chat.spec", STRAY, dict(STRAY_HEADERS))
    again = await env.client.put(url, json=deployment("chat", "team-a"), headers=AUTH)
    assert again.status_code == 202 and again.json()["result"] == "unchanged", again.text
    scaled = await env.client.put(url, json=deployment("chat", "team-a", replicas=3), headers=AUTH)
    assert scaled.status_code == 202, scaled.text
    assert scaled.json()["generation"] == 2 and scaled.json()["resourceVersion"] > stray.seq
    diff = await env.client.post("/v1/diff", json=deployment("chat", "team-a", replicas=3), headers=AUTH)
    assert diff.status_code == 200 and diff.json()["items"][0]["action"] == "unchanged"
    deleted = await env.client.delete(url, headers=AUTH)
    assert deleted.status_code == 202, deleted.text


async def test_stray_message_as_the_first_on_a_subject_reads_as_absent(env: Env) -> None:
    await env.log.publish("bosun.ev.modeldeployment.team-a.fresh.spec", STRAY, dict(STRAY_HEADERS))
    r = await env.client.put(
        path("team-a", "modeldeployments", "fresh"), json=deployment("fresh", "team-a"), headers=AUTH
    )
    assert r.status_code == 202 and r.json()["result"] == "created", r.text


async def test_stray_message_on_a_quota_subject_does_not_break_the_namespace(env: Env) -> None:
    await env.log.publish("bosun.ev.quota.team-a.x.spec", STRAY, dict(STRAY_HEADERS))
    r = await env.client.put(
        path("team-a", "modeldeployments", "web"), json=deployment("web", "team-a"), headers=AUTH
    )
    assert r.status_code == 202, r.text
