"""cold-restart and memory: the controller host alone over a synthetic history, in this process.

N ModelDeployments with M events each are appended straight to a fresh nats-server (spec + status
updates, the shape of a converged history), then a host starts cold: time until it has caught up,
with and without snapshots, and the host's RSS per active actor and per passivated resource.
"""
from __future__ import annotations

import asyncio
import gc
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import actors  # noqa: F401
from actors.host import Host
from core import log as corelog
from core import natsserver, subjects
from core.codec import encode, event_headers
from core.events import Condition, SpecApplied, StatusUpdated
from core.names import Ref

SPEC = {"model": "m", "replicas": 0, "placement": {"region": "us-west-2", "gpu": "a100"}}


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def seed(lg: corelog.Log, n: int, events_per_resource: int) -> int:
    """Append the synthetic history with publish_async in windows; returns the last sequence."""
    window: list[Any] = []
    for i in range(n):
        ref = Ref("modeldeployment", f"ns-{i % 100}", f"d{i}")
        msgs = [(subjects.spec(ref), SpecApplied(generation=1, spec=SPEC, created=True))]
        for k in range(events_per_resource - 1):
            msgs.append((subjects.ctl(ref, "deployments"), StatusUpdated(
                observed_generation=1, phase="Ready", conditions=(Condition(type="Ready", status="True"),),
                fields={"readyReplicas": 0, "desiredReplicas": 0, "n": k})))
        for subject, ev in msgs:
            window.append(await lg.js.publish_async(subject, encode(ev), headers=event_headers(ev, 0.0)))
        if len(window) >= 4096:
            await asyncio.gather(*window)
            window.clear()
    await asyncio.gather(*window)
    return await lg.last_seq()


async def time_cold_start(lg: corelog.Log, idle_seconds: float) -> tuple[float, Host, asyncio.Event, Any]:
    host = Host(lg, host_id="bench", idle_seconds=idle_seconds, flush_seconds=3600)
    stop = asyncio.Event()
    start = time.monotonic()
    task = asyncio.create_task(host.run(stop))
    await host.caught_up.wait()
    return time.monotonic() - start, host, stop, task


async def run_coldstart(n: int, events_per_resource: int) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bosun-bench-cold-"))
    server = natsserver.start(workdir)
    nc = await corelog.connect(server.url(), "bench")
    try:
        lg = corelog.Log(nc)
        await lg.ensure()
        t0 = time.monotonic()
        last = await seed(lg, n, events_per_resource)
        seeded = time.monotonic() - t0
        gc.collect()
        base = rss_bytes()
        cold, host, stop, task = await time_cold_start(lg, idle_seconds=3600)
        while any(c.running or c.queue for c in host.cells.values()):
            await asyncio.sleep(0.05)
        gc.collect()
        active = len(host.cells)
        per_active = (rss_bytes() - base) / max(1, active)
        await host.flush()  # snapshots + checkpoints, as a running host does periodically
        host.idle_seconds = 0.0
        await host._passivate()  # noqa: SLF001 - benchmark reaches in to force passivation now
        gc.collect()
        per_passivated = (rss_bytes() - base) / max(1, n)
        stop.set()
        await task
        warm, host2, stop2, task2 = await time_cold_start(lg, idle_seconds=3600)
        stop2.set()
        await task2
    finally:
        await nc.close()
        server.stop()
    return {"resources": n, "events": last, "seed_seconds": round(seeded, 2),
            "catch_up_without_snapshots_seconds": round(cold, 2),
            "catch_up_with_snapshots_seconds": round(warm, 2),
            "events_per_second_cold": round(last / cold) if cold else None,
            "rss_bytes_per_active_actor": round(per_active), "rss_bytes_per_passivated_resource": round(per_passivated)}

