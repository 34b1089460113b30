"""The sim world's rules against a real SQLite file (no NATS): idempotence, refusals, tombstones, drift."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.names import Ref
from core.replicas import (
    EnsurePool,
    Observation,
    PoolReady,
    PoolRetired,
    ReplicaLost,
    ReplicaReady,
    ReplicaStarted,
    ReplicaStopped,
    StartReplica,
    StopReplica,
)
from dataplane.sim import kill_replica, outbox, world_summary
from dataplane.sim.world import DRIFT, World

POOL = Ref("gpupool", "infra", "usw2")
DEP = Ref("modeldeployment", "team-a", "chat")
T0 = 1000.0


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World.open(tmp_path, latency=1.0, seed=3)
    yield w
    w.close()


def drain(w: World) -> list[tuple[str, Observation]]:
    """Everything queued in the outbox (as if appended), oldest first; empties it."""
    rows = outbox.pending(w.conn, 10_000)
    outbox.sent(w.conn, [r.id for r in rows])
    return [(r.msg_id, r.event) for r in rows]


def start(rid: str, gpus: int = 1, pool: str = "infra/usw2") -> StartReplica:
    return StartReplica(replica=rid, pool=pool, gpus=gpus, model="m", generation=1)


def ensure(w: World, capacity: int = 2, generation: int = 1) -> None:
    w.ensure_pool(POOL, EnsurePool(region="r", gpu="a100", capacity=capacity, generation=generation), T0)


def test_ensure_pool_reports_ready_and_ignores_stale_generations(world: World) -> None:
    ensure(world, capacity=4, generation=2)
    ensure(world, capacity=1, generation=1)  # stale: re-reports the current truth
    assert drain(world) == [("obs/gpupool.infra.usw2/pool-ready/1.2", PoolReady(capacity=4, generation=2))] * 2
    assert world.retire_pool(POOL, T0) == "retired"
    ensure(world, capacity=3, generation=1)  # re-created after retirement: a new incarnation
    assert drain(world) == [("obs/gpupool.infra.usw2/pool-retired/1", PoolRetired()),
                            ("obs/gpupool.infra.usw2/pool-ready/2.1", PoolReady(capacity=3, generation=1))]


def test_start_is_idempotent_and_ready_after_seeded_latency(world: World, tmp_path: Path) -> None:
    ensure(world)
    drain(world)
    assert world.start_replica(DEP, start("chat-1"), T0) == "started"
    assert world.start_replica(DEP, start("chat-1"), T0 + 0.1) == "exists"
    started = ("obs/modeldeployment.team-a.chat/chat-1/started/1", ReplicaStarted(replica="chat-1", pool="infra/usw2"))
    assert drain(world) == [started, started]
    deadline = world.next_ready_at()
    assert deadline is not None and T0 + 0.5 <= deadline < T0 + 1.5
    assert world.promote_ready(deadline - 0.001) == []
    assert world.promote_ready(deadline) == [(DEP, "chat-1")]
    assert world.next_ready_at() is None
    assert drain(world) == [("obs/modeldeployment.team-a.chat/chat-1/ready/1",
                             ReplicaReady(replica="chat-1", pool="infra/usw2"))]
    assert world.start_replica(DEP, start("chat-1"), T0 + 2) == "exists"
    assert [e for _, e in drain(world)] == [started[1], ReplicaReady(replica="chat-1", pool="infra/usw2")]
    assert world_summary(tmp_path)["starts"] == {"modeldeployment.team-a.chat/chat-1": 1}


def test_refuses_beyond_capacity_and_unknown_pools(world: World, tmp_path: Path) -> None:
    ensure(world, capacity=2)
    drain(world)
    assert world.start_replica(DEP, start("chat-1"), T0) == "started"
    assert world.start_replica(DEP, start("chat-2", gpus=2), T0) == "refused"
    assert world.start_replica(DEP, start("chat-3"), T0) == "started"
    assert world.start_replica(DEP, start("chat-4", pool="infra/nope"), T0) == "refused"
    lost = {e.replica: e.reason for _, e in drain(world) if isinstance(e, ReplicaLost)}
    assert lost == {"chat-2": "insufficient capacity in pool infra/usw2 (needs 2 GPU, 1 of 2 free)",
                    "chat-4": "unknown pool infra/nope"}
    summary = world_summary(tmp_path)
    assert summary["pools"]["infra/usw2"]["used"] == 2 and summary["overallocated"] == []
    # A refused id is settled for good: even with room again it is never started behind its deployment's back.
    world.stop_replica(DEP, StopReplica(replica="chat-1", pool="infra/usw2"), T0)
    assert world.start_replica(DEP, start("chat-2", gpus=1), T0) == "settled"


def test_stop_is_idempotent_and_tombstones_the_id(world: World, tmp_path: Path) -> None:
    ensure(world)
    world.start_replica(DEP, start("chat-1"), T0)
    drain(world)
    stop = StopReplica(replica="chat-1", pool="infra/usw2")
    assert world.stop_replica(DEP, stop, T0) == "stopped"
    assert world.stop_replica(DEP, stop, T0) == "absent"
    stopped = ("obs/modeldeployment.team-a.chat/chat-1/stopped/1", ReplicaStopped(replica="chat-1", pool="infra/usw2"))
    assert drain(world) == [stopped, stopped]
    assert world.start_replica(DEP, start("chat-1"), T0) == "settled"  # a late, redelivered start
    assert drain(world) == [stopped]
    assert world_summary(tmp_path)["replicas"] == {}


def test_relist_reports_a_replica_killed_behind_our_back(world: World, tmp_path: Path) -> None:
    ensure(world)
    world.start_replica(DEP, start("chat-1"), T0)
    world.start_replica(DEP, start("chat-2"), T0)
    drain(world)
    assert world.relist(T0) == ([], [])
    assert kill_replica(tmp_path, "team-a", "chat") == ["chat-1"]
    assert kill_replica(tmp_path, "team-a", "chat", "chat-9") == []
    assert world.relist(T0) == ([(DEP, "chat-1")], [])
    assert drain(world) == [("obs/modeldeployment.team-a.chat/chat-1/lost/1",
                             ReplicaLost(replica="chat-1", pool="infra/usw2", reason=DRIFT))]
    assert world.relist(T0) == ([], [])  # reported once, then forgotten
    assert world.start_replica(DEP, start("chat-1"), T0) == "settled"  # never started twice
    assert world_summary(tmp_path)["double_started"] == []


def test_relist_reports_what_exists_but_was_never_reported(world: World) -> None:
    ensure(world)
    world.start_replica(DEP, start("chat-1"), T0)
    world.promote_ready(T0 + 10)
    world.conn.execute("DELETE FROM reported")  # as if the report were lost
    drain(world)
    assert world.relist(T0) == ([], [(DEP, "chat-1")])
    assert [e for _, e in drain(world)] == [ReplicaStarted(replica="chat-1", pool="infra/usw2"),
                                            ReplicaReady(replica="chat-1", pool="infra/usw2")]
