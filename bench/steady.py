"""steady: applies at a fixed rate R for T seconds; apply (202) latency and declared->Ready latency."""
from __future__ import annotations

import asyncio
import time
from typing import Any

import msgspec

from bench.burst import NS, POOL, http_session, manifest, start_watch
from bench.plane import Plane
from bench.stats import summary_ms


async def run_steady(plane: Plane, rate: float, seconds: float) -> dict[str, Any]:
    n = int(rate * seconds)
    declared: dict[str, float] = {}
    ready: dict[str, float] = {}
    applied: list[float] = []
    async with http_session(plane, 64) as http:
        async with http.put("/v1/namespaces/infra/gpupools/bench-pool", data=msgspec.json.encode(POOL)) as r:
            r.raise_for_status()
        watch, watcher = await start_watch(plane, n, ready, seconds + 120)

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
        await asyncio.gather(*tasks)
        await watcher
    return {"rate_per_second": rate, "seconds": seconds, "applies": n, "apply_202": summary_ms(applied),
            "declared_to_ready": summary_ms([ready[k] - declared[k] for k in declared]),
            "watch": {"frames": watch.frames, "reconnects": watch.reconnects}}
