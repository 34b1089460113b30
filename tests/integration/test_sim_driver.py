"""The sim driver against a real nats-server and a real SQLite world: commands in, observations out."""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from core import codec, subjects
from core import headers as H
from core.events import Event
from core.log import Log
from core.names import Ref
from core.replicas import (
    EnsurePool,
    PoolReady,
    PoolRetired,
    ReplicaLost,
    ReplicaReady,
    ReplicaStarted,
    ReplicaStopped,
    RetirePool,
    StartReplica,
    StopReplica,
)
from dataplane.sim import kill_replica, serve, world_summary
from dataplane.sim.driver import CONSUMER
from dataplane.sim.world import DRIFT
from tests.conftest import REGISTRY, eventually

POOL = Ref("gpupool", "infra", "usw2")
DEP = Ref("modeldeployment", "team-a", "chat")
POOL_KEY = "infra/usw2"


@contextlib.asynccontextmanager
async def driver(nats_url: str, data_dir: Path, **options: float) -> AsyncIterator[asyncio.Task[None]]:
    stop = asyncio.Event()
    task = asyncio.create_task(serve(nats_url, data_dir, stop=stop, **options))  # type: ignore[arg-type]
    try:
        yield task
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)


async def send(log: Log, ref: Ref, command: Event, msg_id: str) -> int:
    return (await log.append(subjects.cmd("sim", ref), command, msg_id=msg_id)).seq


async def observed(log: Log, ref: Ref) -> list[Event]:
    return [codec.decode(REGISTRY.kind(ref.kind), m.data, m.headers) async for m in log.read(subjects.obs(ref))]


async def processed(log: Log, seq: int) -> bool:
    """The driver acked every command up to `seq` (so their effects and reports are done)."""
    info = await log.jsm.consumer_info(log.stream, CONSUMER)
    return info.ack_floor is not None and int(info.ack_floor.stream_seq or 0) >= seq


def start(rid: str, gpus: int = 1, pool: str = POOL_KEY) -> StartReplica:
    return StartReplica(replica=rid, pool=pool, gpus=gpus, model="llama", generation=1)


async def ensure_pool(log: Log, capacity: int) -> None:
    await send(log, POOL, EnsurePool(region="us-west-2", gpu="a100", capacity=capacity, generation=1), "pool/1")
    await eventually(lambda: _has(log, POOL, PoolReady(capacity=capacity, generation=1)))


async def _has(log: Log, ref: Ref, event: Event) -> bool:
    return event in await observed(log, ref)


async def ready_ids(log: Log) -> set[str]:
    return {e.replica for e in await observed(log, DEP) if isinstance(e, ReplicaReady)}


async def test_replica_lifecycle(log: Log, nats_url: str, tmp_path: Path) -> None:
    async with driver(nats_url, tmp_path):
        await ensure_pool(log, capacity=4)
        seq = await send(log, DEP, start("chat-1"), "chat/start/1")
        await eventually(lambda: ready_ids(log))
        assert await observed(log, DEP) == [ReplicaStarted(replica="chat-1", pool=POOL_KEY),
                                            ReplicaReady(replica="chat-1", pool=POOL_KEY)]
        first, *_ = [m async for m in log.read(subjects.obs(DEP))]
        assert first.headers[H.CAUSES] == str(seq)
        assert first.headers[H.MSG_ID] == "obs/modeldeployment.team-a.chat/chat-1/started/1"
        assert world_summary(tmp_path)["replicas"] == {DEP.token: {"chat-1": "ready"}}

        await send(log, DEP, StopReplica(replica="chat-1", pool=POOL_KEY), "chat/stop/1")
        await eventually(lambda: _has(log, DEP, ReplicaStopped(replica="chat-1", pool=POOL_KEY)))
        await send(log, POOL, RetirePool(), "pool/retire")
        await eventually(lambda: _has(log, POOL, PoolRetired()))
        summary = world_summary(tmp_path)
        assert summary["replicas"] == {} and summary["pools"][POOL_KEY]["retired"] and summary["unsent"] == 0


async def test_repeated_commands_are_noops(log: Log, nats_url: str, tmp_path: Path) -> None:
    async with driver(nats_url, tmp_path):
        await ensure_pool(log, capacity=4)
        await send(log, DEP, start("chat-1"), "chat/start/1")
        await eventually(lambda: ready_ids(log))
        last = await send(log, DEP, start("chat-1"), "chat/start/1-again")  # a different id: not deduplicated
        stop = StopReplica(replica="chat-1", pool=POOL_KEY)
        await send(log, DEP, stop, "chat/stop/1")
        last = await send(log, DEP, stop, "chat/stop/1-again")
        await eventually(lambda: processed(log, last))
        assert await observed(log, DEP) == [ReplicaStarted(replica="chat-1", pool=POOL_KEY),
                                            ReplicaReady(replica="chat-1", pool=POOL_KEY),
                                            ReplicaStopped(replica="chat-1", pool=POOL_KEY)]
        assert world_summary(tmp_path)["starts"] == {f"{DEP.token}/chat-1": 1}


async def test_capacity_is_never_overallocated(log: Log, nats_url: str, tmp_path: Path) -> None:
    async with driver(nats_url, tmp_path):
        await ensure_pool(log, capacity=3)
        for i in range(1, 6):
            await send(log, DEP, start(f"chat-{i}"), f"chat/start/{i}")
        await send(log, DEP, start("chat-9", pool="infra/elsewhere"), "chat/start/9")
        await eventually(lambda: _count(log, ReplicaLost, 3))
        lost = {e.replica: e.reason for e in await observed(log, DEP) if isinstance(e, ReplicaLost)}
        assert lost["chat-9"] == "unknown pool infra/elsewhere"
        assert {r: why.startswith(f"insufficient capacity in pool {POOL_KEY}") for r, why in lost.items()} == {
            "chat-4": True, "chat-5": True, "chat-9": False}
        await eventually(lambda: _count(log, ReplicaReady, 3))
        summary = world_summary(tmp_path)
        assert summary["pools"][POOL_KEY]["used"] == 3 and summary["overallocated"] == []


async def _count(log: Log, cls: type[Event], n: int) -> bool:
    return sum(isinstance(e, cls) for e in await observed(log, DEP)) == n


async def test_replica_killed_behind_bosuns_back_is_reported_lost(log: Log, nats_url: str, tmp_path: Path) -> None:
    async with driver(nats_url, tmp_path, relist_interval=0.1):
        await ensure_pool(log, capacity=2)
        await send(log, DEP, start("chat-1"), "chat/start/1")
        await send(log, DEP, start("chat-2"), "chat/start/2")
        await eventually(lambda: _count(log, ReplicaReady, 2))
        assert kill_replica(tmp_path, "team-a", "chat", "chat-2") == ["chat-2"]
        await eventually(lambda: _has(log, DEP, ReplicaLost(replica="chat-2", pool=POOL_KEY, reason=DRIFT)))
        # Its capacity is free again: the deployment's replacement fits.
        await send(log, DEP, start("chat-3"), "chat/start/3")
        await eventually(lambda: _count(log, ReplicaReady, 3))
        assert world_summary(tmp_path)["replicas"] == {DEP.token: {"chat-1": "ready", "chat-3": "ready"}}
