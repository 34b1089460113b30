"""steady: applies at a fixed rate R for T seconds; apply (202) latency and declared->Ready latency."""
from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import aiohttp
import msgspec

from bench.burst import NS, POOL, http_session, manifest, start_watch
from bench.plane import Plane
from bench.stats import summary_ms


async def run_steady(plane: Plane, rate: float, seconds: float, grace: float = 120.0, warmup: int = 0,
                     ) -> dict[str, Any]:
    """`grace`: how long after the last apply the watch waits for every resource to be Ready. `warmup`
    deployments are made Ready first, unmeasured: a fresh plane's first resource pays for its cold start
    (the pool's first grant, the first actors, the driver's first replica), which on a short probe is
    the p99 itself."""
    n = int(rate * seconds)
    declared: dict[str, float] = {}
    ready: dict[str, float] = {}
    applied: list[float] = []
    async with http_session(plane, 64) as http:
        async with http.put("/v1/namespaces/infra/gpupools/bench-pool", data=msgspec.json.encode(POOL)) as r:
            r.raise_for_status()
        await warm_up(http, warmup)
        watch, watcher = await start_watch(plane, n + warmup, ready, seconds + grace)

        async def apply(i: int) -> None:
            declared[f"d{i}"] = t0 = time.monotonic()
            async with http.put(f"/v1/namespaces/{NS}/modeldeployments/d{i}",
                                data=msgspec.json.encode(manifest(i))) as r:
                await r.read()
                applied.append(time.monotonic() - t0)
                r.raise_for_status()

        tasks = []
        start = time.monotonic()
        for i in range(n):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(apply(i)))
        sent = time.monotonic() - start
        await asyncio.gather(*tasks)
        await watcher
    return {"rate_per_second": rate, "seconds": seconds, "applies": n,
            "sent_per_second": round(n / sent, 1) if sent > 0 else None, "apply_202": summary_ms(applied),
            "declared_to_ready": summary_ms([ready[k] - declared[k] for k in declared]),
            "watch": {"frames": watch.frames, "reconnects": watch.reconnects}}


async def warm_up(http: aiohttp.ClientSession, count: int, timeout: float = 60.0) -> None:
    names = [f"warmup{i}" for i in range(count)]
    for name in names:
        body = {**manifest(0), "metadata": {"name": name, "namespace": NS}}
        async with http.put(f"/v1/namespaces/{NS}/modeldeployments/{name}", data=msgspec.json.encode(body)) as r:
            r.raise_for_status()
    deadline = time.monotonic() + timeout
    for name in names:
        while True:
            async with http.get(f"/v1/namespaces/{NS}/modeldeployments/{name}") as r:
                doc = await r.json() if r.status == 200 else {}
            md, st = doc.get("metadata") or {}, doc.get("status") or {}
            if st.get("phase") == "Ready" and st.get("observedGeneration") == md.get("generation"):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"warm-up {name} not Ready after {timeout}s")
            await asyncio.sleep(0.05)


WARMUP = 10
"""Deployments made Ready before each --find-max probe (its plane is fresh)."""


def find_max(rate: float, seconds: float, target_p99_ms: float, ceiling: float, step: float, max_probes: int,
             grace: float) -> dict[str, Any]:
    """The highest rate whose declared->Ready p99 stays within the target, each probe on a fresh plane.

    A probe fails when its p99 is over the target, or when not every resource is Ready `grace` seconds
    after its last apply (saturated: the backlog grows faster than the plane drains it).
    """
    from bench.findmax import RateSearch
    from bench.loop import run

    search = RateSearch(start=rate, ceiling=ceiling, step=step, max_probes=max_probes)
    probes = []
    while (probe_rate := search.next_rate()) is not None:
        load = os.getloadavg()[0]
        with Plane() as plane:
            try:
                result = run(run_steady(plane, probe_rate, seconds, grace, warmup=WARMUP))
                p99 = result["declared_to_ready"]["p99_ms"]
                ok = p99 <= target_p99_ms
                probe = {"rate_per_second": probe_rate, "held": ok, "ready_p99_ms": p99,
                         "apply_p99_ms": result["apply_202"]["p99_ms"], "load": round(load, 2), **result}
            except TimeoutError as e:
                ok = False
                probe = {"rate_per_second": probe_rate, "held": False, "load": round(load, 2),
                         "saturated": str(e)}
        search.record(probe_rate, ok)
        probes.append(probe)
    return {"target_declared_to_ready_p99_ms": target_p99_ms, "probe_seconds": seconds,
            "max_rate_per_second": search.held, "lowest_failed_rate_per_second": search.failed,
            "probes": probes}
