"""One kernel, four shells: the test world and the what-if fork decide exactly what replay re-decides from
their logs (the live host's logs are checked the same way in tests/integration/test_replay.py, and a
plan is compared with the live outcome of applying it in tests/integration/test_whatif_up.py), the fork
and the test world reach the same end, and a failing decide is carried out on the fork as the host does."""
from __future__ import annotations

from typing import Any

import msgspec
import pytest

from actors import failures
from actors.controller import Controller, Registry
from actors.decisions import Context, Decision
from analysis import replay
from analysis.whatif import fork as forking
from analysis.whatif.planner import Intent, Settings, simulate
from core import codec
from core.events import Event, ReconcileFailed, SpecApplied, StatusUpdated
from core.kinds import KindInfo
from core.names import Ref
from core.stored import StoredMessage
from dataplane.sim.rules import Plane
from tests.conftest import REGISTRY
from tests.simworld import World, deployment_spec, pool_spec

POOLS = [Ref("gpupool", "infra", "usw2-a100"), Ref("gpupool", "infra", "use1-a100")]
DEPS = [Ref("modeldeployment", "team-a", f"d{i}") for i in range(4)]


def autoscaled(replicas: int) -> dict[str, Any]:
    return {**deployment_spec(replicas), "autoscaling": {"min": 1, "max": 4, "targetLoadPerReplica": 50}}


def intents(cap: int = 6) -> list[tuple[Ref, dict[str, Any]]]:
    """With the default capacity the deployments contend for the first pool; with 9 everything fits."""
    return [(POOLS[0], pool_spec(cap)), (POOLS[1], pool_spec(4, region="us-east-1")), (DEPS[0], deployment_spec(3)),
            (DEPS[1], deployment_spec(2, gpus=2, region="us-east-1")), (DEPS[2], autoscaled(2)),
            (DEPS[3], deployment_spec(4))]


def checked(messages: list[StoredMessage]) -> tuple[int, list[replay.Divergence]]:
    routed = replay.route((replay.decode(m) for m in messages), REGISTRY)
    total, found = 0, []
    for ref in routed:
        n, divergences = replay.check(ref, routed[ref], REGISTRY)
        total += n
        found += divergences
    return total, found


def fork_log(timeline: list[forking.Entry], start: float) -> list[StoredMessage]:
    return [StoredMessage(e.seq, e.subject, codec.event_headers(e.event, start + e.at, **e.headers),
                          codec.encode(e.event), start + e.at) for e in timeline]


@pytest.mark.parametrize("shuffle", [False, True])
def test_replay_re_decides_exactly_what_the_test_world_decided(shuffle: bool) -> None:
    w = World(seed=7)
    for ref, spec in intents():
        w.apply(ref, spec, 1, created=True)
    w.run(shuffle=shuffle)
    w.apply(DEPS[0], deployment_spec(1), 2)
    w.delete(DEPS[3], 1)
    w.run(shuffle=shuffle)
    decisions, divergences = checked(w.stored())
    assert divergences == [] and decisions > 20


def test_replay_re_decides_exactly_what_the_fork_decided() -> None:
    sim = simulate({}, {}, 1_000.0, 1, [Intent(r, SpecApplied(generation=1, spec=s, created=True))
                                        for r, s in intents()], Settings(latency=0.5, seed=3))
    assert sim.result.quiescent
    decisions, divergences = checked(fork_log(sim.result.timeline, 1_000.0))
    assert divergences == [] and decisions > 20
    wrote = {(e.writer, e.headers["Bosun-Hwm"], e.headers["Bosun-Time"]) for e in sim.result.timeline
             if "Bosun-Hwm" in e.headers}
    assert decisions == len(wrote)  # every decision that wrote anything (the others leave no trace)


def test_the_fork_and_the_test_world_reach_the_same_end() -> None:
    w = World()
    for ref, spec in intents(cap=9):
        w.apply(ref, spec, 1, created=True)
    w.run()
    sim = simulate({}, {}, 1_000.0, 1, [Intent(r, SpecApplied(generation=1, spec=s, created=True))
                                        for r, s in intents(cap=9)], Settings(latency=0.05, seed=0))
    for ref in POOLS:
        assert dict(sim.after[ref].allocations) == dict(w.states[ref].allocations)
    for ref in DEPS:
        live, planned = w.states[ref], sim.after[ref]
        assert planned.status.phase == live.status.phase == "Ready"
        assert sorted(planned.replicas) == sorted(live.replicas)
        assert planned.status.fields["replicasByPool"] == live.status.fields["replicasByPool"]


# ---- a failing decide on the fork: what the host does, not a fork-only imitation -------------------------


class Broken(msgspec.Struct, frozen=True):
    ref: Ref
    status: StatusUpdated | None = None


def _evolve(s: Broken, e: Event) -> Broken:
    return msgspec.structs.replace(s, status=e) if isinstance(e, StatusUpdated) else s


def _decide(s: Broken, now: float, ctx: Context) -> Decision:
    raise RuntimeError("boom: this reconciler has a bug")


def test_a_failing_decide_on_the_fork_is_retried_then_quarantined_as_the_host_does(
        monkeypatch: pytest.MonkeyPatch) -> None:
    registry = Registry()
    info = KindInfo(name="Breaking", plural="breakings", spec_type=msgspec.Struct, controller="breaking")
    registry.add(Controller(info=info, state_type=Broken, initial=lambda ref: Broken(ref=ref), evolve=_evolve,
                            decide=_decide, status_of=lambda s: s.status))
    monkeypatch.setattr(forking, "registry", lambda: registry)
    bad = Ref("breaking", "team-a", "bad")
    f = forking.Fork({}, Plane(), 1_000.0)
    f.intend(bad, SpecApplied(generation=1, spec={}, created=True))
    result = f.run()
    assert result.quiescent
    records = [e.event for e in result.timeline if isinstance(e.event, ReconcileFailed)]
    assert [r.outcome for r in records] == ["retry"] * (failures.QUARANTINE_AFTER - 1) + ["quarantined"]
    assert [r.attempt for r in records] == list(range(1, failures.QUARANTINE_AFTER + 1))
    assert all(e.headers.get("Bosun-Origin") == "runtime" for e in result.timeline
               if isinstance(e.event, (ReconcileFailed, StatusUpdated)))
    status = f.states()[bad].status
    assert status.phase == "Degraded" and status.conditions[-1].reason == "Quarantined"
    assert "boom" in status.conditions[-1].message
