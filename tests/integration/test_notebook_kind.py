"""The example Notebook (`BOSUN_KINDS=examples.kinds.notebook`) against real nats-server, the real controller
host, sim driver, projector and governed gateway: a namespace Quota charges its usage (a second Notebook past
1 GPU is refused), its spend shows in `GET /v1/cost`, a refused capacity request is retried with backoff and
says so in its status, and deleting it gives its GPU back to the pool."""
from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from actors import serving as controller
from actors.registry import load
from dataplane.sim import driver as sim
from tests.conftest import eventually
from tests.integration.test_controller import Running
from tests.integration.test_cost import priced_pool
from tests.integration.test_governance_support import POLICY, auth, governed_env

load(["examples.kinds.notebook"])  # what BOSUN_KINDS does in every component: into the process's registry
ONE_GPU = {**POLICY, "quotas": [{"namespace": "team-a", "limits": {"gpus": 1}}]}


def notebook(name: str, pool: str = "infra/p") -> dict[str, Any]:
    return {"kind": "Notebook", "metadata": {"name": name, "namespace": "team-a"},
            "spec": {"image": "jupyter", "pool": pool}}


async def test_a_quota_of_one_gpu_refuses_the_second_notebook(nats_url: str, tmp_path: Path) -> None:
    async with governed_env(nats_url, tmp_path, ONE_GPU, projector=False) as env:
        r = await env.client.put("/v1/namespaces/infra/gpupools/p", json=priced_pool("p", 2.0), headers=auth("admin"))
        assert r.status_code == 202, r.text
        first = await env.client.put("/v1/namespaces/team-a/notebooks/one", json=notebook("one"),
                                     headers=auth("admin"))
        assert first.status_code == 202, first.text
        second = await env.client.put("/v1/namespaces/team-a/notebooks/two", json=notebook("two"),
                                      headers=auth("admin"))
        assert second.status_code == 403, second.text
        error = second.json()["error"]
        assert error["code"] == "QuotaExceeded" and "gpus used 1 + requested 1 > limit 1" in error["message"]


class Lab:
    """The controller host and sim driver in this process, beside a governed gateway with its projector."""

    def __init__(self, env: Any) -> None:
        self.env = env

    async def put(self, path: str, body: dict[str, Any]) -> None:
        r = await self.env.client.put(path, json=body, headers=auth("admin"))
        assert r.status_code == 202, r.text

    async def delete(self, name: str) -> None:
        r = await self.env.client.delete(f"/v1/namespaces/team-a/notebooks/{name}", headers=auth("admin"))
        assert r.status_code == 202, r.text

    async def get(self, path: str) -> Any:
        r = await self.env.client.get(path, headers=auth("admin"))
        return r.json() if r.status_code == 200 else None

    async def phase(self, name: str) -> str | None:
        obj = await self.get(f"/v1/namespaces/team-a/notebooks/{name}")
        return None if obj is None else obj["status"]["phase"]

    async def ready(self, name: str) -> None:
        await eventually(lambda: _is(self.phase(name), "Ready"), timeout=40)

    async def gone(self, name: str) -> None:
        await eventually(lambda: _is(self.phase(name), None))

    async def allocated(self) -> int | None:
        obj = await self.get("/v1/namespaces/infra/gpupools/p")
        return None if obj is None else obj["status"].get("allocatedGpus")


@contextlib.asynccontextmanager
async def lab(nats_url: str, tmp_path: Path, capacity: int) -> AsyncIterator[Lab]:
    plane = Running()
    plane.start("controller", lambda stop: controller.serve(nats_url, stop=stop, idle_seconds=1.0))
    plane.start("sim", lambda stop: sim.serve(nats_url, tmp_path / "sim", stop=stop, latency=0.02))
    try:
        async with governed_env(nats_url, tmp_path, POLICY) as env:
            it = Lab(env)
            await it.put("/v1/namespaces/infra/gpupools/p", priced_pool("p", 2.0, capacity=capacity))
            yield it
    finally:
        await plane.stop_all()


async def test_a_running_notebook_shows_its_spend(nats_url: str, tmp_path: Path) -> None:
    async with lab(nats_url, tmp_path, capacity=1) as it:
        await it.put("/v1/namespaces/team-a/notebooks/one", notebook("one"))
        await it.ready("one")

        async def billed() -> Any:
            body = await it.get("/v1/cost?namespace=team-a")
            return body and [(d["name"], d.get("kind"), d["gpus"], d["costPerHour"])
                             for s in body["items"] for d in s["deployments"]]

        assert await eventually(billed) == [("one", "notebook", 1, 2.0)]


async def test_deleting_a_notebook_returns_the_pool_to_zero_allocated(nats_url: str, tmp_path: Path) -> None:
    async with lab(nats_url, tmp_path, capacity=1) as it:
        await it.put("/v1/namespaces/team-a/notebooks/one", notebook("one"))
        await it.ready("one")
        assert await it.allocated() == 1
        await it.delete("one")
        await it.gone("one")
        await eventually(lambda: _is(it.allocated(), 0))


async def test_a_refused_request_is_retried_and_says_so(nats_url: str, tmp_path: Path) -> None:
    async with lab(nats_url, tmp_path, capacity=1) as it:
        await it.put("/v1/namespaces/team-a/notebooks/one", notebook("one"))
        await it.ready("one")
        await it.put("/v1/namespaces/team-a/notebooks/two", notebook("two"))

        async def retrying() -> Any:
            obj = await it.get("/v1/namespaces/team-a/notebooks/two")
            ready = obj and next((c for c in obj["status"]["conditions"] if c["type"] == "Ready"), None)
            attempt = re.search(r"; retry (\d+) at ", ready["message"]) if ready else None
            return obj and obj["status"]["phase"] == "Pending" and attempt and int(attempt[1]) >= 2 and ready

        said = await eventually(retrying)  # not Progressing forever: Pending, with why and the next attempt
        assert "needs 1 more GPU, 0 free" in said["message"], said
        await it.delete("one")
        await it.ready("two")  # its next retry gets the GPU back from the pool


async def _is(value: Any, wanted: Any) -> bool:
    return await value == wanted
