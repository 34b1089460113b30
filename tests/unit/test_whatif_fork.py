"""The plan's fork (pure): today's kinds on a virtual clock against the simulated sim driver."""
from __future__ import annotations

from typing import Any

import msgspec

from actors.gpupool.spec import GpuPoolSpec
from analysis.whatif import outcome
from analysis.whatif.planner import Intent, Settings, Simulated, simulate
from core.events import DeletionRequested, SpecApplied
from core.names import Ref
from core.replicas import ReplicaLost
from tests.simworld import deployment_spec, pool_spec

POOL = Ref("gpupool", "infra", "usw2-a100")
CHAT = Ref("modeldeployment", "team-a", "chat")
BIG = Ref("modeldeployment", "team-a", "big")


def created(ref: Ref, spec: dict[str, Any]) -> Intent:
    return Intent(ref, SpecApplied(generation=1, spec=spec, created=True))


def run(states: dict[Ref, Any], *intents: Intent, start: float = 1_000.0) -> Simulated:
    return simulate(states, {}, start, 1, list(intents), Settings(latency=0.05, seed=0))


def story(sim: Simulated) -> bytes:
    return msgspec.json.encode([(e.seq, e.at, e.subject, e.writer, e.event) for e in sim.result.timeline])


def test_the_same_start_and_intents_give_the_same_timeline() -> None:
    intents = (created(POOL, pool_spec(8)), created(CHAT, deployment_spec(3)))
    first, second = run({}, *intents), run({}, *intents)
    assert story(first) == story(second)
    assert first.result.quiescent
    assert outcome.predicted(CHAT, first.after[CHAT]).phase == "Ready"


def test_a_plan_on_existing_state_sees_the_capacity_already_held() -> None:
    base = run({}, created(POOL, pool_spec(8)), created(CHAT, deployment_spec(5)))
    assert outcome.predicted(CHAT, base.after[CHAT]).phase == "Ready"
    sim = run(base.after, created(BIG, deployment_spec(1, gpus=4)), start=2_000.0)
    got = outcome.predicted(BIG, sim.after[BIG])
    assert (got.phase, got.reason) == ("Pending", "Unschedulable")
    assert "usw2-a100: 3 free" in got.message
    assert [(p.free_before, p.free_after) for p in outcome.pools_left(sim.before, sim.after)] == [(3, 3)]
    assert not any(isinstance(e.event, ReplicaLost) for e in sim.result.timeline)  # never over-committed
    assert sim.result.timeline[0].at == 0.0 and sim.result.timeline[0].seq == 1


def test_affected_resources_are_reported_with_their_changes() -> None:
    base = run({}, created(POOL, pool_spec(8)))
    sim = run(base.after, created(CHAT, deployment_spec(2)), start=2_000.0)
    (pool,) = outcome.affected({CHAT}, sim.before, sim.after, sim.result.timeline)
    assert (pool.kind, pool.name, pool.phase_before, pool.phase_after) == ("gpupool", "usw2-a100", "Ready", "Ready")
    assert any("granted" in c for c in pool.changes)
    steps = outcome.steps_of(CHAT, sim.result.timeline)
    assert [s.type for s in steps if s.slice == "cmd"] == ["replica.start", "replica.start"]
    assert any(s.slice == "inbox" and s.resource == str(POOL) for s in steps)  # what chat sent the pool


def test_deletion_on_the_fork_stops_replicas_and_releases_capacity() -> None:
    base = run({}, created(POOL, pool_spec(8)), created(CHAT, deployment_spec(4)))
    sim = run(base.after, Intent(CHAT, DeletionRequested(generation=1)), start=2_000.0)
    assert outcome.predicted(CHAT, sim.after[CHAT]).phase == "Deleting"
    types = [type(e.event).__name__ for e in sim.result.timeline if e.ref == CHAT]
    assert types.count("StopReplica") == 4 and types.count("ReplicaStopped") == 4 and "FinalizerRemoved" in types
    assert [p.free_after for p in outcome.pools_left(sim.before, sim.after)] == [8]


def test_a_pending_deployment_retrying_forever_still_ends_the_plan() -> None:
    sim = run({}, created(CHAT, deployment_spec(1)))  # no pool at all
    assert sim.result.quiescent
    assert "no ready GpuPool" in outcome.predicted(CHAT, sim.after[CHAT]).message


def test_cost_per_hour_follows_the_gpus_priced_pools_allocate() -> None:
    base = run({}, created(POOL, pool_spec(8)))
    priced = msgspec.structs.replace(base.after[POOL], applied=GpuPoolSpec(region="us-west-2", gpu="a100",
                                                                        capacity=8, price_per_gpu_hour=2.5,
                                                                        namespaces=("*",)))
    sim = run({**base.after, POOL: priced}, created(CHAT, deployment_spec(3)), start=2_000.0)
    assert outcome.cost_per_hour(CHAT, sim.before) == 0.0
    assert outcome.cost_per_hour(CHAT, sim.after) == 7.5
    (left,) = outcome.pools_left(sim.before, sim.after)
    assert (left.cost_per_hour_before, left.cost_per_hour_after) == (0.0, 7.5)
    assert outcome.cost_per_hour(CHAT, base.after) is None  # no pool has a price


def test_idle_timers_never_end_the_plan_while_observations_are_still_coming() -> None:
    base = run({}, created(POOL, pool_spec(2)), created(BIG, deployment_spec(1, gpus=4)))  # BIG retries forever
    sim = simulate(base.after, {BIG: 2_000.0}, 2_000.0, 1, [created(CHAT, deployment_spec(2))],
                   Settings(latency=30.0, seed=0))  # readiness long after BIG's timer has gone idle
    assert outcome.predicted(CHAT, sim.after[CHAT]).phase == "Ready"
    assert sim.result.quiescent and sim.result.elapsed > 10
