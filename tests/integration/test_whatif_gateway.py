"""The what-if routes' contract on a governed gateway (real nats-server, real SQLite): bad input gets the
structured error and writes nothing, admission's rules decide what a plan may admit, RBAC guards each
route, and a plan is the same plan when asked twice."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.integration.test_governance_support import GovEnv, auth, governed_env, md, pool


async def stream_seq(env: GovEnv) -> int:
    found, _ = await env.log.last_per_subject(["bosun.ev.>", "bosun.cmd.>", "bosun.audit.>"])
    return max((m.seq for m in found), default=0)


def error_of(body: Any) -> tuple[str, str]:
    return body["error"]["code"], body["error"]["message"]


async def test_bad_input_is_a_structured_error_and_writes_nothing(nats_url: str, tmp_path: Path) -> None:
    async with governed_env(nats_url, tmp_path, projector=False) as env:
        before = await stream_seq(env)
        c = env.client
        cases = [
            (await c.post("/v1/plan", content=b"kind: [unclosed", headers={**auth("admin"),
                                                                          "Content-Type": "application/yaml"}), 400),
            (await c.post("/v1/plan", json=[md("x")]), 401),
            (await c.post("/v1/policy/test", content=b"roles: 3", headers={**auth("admin"),
                                                                          "Content-Type": "application/yaml"}), 422),
            (await c.post("/v1/policy/test", content=b"nonsense: []", headers=auth("admin")), 422),
            (await c.post("/v1/policy/test?since=yesterday", content=b"{}", headers=auth("admin")), 400),
            (await c.post("/v1/revert", json={"seq": "x"}, headers=auth("admin")), 400),
            (await c.post("/v1/revert", json={"seq": 1, "extra": True}, headers=auth("admin")), 400),
            (await c.post("/v1/policy/test", content=b"{}", headers=auth("alice")), 403),
        ]
        for response, status in cases:
            assert response.status_code == status, (response.status_code, response.text)
            code, message = error_of(response.json())
            assert code and message
        assert await stream_seq(env) == before


async def test_a_plan_judges_each_manifest_as_admission_would(nats_url: str, tmp_path: Path) -> None:
    async with governed_env(nats_url, tmp_path, projector=False) as env:
        c = env.client
        docs = [md("ok", replicas=2), md("huge", replicas=9), {"kind": "ModelDeployment", "metadata": {"name": "x"},
                                                               "spec": {"replicas": -1}},
                md("elsewhere", ns="team-b")]
        before = await stream_seq(env)
        r = await c.post("/v1/plan", json=docs, headers=auth("alice"))
        assert r.status_code == 200, r.text
        items = {i["name"]: i for i in r.json()["items"]}
        assert items["ok"]["action"] == "create"
        assert items["huge"]["action"] == "refused" and items["huge"]["error"]["code"] == "QuotaExceeded"
        assert items["x"]["action"] == "invalid" and items["x"]["error"]["code"] == "Invalid"
        assert items["elsewhere"]["action"] == "invalid" and items["elsewhere"]["error"]["code"] == "Forbidden"
        assert r.json()["quotas"] == [
            {"namespace": "team-a", "resource": "gpus", "usedBefore": 0, "usedAfter": 2, "limit": 8},
            {"namespace": "team-a", "resource": "replicas", "usedBefore": 0, "usedAfter": 2, "limit": 10}]
        assert await stream_seq(env) == before  # planning appends nothing, not even an audit record


async def test_the_same_log_and_manifests_give_the_same_plan(nats_url: str, tmp_path: Path) -> None:
    async with governed_env(nats_url, tmp_path, projector=False) as env:
        c = env.client
        body = yaml.safe_dump_all([pool("usw2-a100", "infra"), md("chat", replicas=3)]).encode()
        headers = {**auth("admin"), "Content-Type": "application/yaml"}
        first = await c.post("/v1/plan?latency=0.2&seed=7", content=body, headers=headers)
        second = await c.post("/v1/plan?latency=0.2&seed=7", content=body, headers=headers)
        assert first.status_code == second.status_code == 200
        assert first.json() == second.json()
        items = {i["name"]: i for i in first.json()["items"]}
        assert items["chat"]["predicted"]["phase"] == "Ready"
        assert items["usw2-a100"]["predicted"]["phase"] == "Ready"
        other = await c.post("/v1/plan?latency=0.2&seed=8", content=body, headers=headers)
        times = [[s["at"] for s in r.json()["items"][1]["timeline"]] for r in (first, other)]
        assert times[0] != times[1]  # the seed is the sim's: readiness comes at other (seeded) times


async def test_a_quota_in_the_plan_governs_the_manifests_after_it(nats_url: str, tmp_path: Path) -> None:
    async with governed_env(nats_url, tmp_path, projector=False) as env:
        stricter = {"kind": "Quota", "metadata": {"name": "default", "namespace": "team-a"},
                    "spec": {"limits": {"gpus": 2}}}
        r = await env.client.post("/v1/plan", json=[md("early", replicas=4), stricter, md("ok", replicas=2),
                                                    md("more", replicas=1)], headers=auth("admin"))
        assert r.status_code == 200, r.text
        items = {i["name"]: i for i in r.json()["items"]}
        assert [items[n]["action"] for n in ("early", "default", "ok", "more")] == [
            "create", "update", "refused", "refused"]  # early holds 4 once the limit drops to 2
        assert items["more"]["error"]["code"] == "QuotaExceeded"
        assert {(q["resource"], q["usedBefore"], q["usedAfter"], q["limit"]) for q in r.json()["quotas"]} == {
            ("gpus", 0, 4, 2)}
