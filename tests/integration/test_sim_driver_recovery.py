"""Crash safety of the sim driver: cancelled or kill -9'd at any instant, it restarts on the same world
without starting anything twice, over-allocating a pool, or losing an observation."""
from __future__ import annotations

import asyncio
import collections
import signal
import sys
import time
from pathlib import Path

from core.log import Log
from core.replicas import EnsurePool, ReplicaLost, ReplicaReady, ReplicaStarted, ReplicaStopped, StopReplica
from dataplane.sim import world_summary
from dataplane.sim.world import World
from tests.conftest import eventually
from tests.integration.test_sim_driver import DEP, POOL, POOL_KEY, driver, ensure_pool, observed, send, start


async def answers(log: Log) -> dict[str, collections.Counter[str]]:
    """Per replica: how many times each observation type was appended."""
    out: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for e in await observed(log, DEP):
        assert isinstance(e, ReplicaStarted | ReplicaReady | ReplicaLost | ReplicaStopped)
        out[e.replica][type(e).__name__] += 1
    return out


def assert_sound(tmp_path: Path, counts: dict[str, collections.Counter[str]]) -> None:
    summary = world_summary(tmp_path)
    assert summary["double_started"] == [] and summary["overallocated"] == [] and summary["unsent"] == 0
    assert all(c[t] <= 1 for c in counts.values() for t in c), counts  # every observation exactly once


async def test_cancelled_mid_batch_resumes_without_double_starts(log: Log, nats_url: str, tmp_path: Path) -> None:
    async with driver(nats_url, tmp_path, latency=0.3) as first:
        await ensure_pool(log, capacity=30)
        for i in range(1, 41):
            await send(log, DEP, start(f"chat-{i}"), f"chat/start/{i}")
        await eventually(lambda: _any_started(log))
        first.cancel()  # a crash, as far as the log and the world can tell
    # While the driver is down: a redelivered start, a stop, a new start.
    await send(log, DEP, start("chat-2"), "chat/start/2-again")
    await send(log, DEP, StopReplica(replica="chat-1", pool=POOL_KEY), "chat/stop/1")
    await send(log, DEP, start("chat-41"), "chat/start/41")

    async with driver(nats_url, tmp_path, latency=0.3):
        counts = await eventually(lambda: _settled_counts(log, 41))
        await eventually(lambda: _drained(tmp_path))  # the last observations leave the outbox before the stop
    counts = await answers(log)
    ready = {r for r, c in counts.items() if c["ReplicaReady"]}
    lost = {r for r, c in counts.items() if c["ReplicaLost"]}
    assert lost == {f"chat-{i}" for i in range(31, 41)}  # beyond capacity; chat-1's stop made room for chat-41
    assert ready - {"chat-1"} == {f"chat-{i}" for i in range(2, 31)} | {"chat-41"}
    assert counts["chat-1"]["ReplicaStopped"] == 1
    assert_sound(tmp_path, counts)
    assert all(n == 1 for n in world_summary(tmp_path)["starts"].values())


async def _drained(data: Path) -> bool:
    return bool(world_summary(data)["unsent"] == 0)


async def _any_started(log: Log) -> bool:
    return any(isinstance(e, ReplicaStarted) for e in await observed(log, DEP))


async def _settled_counts(log: Log, n: int) -> dict[str, collections.Counter[str]] | None:
    counts = await answers(log)
    stopped_settled = all(c["ReplicaReady"] or c["ReplicaLost"] for r, c in counts.items() if r != "chat-1")
    return counts if len(counts) >= n and stopped_settled and counts["chat-1"]["ReplicaStopped"] else None


async def test_outbox_is_resent_after_a_crash_between_commit_and_append(log: Log, nats_url: str,
                                                                        tmp_path: Path) -> None:
    world = World.open(tmp_path, latency=0.05)
    try:  # what a driver that died right after committing would leave behind
        world.ensure_pool(POOL, EnsurePool(region="r", gpu="a100", capacity=2, generation=1), time.time())
        world.start_replica(DEP, start("chat-1"), time.time())
    finally:
        world.close()
    assert world_summary(tmp_path)["unsent"] == 2
    async with driver(nats_url, tmp_path):
        await eventually(lambda: _ready(log, "chat-1"))
    assert [type(e) for e in await observed(log, DEP)] == [ReplicaStarted, ReplicaReady]
    assert world_summary(tmp_path)["unsent"] == 0


async def _ready(log: Log, rid: str) -> bool:
    return ReplicaReady(replica=rid, pool=POOL_KEY) in await observed(log, DEP)


DRIVER_PROCESS = """
import asyncio, sys
from pathlib import Path
from dataplane.sim import serve
asyncio.run(serve(sys.argv[1], Path(sys.argv[2]), stop=asyncio.Event(), latency=0.2))
"""


async def test_kill_9_at_any_instant(log: Log, nats_url: str, tmp_path: Path) -> None:
    await send(log, POOL, EnsurePool(region="r", gpu="a100", capacity=20, generation=1), "pool/1")
    for i in range(1, 31):
        await send(log, DEP, start(f"chat-{i}"), f"chat/start/{i}")
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", DRIVER_PROCESS, nats_url, str(tmp_path),
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        await eventually(lambda: _any_started(log))
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    async with driver(nats_url, tmp_path, latency=0.2):
        await ensure_pool(log, capacity=20)
        counts = await eventually(lambda: _all_final(log, 30))
    assert sum(1 for c in counts.values() if c["ReplicaReady"]) == 20
    assert sum(1 for c in counts.values() if c["ReplicaLost"]) == 10
    assert_sound(tmp_path, counts)


async def _all_final(log: Log, n: int) -> dict[str, collections.Counter[str]] | None:
    counts = await answers(log)
    done = [r for r, c in counts.items() if c["ReplicaReady"] or c["ReplicaLost"]]
    return counts if len(done) == n else None

