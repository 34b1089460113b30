"""cold-restart: the controller host alone over a synthetic history, on a private nats-server.

N ModelDeployments with M events each are appended straight to a fresh nats-server (spec + status
updates, the shape of a converged history), then a host starts cold: time until it has caught up
without snapshots (every event folded), and again with the snapshots + checkpoint the first host left.
Memory per actor is measured by the `memory` scenario (fresh processes: RSS never shrinks in-process).
"""
from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from actors.host import Host
from actors.registry import load
from core import log as corelog
from core import natsserver, subjects
from core.codec import encode, event_headers
from core.events import Condition, SpecApplied, StatusUpdated
from core.names import Ref

REGISTRY = load()  # the shipped kinds, as every component builds them

SPEC = {"model": "m", "replicas": 0, "placement": {"region": "us-west-2", "gpu": "a100"}}
ACK_EVERY = 512
"""Seeding publishes core NATS messages and asks JetStream to ack one in ACK_EVERY (in order on one
connection, so an ack covers everything before it); at most ACK_WINDOW acks are outstanding, which
bounds what waits in nats-server's ingest queue. The stream's message count is checked at the end."""
ACK_WINDOW = 16


def ref_of(i: int) -> Ref:
    return Ref("modeldeployment", f"ns-{i % 100}", f"d{i}")


def history(events_per_resource: int) -> list[tuple[str, bytes, dict[str, str]]]:
    """(slice, body, headers) of one resource's history, encoded once: every resource's is the same."""
    spec = SpecApplied(generation=1, spec=SPEC, created=True)
    out = [("spec", encode(spec), event_headers(spec, 0.0))]
    for k in range(events_per_resource - 1):
        ev = StatusUpdated(observed_generation=1, phase="Ready", conditions=(Condition(type="Ready", status="True"),),
                           fields={"readyReplicas": 0, "desiredReplicas": 0, "n": k})
        out.append(("ctl", encode(ev), event_headers(ev, 0.0)))
    return out


async def seed(lg: corelog.Log, n: int, events_per_resource: int) -> int:
    """Append N x M events as fast as one connection allows; returns the last sequence."""
    first = await lg.last_seq()
    story = history(events_per_resource)
    nc, js = lg.nc, lg.js
    acks: list[asyncio.Future[Any]] = []
    sent = 0
    for i in range(n):
        ref = ref_of(i)
        spec_subject, ctl_subject = subjects.spec(ref), subjects.ctl(ref, "deployments")
        for slice_, body, hdrs in story:
            subject = spec_subject if slice_ == "spec" else ctl_subject
            sent += 1
            if sent % ACK_EVERY == 0:
                acks.append(await js.publish_async(subject, body, headers=hdrs))
                if len(acks) >= ACK_WINDOW:
                    await acks.pop(0)
            else:
                await nc.publish(subject, body, headers=hdrs)
    await nc.flush()
    await asyncio.gather(*acks)
    expected = first + n * events_per_resource
    for _ in range(200):  # the tail after the last ack is stored shortly after
        last = await lg.last_seq()
        if last >= expected:
            break
        await asyncio.sleep(0.05)
    if last != expected:
        raise RuntimeError(f"seeding lost messages: stream at {last}, expected {expected}")
    return last


@dataclass
class Seeded:
    server: natsserver.Server
    lg: corelog.Log
    last: int
    seconds: float
    workdir: Path


@asynccontextmanager
async def seeded(n: int, events_per_resource: int) -> AsyncIterator[Seeded]:
    """A private nats-server holding N x M events; its data dir is removed afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix="bosun-bench-cold-"))
    server = natsserver.start(workdir)
    try:
        nc = await corelog.connect(server.url(), "bench-seed")
        try:
            lg = corelog.Log(nc)
            await lg.ensure()
            t0 = time.monotonic()
            last = await seed(lg, n, events_per_resource)
            yield Seeded(server, lg, last, time.monotonic() - t0, workdir)
        finally:
            await nc.close()
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass
class Running:
    host: Host
    stop: asyncio.Event
    task: asyncio.Task[None]
    catch_up_seconds: float

    async def close(self) -> None:
        await stop_host(self.stop, self.task)


async def stop_host(stop: asyncio.Event, task: asyncio.Task[None]) -> None:
    """Stop a host. Its final flush is bounded by a 5 s timeout inside `Host.run`, which raises when many
    actors are dirty (100k after a cold start): best effort by design, and the figures are taken by then."""
    stop.set()
    try:
        await task
    except TimeoutError:
        pass


async def start_host(lg: corelog.Log, host_id: str = "bench", idle_seconds: float = 3600) -> Running:
    """Start a host and return once it has caught up with the log."""
    host = Host(lg, registry=REGISTRY, host_id=host_id, idle_seconds=idle_seconds, flush_seconds=3600)
    stop = asyncio.Event()
    start = time.monotonic()
    task = asyncio.create_task(host.run(stop))
    waiter = asyncio.create_task(host.caught_up.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if not waiter.done():
        waiter.cancel()
        await task  # raises what stopped the host
        raise RuntimeError("host stopped before catching up")
    return Running(host, stop, task, time.monotonic() - start)


async def settle(host: Host, lg: corelog.Log) -> None:
    """Wait until every actor is idle and the consumer has nothing pending (own writes folded back)."""
    while True:
        busy = host.acks.busy or any(c.running or c.queue for c in host.cells.values())
        if not busy:
            info = await lg.jsm.consumer_info(lg.stream, host.durable)
            if not info.num_pending and not info.num_ack_pending:
                return
        await asyncio.sleep(0.05)


async def cold_catch_up(s: Seeded) -> tuple[float, Running]:
    """A host with no snapshot and no checkpoint over the seeded log: time to fold every event."""
    running = await start_host(s.lg)
    return running.catch_up_seconds, running


async def run_coldstart(n: int, events_per_resource: int) -> dict[str, Any]:
    async with seeded(n, events_per_resource) as s:
        cold, running = await cold_catch_up(s)
        actors_loaded = len(running.host.cells)
        t0 = time.monotonic()
        await settle(running.host, s.lg)  # the decisions every actor takes once caught up
        settled = time.monotonic() - t0
        after_decisions = await s.lg.last_seq()
        t0 = time.monotonic()
        await running.host.flush()  # snapshots + checkpoints, as a running host does periodically
        flushed = time.monotonic() - t0
        await running.close()
        warm = await start_host(s.lg)
        warm_actors = len(warm.host.cells)
        await warm.close()
        last = s.last
        return {
            "resources": n, "events_per_resource": events_per_resource, "events": last,
            "seed_seconds": round(s.seconds, 2),
            "seed_events_per_second": round(last / s.seconds) if s.seconds else None,
            "catch_up_without_snapshots_seconds": round(cold, 3),
            "events_per_second_cold": round(last / cold) if cold else None,
            "actors_loaded_cold": actors_loaded,
            "decide_after_catch_up_seconds": round(settled, 3),
            "appended_by_decisions": after_decisions - last,
            "snapshot_flush_seconds": round(flushed, 3),
            "catch_up_with_snapshots_seconds": round(warm.catch_up_seconds, 3),
            "actors_loaded_with_snapshots": warm_actors,
        }
