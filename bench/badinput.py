"""badinput: good applies at a steady rate, first alone, then while the bad-input corpus is replayed.

The figure is good clients' apply latency (p50/p99 of the 202) without and with bad input at `bad_rate`
requests per second (issue #16 item 5: no latency spike for good clients beyond a bound). The corpus is
sent by a separate process (`bench/_noise.py`); the good applies alternate HTTP PUT and NATS intents, as
the soak's do.
"""
from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import msgspec
import nats

from bench.burst import NS, POOL, http_session, manifest
from bench.plane import Plane
from bench.stats import summary_ms


async def _good(plane: Plane, rate: float, seconds: float, offset: int) -> tuple[list[float], int]:
    """Applies at `rate` for `seconds`: half creates, half scale changes of recent ones; (latencies, errors)."""
    latencies: list[float] = []
    errors = 0
    nc = await nats.connect(plane.client_nats, inbox_prefix=plane.conn.get("natsInboxPrefix", "_INBOX"),
                             token=plane.token)
    headers = {"Authorization": f"Bearer {plane.token}"}
    async with http_session(plane, 8) as http:
        async def apply(i: int) -> None:
            nonlocal errors
            name = offset + (i if i % 2 == 0 else i - 1)
            doc = manifest(name)
            doc["spec"]["replicas"] = 1 + (i % 2)
            body = msgspec.json.encode(doc)
            t0 = time.monotonic()
            if i % 3 == 0:
                reply = await nc.request(f"bosun.intent.modeldeployment.{NS}.d{name}", body, timeout=30,
                                         headers=headers)
                ok = reply.headers is not None and reply.headers.get("Bosun-Status") == "202"
            else:
                async with http.put(f"/v1/namespaces/{NS}/modeldeployments/d{name}", data=body) as r:
                    await r.read()
                    ok = r.status == 202
            latencies.append(time.monotonic() - t0)
            errors += not ok

        tasks = []
        start = time.monotonic()
        for i in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
            tasks.append(asyncio.create_task(apply(i)))
        await asyncio.gather(*tasks)
    await nc.close()
    return latencies, errors


async def _noise(plane: Plane, bad_rate: float, seconds: float) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench._noise", "--url", plane.url, "--nats", plane.client_nats,
        "--inbox", plane.conn.get("natsInboxPrefix", "_INBOX"), "--rate", str(bad_rate), "--seconds",
        str(seconds), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert proc.stdin is not None
    proc.stdin.write(plane.token.encode() + b"\n")
    await proc.stdin.drain()
    proc.stdin.close()
    return proc


async def run_badinput(plane: Plane, rate: float, seconds: float, bad_rate: float) -> dict[str, Any]:
    async with http_session(plane, 1) as http, \
            http.put("/v1/namespaces/infra/gpupools/bench-pool", data=msgspec.json.encode(POOL)) as r:
        r.raise_for_status()
    quiet, quiet_errors = await _good(plane, rate, seconds, 0)
    proc = await _noise(plane, bad_rate, seconds)
    noisy, noisy_errors = await _good(plane, rate, seconds, 1_000_000)
    out, _ = await proc.communicate()
    noise = json.loads(out.decode() or "{}")
    q, n = summary_ms(quiet), summary_ms(noisy)
    return {"rate_per_second": rate, "seconds_per_phase": seconds, "bad_rate_per_second": bad_rate,
            "without_bad_input": {**q, "errors": quiet_errors},
            "with_bad_input": {**n, "errors": noisy_errors},
            "p99_ratio": round(n["p99_ms"] / q["p99_ms"], 2) if q["p99_ms"] else None,
            "bad_input": noise}
