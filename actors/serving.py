"""A controller host process: wait for the cluster, run the host, start it over when it must.

Why a loop around `Host.run`: on a cluster a run ends for reasons that are not failures — the consumer
vanished with a node, a host left and its partitions are to be taken over, a request timed out during a
leader election. Each ends this run and starts a fresh one from the partition checkpoints (with backoff
after an error), so the process never exits on a transient NATS error.
"""
from __future__ import annotations

import asyncio
import os

import structlog

from actors.host import Host, _wait
from core import ready
from core.log import Log

log = structlog.get_logger("bosun.controller")


async def serve(nats_url: str, *, stop: asyncio.Event, partitions: int = 16, host_id: str | None = None,
                idle_seconds: float = 30.0) -> None:
    from actors.registry import load

    registry = load()
    host_id = host_id or os.environ.get("BOSUN_HOST_ID", "main")
    try:
        nc = await ready.connect(nats_url, f"bosun-controller-{host_id}", stop)
    except ready.Stopped:
        return
    try:
        lg = Log(nc)
        await ready.ensure(lg, stop)
        failures = 0
        while not stop.is_set():
            host = Host(lg, registry=registry, host_id=host_id, partitions=partitions, idle_seconds=idle_seconds)
            try:
                await host.run(stop)
                failures = 0
            except ready.TRANSIENT as e:
                failures += 1
                delay = ready.backoff(failures, base=0.25)
                log.warning("controller host run failed; starting over", error=str(e) or type(e).__name__,
                            retry_in=round(delay, 2))
                await _wait(stop, delay)
                continue
            if not host.restart:
                return
            log.info("controller host starting over", host=host_id)
    except ready.Stopped:
        return
    finally:
        await nc.close()
