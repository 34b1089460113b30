"""The controller host against a real nats-server and the real sim driver: convergence, crash, restart."""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from actors import serving as controller
from core import codec, subjects
from core.events import DeletionRequested, SpecApplied, StatusUpdated
from core.log import Log
from core.names import Ref
from dataplane.sim import driver as sim
from dataplane.sim.store import kill_replica, world_summary
from tests.conftest import REGISTRY, eventually
from tests.simworld import deployment_spec, pool_spec

POOL = Ref("gpupool", "infra", "usw2-a100")


class Running:
    """Components as asyncio tasks that can be stopped cleanly or cancelled abruptly (a crash)."""

    def __init__(self) -> None:
        self.tasks: dict[str, tuple[asyncio.Task[None], asyncio.Event]] = {}

    def start(self, name: str, make: Any) -> None:
        stop = asyncio.Event()
        self.tasks[name] = (asyncio.create_task(make(stop)), stop)

    async def crash(self, name: str) -> None:
        """Stop a component abruptly, skipping its clean shutdown (kill -9 is tested on processes).

        Cancel until it is really gone: on Python 3.11, `wait_for` inside nats-py can swallow one.
        """
        task, _ = self.tasks.pop(name)
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=0.1)
        with contextlib.suppress(asyncio.CancelledError, Exception):
            task.result()

    async def stop_all(self) -> None:
        for name in list(self.tasks):
            task, stop = self.tasks.pop(name)
            stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 20)


@pytest.fixture
async def plane(nats_url: str, tmp_path: Path) -> AsyncIterator[Running]:
    running = Running()
    running.start("controller", lambda stop: controller.serve(nats_url, stop=stop, idle_seconds=1.0))
    running.start("sim", lambda stop: sim.serve(nats_url, tmp_path, stop=stop, latency=0.02, relist_interval=0.3))
    yield running
    await running.stop_all()


async def apply(log: Log, ref: Ref, spec: dict[str, Any], generation: int) -> int:
    last = await log.last(subjects.spec(ref))
    ev = SpecApplied(generation=generation, spec=spec, created=last is None)
    return (await log.append(subjects.spec(ref), ev, expected_last_subject_seq=last.seq if last else 0)).seq


async def status(log: Log, ref: Ref) -> StatusUpdated | None:
    info = REGISTRY.kind(ref.kind)
    async for m in _reverse_ctl(log, ref, info.controller or ""):
        ev = codec.decode(info, m.data, m.headers)
        if isinstance(ev, StatusUpdated):
            return ev
    return None


async def _reverse_ctl(log: Log, ref: Ref, controller_name: str) -> AsyncIterator[Any]:
    msgs = [m async for m in log.read(subjects.ctl(ref, controller_name))]
    for m in reversed(msgs):
        yield m


async def ready(log: Log, ref: Ref, generation: int, replicas: int | None = None) -> bool:
    st = await status(log, ref)
    return bool(st and st.phase == "Ready" and st.observed_generation == generation and
                (replicas is None or st.fields.get("readyReplicas") == replicas))


async def test_deployment_converges_scales_and_deletes(plane: Running, log: Log, tmp_path: Path) -> None:
    dep = Ref("modeldeployment", "team-a", "chat")
    await apply(log, POOL, pool_spec(8), 1)
    await apply(log, dep, deployment_spec(5), 1)
    await eventually(lambda: ready(log, dep, 1, 5))
    assert world_summary(tmp_path)["replicas"][dep.token].keys() == {f"chat-{i}" for i in range(1, 6)}
    await apply(log, dep, deployment_spec(2), 2)
    await eventually(lambda: ready(log, dep, 2, 2))
    last = await log.last(subjects.spec(dep))
    assert last is not None
    await log.append(subjects.spec(dep), DeletionRequested(generation=2), expected_last_subject_seq=last.seq)

    async def gone() -> bool:
        done = await log.last(subjects.ctl(dep, "deployments"))
        return done is not None and done.headers.get("Bosun-Type") == "finalizer.removed"

    await eventually(gone)
    summary = world_summary(tmp_path)
    assert dep.token not in summary["replicas"]
    assert summary["double_started"] == [] and summary["overallocated"] == []


async def test_unplaceable_deployment_is_pending_then_converges_when_capacity_appears(
        plane: Running, log: Log) -> None:
    dep = Ref("modeldeployment", "team-a", "big")
    await apply(log, POOL, pool_spec(1), 1)
    await apply(log, dep, deployment_spec(3), 1)

    async def pending() -> bool:
        st = await status(log, dep)
        return bool(st and any(c.reason == "Unschedulable" for c in st.conditions))

    await eventually(pending)
    await apply(log, POOL, pool_spec(6), 2)
    await eventually(lambda: ready(log, dep, 1, 3))


async def test_many_concurrent_deployments_never_overallocate(plane: Running, log: Log, tmp_path: Path) -> None:
    await apply(log, POOL, pool_spec(10), 1)
    deps = [Ref("modeldeployment", f"team-{i % 3}", f"d{i}") for i in range(12)]
    await asyncio.gather(*(apply(log, d, deployment_spec(2), 1) for d in deps))

    async def settled() -> bool:
        sts = await asyncio.gather(*(status(log, d) for d in deps))
        ready_count = sum(1 for s in sts if s and s.phase == "Ready")
        summary = world_summary(tmp_path)
        assert summary["overallocated"] == [] and summary["double_started"] == []
        return ready_count == 5 and sum(1 for s in sts if s and s.phase in ("Pending", "Progressing")) == 7

    await eventually(settled, timeout=30)
    assert world_summary(tmp_path)["pools"]["infra/usw2-a100"]["used"] == 10


async def test_drift_is_noticed_and_replaced(plane: Running, log: Log, tmp_path: Path) -> None:
    dep = Ref("modeldeployment", "team-a", "drifty")
    await apply(log, POOL, pool_spec(4), 1)
    await apply(log, dep, deployment_spec(2), 1)
    await eventually(lambda: ready(log, dep, 1, 2))
    assert kill_replica(tmp_path, "team-a", "drifty") == ["drifty-1"]

    async def replaced() -> bool:
        reps = world_summary(tmp_path)["replicas"].get(dep.token, {})
        return set(reps) == {"drifty-2", "drifty-3"} and await ready(log, dep, 1, 2)

    await eventually(replaced)


async def test_controller_crash_mid_burst_converges_without_double_starts(
        plane: Running, log: Log, nats_url: str, tmp_path: Path) -> None:
    await apply(log, POOL, pool_spec(40), 1)
    deps = [Ref("modeldeployment", "burst", f"d{i}") for i in range(20)]
    for i, d in enumerate(deps):
        await apply(log, d, deployment_spec(2), 1)
        if i == 8:
            await plane.crash("controller")  # abrupt: no flush, no lease release
            plane.start("controller", lambda stop: controller.serve(nats_url, stop=stop, idle_seconds=1.0))

    async def all_ready() -> bool:
        return all(await asyncio.gather(*(ready(log, d, 1, 2) for d in deps)))

    await eventually(all_ready, timeout=40)
    summary = world_summary(tmp_path)
    assert summary["double_started"] == [] and summary["overallocated"] == []
    assert summary["pools"]["infra/usw2-a100"]["used"] == 40
