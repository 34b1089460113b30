"""query: GET-one and list latency at a fixed request rate against a populated read model."""
from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import httpx

from bench.plane import Plane
from bench.stats import summary_ms


async def run_query(plane: Plane, resources: int, rate: float, seconds: float) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {plane.token}"}
    one: list[float] = []
    many: list[float] = []
    rng = random.Random(0)
    async with httpx.AsyncClient(base_url=plane.url, headers=headers, timeout=30,
                                 limits=httpx.Limits(max_connections=64)) as http:
        async def request(i: int) -> None:
            start = time.monotonic()
            if i % 10 == 0:
                r = await http.get("/v1/namespaces/bench/modeldeployments", params={"limit": "50"})
                many.append(time.monotonic() - start)
            else:
                r = await http.get(f"/v1/namespaces/bench/modeldeployments/d{rng.randrange(resources)}")
                one.append(time.monotonic() - start)
            r.raise_for_status()

        tasks = []
        start = time.monotonic()
        for i in range(int(rate * seconds)):  # open loop: requests leave on schedule, whatever the latency
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(request(i)))
        await asyncio.gather(*tasks)
    return {"rate_per_second": rate, "seconds": seconds, "get_one": summary_ms(one), "list_50": summary_ms(many)}
