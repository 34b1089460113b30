"""Reads end where the caller's rights end (issue #13, findings 6 and 7, and `GET /v1/diff?from=`).

- A watch whose RoleBinding is deleted ends (an `ERROR` event) instead of streaming on.
- An incident bundle holds only messages the caller may `history`: not the GpuPool its deployment asked,
  nor other namespaces' capacity requests in that pool's inbox.
- Field-level changes between two sequences need the `history` verb.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import msgspec

from actors.capacity import PoolView
from actors.decisions import Context
from core.names import Ref
from projections import projector
from tests.conftest import eventually
from tests.integration.test_gateway_server import sse_events
from tests.integration.test_governance_support import (
    POLICY,
    TOKEN,
    TOKENS,
    auth,
    governed_env,
    md,
    write_policy,
)

WATCH = "/v1/watch?kind=modeldeployment&namespace=team-a"


async def rest_of(lines: Any) -> list[str]:
    return [line async for line in lines]


async def test_watch_ends_when_its_role_binding_is_deleted(nats_url: str, tmp_path: Path) -> None:
    from gateway.server import serve

    token_file = tmp_path / "admin.token"
    token_file.write_text(TOKEN + "\n")
    stop = asyncio.Event()
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    proj = asyncio.create_task(projector.serve(nats_url, tmp_path / "db", stop=stop))
    gw = asyncio.create_task(
        serve(
            nats_url,
            tmp_path / "db",
            stop=stop,
            token_file=token_file,
            on_ready=ready.set_result,
            policy=write_policy(tmp_path / "policy.yaml"),
        )
    )
    try:
        url = await asyncio.wait_for(ready, 20)
        async with httpx.AsyncClient(base_url=url, timeout=30) as c:
            assert (
                await c.put(
                    "/v1/namespaces/team-a/md/chat", json=md("chat", replicas=0), headers=auth("alice")
                )
            ).status_code == 202
            async with c.stream("GET", WATCH, headers=auth("alice")) as r:
                assert r.status_code == 200
                lines = r.aiter_lines()
                assert (await asyncio.wait_for(sse_events(lines, 1), 20))[0][0] == "ADDED"
                gone = await c.delete(
                    "/v1/namespaces/_cluster/rolebindings/alice-deployer", headers=auth("admin")
                )
                assert gone.status_code == 202
                rest = await asyncio.wait_for(rest_of(lines), 30)  # the stream ends
            assert "event: ERROR" in rest and any('"Forbidden"' in line for line in rest), rest
            assert (await c.get(WATCH, headers=auth("alice"))).status_code == 403

            async def watch_denials() -> bool:  # the ended stream's record, and the refused GET's
                r = await c.get("/v1/audit?principal=alice&decision=denied", headers=auth("admin"))
                return len([i for i in r.json()["items"] if i["name"] == "/v1/watch"]) >= 2

            await eventually(watch_denials, timeout=20)
    finally:
        stop.set()
        await asyncio.wait_for(gw, 20)
        await asyncio.wait_for(proj, 20)


DAVE = "dave-token-with-no-role-4b1e"


def historian_policy() -> dict[str, Any]:
    policy = copy.deepcopy(POLICY)
    policy["principals"].append({"name": "dave", "tokenSha256": hashlib.sha256(DAVE.encode()).hexdigest()})
    policy["roles"].append(
        {
            "name": "historian",
            "rules": [
                {"verbs": ["get", "list", "history"], "kinds": ["ModelDeployment"], "namespaces": ["team-a"]}
            ],
        }
    )
    policy["bindings"].append({"principal": "carol", "role": "historian"})
    return policy


def bundle_lines(text: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    head, *lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    return head, lines


async def test_bundle_holds_only_what_the_caller_may_read(nats_url: str, tmp_path: Path) -> None:
    async with governed_env(nats_url, tmp_path, historian_policy(), projector=False) as env:
        assert (
            await env.client.put(
                "/v1/namespaces/team-a/md/chat", json=md("chat", replicas=0), headers=auth("admin")
            )
        ).status_code == 202
        pool_inbox = "bosun.ev.gpupool.infra.usw2.inbox"
        for sender in ("modeldeployment.team-a.chat", "modeldeployment.team-b.secret"):
            await env.log.publish(
                pool_inbox,
                b'{"t":"capacity.requested"}',
                {"Bosun-Type": "capacity.requested", "Bosun-From": sender},
            )
        view = PoolView(
            ref=Ref("gpupool", "infra", "usw2"), region="us-west-2", gpu="a100", capacity=8, allocated=2
        )
        await env.log.publish(
            "bosun.ev.modeldeployment.team-a.chat.ctl.deployments",
            b'{"t":"x"}',
            {"Bosun-Type": "x", "Bosun-Context": msgspec.json.encode(Context(views={"gpupool": (view,)})).decode()},
        )
        url = "/v1/bundle?ref=modeldeployment/team-a/chat"
        admin = await env.client.get(url, headers=auth("admin"))
        _, everything = bundle_lines(admin.text)
        assert {m["subject"] for m in everything} >= {pool_inbox}, "the admin's bundle has the pool's inbox"
        carol = await env.client.get(url, headers=auth("carol"))
        assert carol.status_code == 200, carol.text
        head, mine = bundle_lines(carol.text)
        assert len(mine) == 2 and all(
            m["subject"].startswith("bosun.ev.modeldeployment.team-a.") for m in mine
        ), mine
        assert "2 messages" in head["note"]
        assert (await env.client.get(url, headers=auth("bob"))).status_code == 403  # bob: no history at all


async def test_diff_between_points_needs_history(nats_url: str, tmp_path: Path) -> None:
    async with governed_env(nats_url, tmp_path, historian_policy(), projector=False) as env:
        assert (await env.client.get("/v1/diff?from=0", headers=auth("bob"))).status_code == 403
        scoped = await env.client.get(
            "/v1/diff?from=0&kind=modeldeployment&namespace=team-a", headers=auth("carol")
        )
        assert scoped.status_code == 200, scoped.text
        assert (
            await env.client.get(
                "/v1/diff?from=0&kind=modeldeployment&namespace=team-b", headers=auth("carol")
            )
        ).status_code == 403
        assert TOKENS["admin"] == TOKEN


async def test_diff_by_a_principal_with_no_role_is_refused_before_parsing(
    nats_url: str, tmp_path: Path
) -> None:
    """Issue #13, finding 3: the alias bomb the probe sent as a Principal with no bindings got 34.7 MB."""
    from corpus.bad_inputs import ALIAS_BOMB

    async with governed_env(nats_url, tmp_path, historian_policy(), projector=False) as env:
        r = await env.client.post(
            "/v1/diff",
            content=ALIAS_BOMB,
            headers={"Authorization": f"Bearer {DAVE}", "Content-Type": "application/yaml"},
        )
        assert r.status_code == 403 and r.json()["error"]["code"] == "Forbidden", r.text[:300]
        ok = await env.client.post("/v1/diff", json=md("chat"), headers=auth("alice"))
        assert ok.status_code == 200 and ok.json()["items"][0]["action"] == "create"
