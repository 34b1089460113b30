"""A controller host process: wait for the cluster, run the host, start it over when it must.

Why a loop around `Host.run`: on a cluster a run ends for reasons that are not failures — the consumer
vanished with a node, a host left and its partitions are to be taken over, a request timed out during a
leader election. Each ends this run and starts a fresh one from the partition checkpoints (with backoff
after an error), so the process never exits on a transient NATS error.
"""
from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import structlog

from core import ready
from core.log import Log
from core.settings import DEFAULTS, Settings

log = structlog.get_logger("bosun.controller")


class Run(Protocol):
    restart: bool

    async def run(self, outer: asyncio.Event) -> None: ...


async def serve_runs(nats_url: str, name: str, make: Callable[[Log], Run], stop: asyncio.Event,
                     replicas: int = 1) -> None:
    """Connect (waiting for the cluster), then `make(log).run(stop)` again and again until a run ends
    without asking to start over, or `stop` is set. `replicas`: of the stream and buckets, if it makes them."""
    try:
        nc = await ready.connect(nats_url, name, stop)
    except ready.Stopped:
        return
    try:
        lg = Log(nc, replicas=replicas)
        await ready.ensure(lg, stop)
        failures = 0
        while not stop.is_set():
            current = make(lg)
            try:
                await current.run(stop)
                failures = 0
            except ready.TRANSIENT as e:
                failures += 1
                delay = ready.backoff(failures, base=0.25)
                log.warning("controller host run failed; starting over", error=str(e) or type(e).__name__,
                            retry_in=round(delay, 2))
                await ready.wait(stop, delay)
                continue
            if not current.restart:
                return
            log.info("controller host starting over", name=name)
    except ready.Stopped:
        return
    finally:
        await nc.close()


async def serve(nats_url: str, *, stop: asyncio.Event, partitions: int = 16, host_id: str | None = None,
                idle_seconds: float = 30.0, kinds: tuple[str, ...] = (), without: tuple[str, ...] = (),
                inflight: Path | None = None, settings: Settings = DEFAULTS,
                on_host: Callable[[Any], None] | None = None) -> None:
    """Run a controller host until `stop` is set: only the actors of `kinds` (a scope of its own), or all
    but `without` (the main scope), when given; waits for the cluster and starts over (`serve_runs`).
    `settings` (read at the command's entry) give the lease TTL, the reading mode, the step budgets and the
    stream's replicas; the host id is `host_id`, else BOSUN_HOST_ID, else the machine's name. `on_host` is
    handed each run's Host (the node lifecycle controller reads the pools' ledgers from it)."""
    from actors.host import Host
    from actors.registry import load
    from actors.scope import only, scope_of
    from actors.watchdog import InFlight, Watchdog

    registry = only(load(), kinds) if kinds else only(load(), without, exclude=True) if without else load()
    # Default: the machine's name — unique per container of `--scale controller=N`, stable across restarts.
    host_id = host_id or settings.host_id or socket.gethostname() or "main"
    watchdog = Watchdog(budget=settings.step_budget, memory=settings.step_memory,
                        inflight=InFlight(inflight))  # one watchdog thread per process
    scope = scope_of(kinds)

    def make(lg: Log) -> Host:
        host = Host(lg, registry=registry, host_id=host_id, partitions=partitions, idle_seconds=idle_seconds,
                    scope=scope, watchdog=watchdog, lease_ttl=settings.lease_ttl, read=settings.read)
        if on_host is not None:
            on_host(host)
        return host

    await serve_runs(nats_url, f"bosun-controller-{scope + '-' if scope else ''}{host_id}", make, stop,
                     settings.stream_replicas)
