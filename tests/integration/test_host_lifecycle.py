"""Passivation, snapshots and checkpointed cold start of the controller host."""
from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

from actors.host import Host
from actors.persistence import Checkpoint, Persistence
from core import log as corelog
from core.log import Log
from core.names import Ref
from dataplane.sim import driver as sim
from dataplane.sim.store import world_summary
from tests.conftest import REGISTRY, eventually
from tests.integration.test_controller import POOL, apply, ready
from tests.simworld import deployment_spec, pool_spec


async def _run_host(log: Log, idle: float) -> tuple[Host, asyncio.Task[None], asyncio.Event]:
    host = Host(log, registry=REGISTRY, host_id="main", idle_seconds=idle, flush_seconds=0.5)
    stop = asyncio.Event()
    return host, asyncio.create_task(host.run(stop)), stop


async def test_idle_actors_passivate_and_reactivate_from_snapshots(log: Log, nats_url: str, tmp_path: Path) -> None:
    stop_sim = asyncio.Event()
    driver = asyncio.create_task(sim.serve(nats_url, tmp_path, stop=stop_sim, latency=0.01, relist_interval=5))
    host, task, stop = await _run_host(log, idle=0.3)
    dep = Ref("modeldeployment", "team-a", "chat")
    try:
        await apply(log, POOL, pool_spec(8), 1)
        await apply(log, dep, deployment_spec(3), 1)
        await eventually(lambda: ready(log, dep, 1, 3))
        # Its own writes came back while it had nothing else to do: marked seen without a mailbox run (#27).
        assert host.stats["echoes"] >= 3

        async def passivated() -> bool:
            return dep.token not in host.cells

        await eventually(passivated)
        snaps = await log.kv(corelog.SNAPSHOTS)
        assert (await snaps.get(dep.token)).value
        await apply(log, dep, deployment_spec(5), 2)
        await eventually(lambda: ready(log, dep, 2, 5))
        assert world_summary(tmp_path)["double_started"] == []
    finally:
        stop.set()
        stop_sim.set()
        await asyncio.gather(task, driver)


async def test_cold_start_resumes_from_checkpoint_and_decides_once_caught_up(
        log: Log, nats_url: str, tmp_path: Path) -> None:
    stop_sim = asyncio.Event()
    driver = asyncio.create_task(sim.serve(nats_url, tmp_path, stop=stop_sim, latency=0.01, relist_interval=5))
    deps = [Ref("modeldeployment", "team-a", f"d{i}") for i in range(5)]
    try:
        host, task, stop = await _run_host(log, idle=30)
        await apply(log, POOL, pool_spec(20), 1)
        for d in deps:
            await apply(log, d, deployment_spec(2), 1)
        await eventually(lambda: _all_ready(log, deps, 1, 2))
        stop.set()
        await task
        persistence = Persistence(log)
        await persistence.open()
        assert (await persistence.checkpoint(0)).seq > 0
        # Intents that arrive while no controller runs are picked up by the next one.
        for d in deps:
            await apply(log, d, deployment_spec(3), 2)
        host, task, stop = await _run_host(log, idle=30)
        try:
            await eventually(lambda: _all_ready(log, deps, 2, 3))
        finally:
            stop.set()
            await task
        assert host.stats["conflicts"] == 0
        summary = world_summary(tmp_path)
        assert summary["double_started"] == [] and summary["overallocated"] == []
    finally:
        stop_sim.set()
        with contextlib.suppress(asyncio.CancelledError):
            await driver


async def _all_ready(log: Log, deps: list[Ref], generation: int, replicas: int) -> bool:
    return all(await asyncio.gather(*(ready(log, d, generation, replicas) for d in deps)))


async def test_a_passivated_resource_waiting_on_a_timer_still_wakes_after_a_restart(
        log: Log, nats_url: str, tmp_path: Path) -> None:
    """Placement retries are timers; a restart must not forget those of actors that are not in memory."""
    stop_sim = asyncio.Event()
    driver = asyncio.create_task(sim.serve(nats_url, tmp_path, stop=stop_sim, latency=0.01, relist_interval=5))
    dep = Ref("modeldeployment", "team-a", "waits")
    try:
        host, task, stop = await _run_host(log, idle=0.3)
        await apply(log, POOL, pool_spec(1), 1)
        await apply(log, dep, deployment_spec(2), 1)  # one replica fits, the other waits for capacity

        async def waiting_and_passivated() -> bool:
            return dep.token not in host.cells and dep.token in host.timers.tokens()

        await eventually(waiting_and_passivated)
        stop.set()
        await task
        await apply(log, POOL, pool_spec(4), 2)  # capacity appears while no controller runs
        host, task, stop = await _run_host(log, idle=30)
        await eventually(lambda: ready(log, dep, 1, 2), timeout=30)
        assert world_summary(tmp_path)["double_started"] == []
    finally:
        stop.set()
        stop_sim.set()
        await asyncio.gather(task, driver)


async def test_timers_kept_in_checkpoints_are_armed_before_catch_up(log: Log) -> None:
    """A kept timer that is not due yet when the host catches up: its actor is loaded and decides once."""
    dep = Ref("modeldeployment", "team-a", "later")
    await apply(log, dep, deployment_spec(1), 1)
    persistence = Persistence(log)
    await persistence.open()
    for p in range(16):
        await persistence.write_checkpoint(p, Checkpoint(seq=0, timers={dep.token: time.time() + 3600}))
    host, task, stop = await _run_host(log, idle=30)
    try:
        await eventually(lambda: _caught_up_with(host, dep))
        assert not task.done() and dep.token in host.timers.tokens()
    finally:
        stop.set()
        await task


async def _caught_up_with(host: Host, ref: Ref) -> bool:
    return host.caught_up.is_set() and ref.token in host.cells


async def test_a_host_whose_leases_may_lapse_writes_no_snapshot_nor_checkpoint(log: Log, nats_url: str,
                                                                                tmp_path: Path) -> None:
    """A host frozen past its lease margin (a GC pause, a SIGSTOP, a stalled NATS) may have lost its partitions
    to another host: its snapshots would overwrite the new owner's (found by the cluster chaos run: a deployment
    came back from a stale snapshot behind the log for good). It writes none, and starts its run over."""
    stop_sim = asyncio.Event()
    driver = asyncio.create_task(sim.serve(nats_url, tmp_path, stop=stop_sim, latency=0.01, relist_interval=5))
    host = Host(log, registry=REGISTRY, host_id="main", idle_seconds=30, flush_seconds=0.5, lease_ttl=1.2)
    stop = asyncio.Event()
    task = asyncio.create_task(host.run(stop))
    dep = Ref("modeldeployment", "team-a", "frozen")
    try:
        await apply(log, POOL, pool_spec(8), 1)
        await apply(log, dep, deployment_spec(2), 1)
        await eventually(lambda: ready(log, dep, 1, 2))
        writes: list[object] = []

        async def written(*args: object) -> None:
            writes.append(args)

        persistence = host.persistence
        save, checkpoint = persistence.save, persistence.write_checkpoint
        persistence.save = persistence.write_checkpoint = written  # type: ignore[method-assign,assignment]
        time.sleep(1.0)  # the whole process frozen: no renewal for most of the 1.2 s lease
        await host.flush()
        assert writes == [] and host.restart, "a stale owner's flush wrote"
        persistence.save, persistence.write_checkpoint = save, checkpoint  # type: ignore[method-assign]
    finally:
        stop.set()
        stop_sim.set()
        await asyncio.gather(task, driver)
