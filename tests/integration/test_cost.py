"""Cost controls against real nats-server, real projections and the real controller + sim driver: a
namespace budget enforced at admission (against the maximum a deployment may grow to, on the dearest
matching pool) and a cost projection that matches the replicas' recorded lifetimes."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from actors import serving as controller
from core import headers as H
from core import subjects
from core.names import Ref
from dataplane.sim import driver as sim
from tests.conftest import eventually
from tests.integration.test_controller import Running
from tests.integration.test_governance_support import POLICY, auth, governed_env, md

BUDGET = {**POLICY, "quotas": [{"namespace": "team-a", "limits": {"costPerHour": 10}}]}


def priced_pool(name: str, price: float, capacity: int = 8) -> dict[str, Any]:
    return {"kind": "GpuPool", "metadata": {"name": name, "namespace": "infra"},
            "spec": {"region": "us-west-2", "gpu": "a100", "capacity": capacity, "pricePerGpuHour": price,
                     "namespaces": ["*"]}}


async def test_budget_is_enforced_at_admission_against_the_most_a_deployment_may_cost(
        nats_url: str, tmp_path: Path) -> None:
    async with governed_env(nats_url, tmp_path, BUDGET, projector=False) as env:
        for name, price in (("cheap", 2.0), ("dear", 2.5)):
            r = await env.client.put(f"/v1/namespaces/infra/gpupools/{name}", json=priced_pool(name, price),
                                     headers=auth("admin"))
            assert r.status_code == 202, r.text

        async def put(name: str, **kw: Any) -> Any:
            return await env.client.put(f"/v1/namespaces/team-a/md/{name}", json=md(name, **kw),
                                        headers=auth("alice"))

        assert (await put("a", replicas=2)).status_code == 202  # 2 GPU x 2.5 (the dearest match) = 5/h
        assert (await put("b", replicas=1, autoscaling={"min": 1, "max": 2})).status_code == 202  # max: 5/h
        over = await put("c", replicas=1)
        assert over.status_code == 403
        error = over.json()["error"]
        assert error["code"] == "QuotaExceeded"
        assert {d["field"]: d["message"] for d in error["details"]} == {
            "resource": "costPerHour", "used": "10", "requested": "2.5", "limit": "10"}
        assert (await put("a", replicas=1)).status_code == 202  # shrinking is always allowed
        assert (await put("c", replicas=1)).status_code == 202
        bad = await env.client.get("/v1/cost?namespace=Not.Valid", headers=auth("admin"))
        assert bad.status_code == 400 and bad.json()["error"]["code"]


async def test_cost_projection_matches_recorded_lifetimes(nats_url: str, tmp_path: Path) -> None:
    plane = Running()
    plane.start("controller", lambda stop: controller.serve(nats_url, stop=stop, idle_seconds=1.0))
    plane.start("sim", lambda stop: sim.serve(nats_url, tmp_path / "sim", stop=stop, latency=0.02))
    try:
        async with governed_env(nats_url, tmp_path, POLICY) as env:
            await _run_and_bill(env)
    finally:
        await plane.stop_all()


async def _run_and_bill(env: Any) -> None:
    r = await env.client.put("/v1/namespaces/infra/gpupools/p", json=priced_pool("p", 3.0), headers=auth("admin"))
    assert r.status_code == 202
    assert (await env.client.put("/v1/namespaces/team-a/md/chat", json=md("chat", replicas=2, gpus=2),
                                 headers=auth("admin"))).status_code == 202

    async def billed(rate: float) -> dict[str, Any] | None:
        body = (await env.client.get("/v1/cost?namespace=team-a", headers=auth("admin"))).json()
        items = body["items"]
        return items[0] if items and items[0]["costPerHour"] == rate else None

    running = await eventually(lambda: billed(12.0))  # 2 replicas x 2 GPU x 3.0
    assert [(d["name"], d["replicas"], d["gpus"]) for d in running["deployments"]] == [("chat", 2, 4)]
    metrics = (await env.client.get("/metrics", headers=auth("admin"))).text  # tenants only with a token
    assert 'bosun_cost_per_hour{namespace="team-a"} 12.0' in metrics
    assert (await env.client.delete("/v1/namespaces/team-a/md/chat", headers=auth("admin"))).status_code == 202
    done = await eventually(lambda: billed(0.0))

    dep = Ref("modeldeployment", "team-a", "chat")
    starts: dict[str, float] = {}
    ends: dict[str, float] = {}
    async for m in env.log.read(subjects.obs(dep)):
        replica = m.data.decode().split('"replica":"')[1].split('"')[0]
        if m.headers[H.TYPE] == "replica.started":
            starts.setdefault(replica, m.time)
        elif m.headers[H.TYPE] in ("replica.stopped", "replica.lost"):
            ends.setdefault(replica, m.time)
    assert starts.keys() == ends.keys() and len(starts) == 2
    gpu_hours = sum(2 * (ends[r] - starts[r]) / 3600 for r in starts)
    assert abs(done["gpuHours"] - gpu_hours) < 1e-9
    assert abs(done["cost"] - gpu_hours * 3.0) < 1e-9
