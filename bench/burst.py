"""burst: N ModelDeployments declared as fast as possible; time until all are Ready, seen through the gateway.

Intents go through NATS request/reply (the `nats` client user) or HTTP PUT. Readiness is observed by
polling the gateway's list with `phase=Ready` and stamping each resource the first time it shows up.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import msgspec
import nats

from bench.plane import Plane
from bench.stats import summary_ms

NS = "bench"
POOL = {"kind": "GpuPool", "metadata": {"name": "bench-pool", "namespace": "infra"},
        "spec": {"region": "us-west-2", "gpu": "a100", "capacity": 1_000_000}}


def manifest(i: int) -> dict[str, Any]:
    return {"kind": "ModelDeployment", "metadata": {"name": f"d{i}", "namespace": NS},
            "spec": {"model": "m", "replicas": 1, "placement": {"region": "us-west-2", "gpu": "a100"}}}


async def declare_nats(plane: Plane, n: int, declared: dict[str, float], concurrency: int = 256) -> None:
    nc = await nats.connect(plane.client_nats)
    sem = asyncio.Semaphore(concurrency)
    headers = {"Authorization": f"Bearer {plane.token}"}

    async def one(i: int) -> None:
        async with sem:
            declared[f"d{i}"] = time.monotonic()
            reply = await nc.request(f"bosun.intent.modeldeployment.{NS}.d{i}", msgspec.json.encode(manifest(i)),
                                     timeout=60, headers=headers)
            if reply.headers is None or reply.headers.get("Bosun-Status") != "202":
                raise RuntimeError(f"intent d{i} refused: {reply.data[:200]!r}")

    try:
        await asyncio.gather(*(one(i) for i in range(n)))
    finally:
        await nc.close()


async def declare_http(plane: Plane, n: int, declared: dict[str, float], concurrency: int = 64) -> None:
    sem = asyncio.Semaphore(concurrency)
    headers = {"Authorization": f"Bearer {plane.token}"}
    async with httpx.AsyncClient(base_url=plane.url, headers=headers, timeout=60,
                                 limits=httpx.Limits(max_connections=concurrency)) as http:
        async def one(i: int) -> None:
            async with sem:
                declared[f"d{i}"] = time.monotonic()
                r = await http.put(f"/v1/namespaces/{NS}/modeldeployments/d{i}", json=manifest(i))
                if r.status_code != 202:
                    raise RuntimeError(f"apply d{i}: {r.status_code} {r.text[:200]}")

        await asyncio.gather(*(one(i) for i in range(n)))


async def watch_ready(plane: Plane, n: int, ready: dict[str, float], timeout: float) -> None:
    headers = {"Authorization": f"Bearer {plane.token}"}
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=plane.url, headers=headers, timeout=30) as http:
        while len(ready) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {len(ready)}/{n} Ready after {timeout}s")
            token: str | None = None
            while True:
                params = {"phase": "Ready", "limit": "1000", **({"continue": token} if token else {})}
                resp = await http.get(f"/v1/namespaces/{NS}/modeldeployments", params=params)
                if resp.status_code != 200:
                    raise RuntimeError(f"list: {resp.status_code} {resp.text[:300]}")
                body = resp.json()
                now = time.monotonic()
                for obj in body["items"]:
                    st, md = obj["status"], obj["metadata"]
                    if st.get("observedGeneration") == md["generation"]:
                        ready.setdefault(md["name"], now)
                token = body.get("continue")
                if not token:
                    break
            await asyncio.sleep(0.05)


async def run_burst(plane: Plane, n: int, via: str, timeout: float) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=plane.url, headers={"Authorization": f"Bearer {plane.token}"}) as http:
        await http.put("/v1/namespaces/infra/gpupools/bench-pool", json=POOL)
    declared: dict[str, float] = {}
    ready: dict[str, float] = {}
    start = time.monotonic()
    watcher = asyncio.create_task(watch_ready(plane, n, ready, timeout))
    await (declare_nats if via == "nats" else declare_http)(plane, n, declared)
    declare_s = time.monotonic() - start
    await watcher
    total = time.monotonic() - start
    latencies = [ready[k] - declared[k] for k in declared]
    return {"via": via, "n": n, "declare_seconds": round(declare_s, 3), "all_ready_seconds": round(total, 3),
            "resources_per_second": round(n / total, 1), "declared_to_ready": summary_ms(latencies)}
