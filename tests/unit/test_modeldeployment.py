"""Given events, when now, then Decision: the deployment's pure core, with no I/O."""
from __future__ import annotations

from typing import Any

from actors.capacity import CapacityGranted, CapacityRequested, PoolView
from actors.decisions import Context
from actors.modeldeployment import model
from actors.modeldeployment.events import PlacementFailed, ReplicaReplaced
from actors.modeldeployment.kind import MODELDEPLOYMENT
from core.events import DeletionRequested, FinalizerRemoved, SpecApplied, StatusUpdated
from core.names import Ref
from core.replicas import ReplicaLost, StartReplica
from tests.simworld import World, deployment_spec, pool_spec

DEPLOYMENT: Any = MODELDEPLOYMENT.compiled  # the deployment's actor, as the runtime runs it

DEP = Ref("modeldeployment", "team-a", "chat")
POOL = Ref("gpupool", "infra", "usw2-a100")


def pools(free: int = 8, capacity: int = 8) -> Context:
    return Context(views={"gpupool": (PoolView(ref=POOL, region="us-west-2", gpu="a100", capacity=capacity,
                                   allocated=capacity - free),)})


def fold(*events: object) -> Any:
    state = DEPLOYMENT.initial(DEP)
    for ev in events:
        state = DEPLOYMENT.evolve(state, ev)  # type: ignore[arg-type]
    return state


def test_first_decision_asks_the_pool_for_capacity() -> None:
    state = fold(SpecApplied(generation=1, spec=deployment_spec(3), created=True))
    d = DEPLOYMENT.decide(state, 0.0, pools())
    assert [m.event for m in d.messages] == [CapacityRequested(request_id=1, requester=DEP.token,
                                                               pool="infra/usw2-a100", gpus=3)]
    assert d.messages[0].to == POOL
    assert not d.commands


def test_granted_capacity_starts_replicas_with_deterministic_ids() -> None:
    state = fold(SpecApplied(generation=1, spec=deployment_spec(2), created=True),
                 CapacityRequested(request_id=1, requester=DEP.token, pool="infra/usw2-a100", gpus=2),
                 CapacityGranted(request_id=1, requester=DEP.token, pool="infra/usw2-a100", gpus=2))
    d = DEPLOYMENT.decide(state, 0.0, pools(free=6))
    assert [o.command.replica for o in d.commands] == ["chat-1", "chat-2"]  # type: ignore[attr-defined]
    assert {o.key for o in d.commands} == {f"{DEP.token}/start/chat-1", f"{DEP.token}/start/chat-2"}


def test_no_matching_pool_is_pending_with_a_reason_and_a_wakeup() -> None:
    state = fold(SpecApplied(generation=1, spec=deployment_spec(2, gpu="h100"), created=True))
    d = DEPLOYMENT.decide(state, 100.0, pools())
    status = next(e for e in d.events if isinstance(e, StatusUpdated))
    assert status.phase == "Pending"
    assert "no ready GpuPool matches gpu=h100" in status.conditions[0].message
    assert any(isinstance(e, PlacementFailed) for e in d.events)
    assert d.wake_at is not None and 100.0 < d.wake_at <= 100.0 + model.REQUEUE_CAP


def test_decide_is_idempotent_once_its_own_writes_are_folded() -> None:
    state = fold(SpecApplied(generation=1, spec=deployment_spec(2), created=True))
    d = DEPLOYMENT.decide(state, 0.0, pools())
    for ev in (*d.events, *(m.event for m in d.messages), *(o.command for o in d.commands)):
        state = DEPLOYMENT.evolve(state, ev)
    again = DEPLOYMENT.decide(state, 0.0, pools())
    assert again.empty


def test_converges_scales_and_deletes_through_the_protocol() -> None:
    w = World()
    w.apply(POOL, pool_spec(8), 1, created=True)
    w.apply(DEP, deployment_spec(5), 1, created=True)
    w.run()
    st = w.states[DEP].status
    assert st.phase == "Ready" and st.fields["readyReplicas"] == 5
    assert st.fields["replicasByPool"] == {"infra/usw2-a100": 5}
    w.apply(DEP, deployment_spec(2), 2)
    w.run()
    assert w.states[DEP].status.fields["readyReplicas"] == 2
    assert dict(w.states[POOL].allocations) == {DEP.token: 2}
    w.delete(DEP, 2)
    w.run()
    assert w.states[DEP].gone
    assert dict(w.states[POOL].allocations) == {}
    assert sum(len(r) for r in w.running.values()) == 0
    assert all(n == 1 for n in w.starts.values())


def test_lost_replica_is_replaced_and_narrated() -> None:
    w = World()
    w.apply(POOL, pool_spec(4), 1, created=True)
    w.apply(DEP, deployment_spec(2), 1, created=True)
    w.run()
    w.running["infra/usw2-a100"].pop("chat-1")
    w.queue.append((DEP, ReplicaLost(replica="chat-1", pool="infra/usw2-a100", reason="drift")))
    w.run()
    state = w.states[DEP]
    assert set(state.replicas) == {"chat-2", "chat-3"}
    assert state.status.phase == "Ready"
    assert not state.lost


def test_pending_deployment_converges_when_capacity_appears() -> None:
    w = World()
    w.apply(POOL, pool_spec(1), 1, created=True)
    w.apply(DEP, deployment_spec(3), 1, created=True)
    w.run()
    assert w.states[DEP].status.phase in ("Pending", "Progressing")
    w.apply(POOL, pool_spec(4), 2)
    w.run()
    assert w.states[DEP].status.phase == "Ready"
    assert w.states[DEP].status.fields["readyReplicas"] == 3


def test_placement_change_moves_replicas_make_before_break() -> None:
    other = Ref("gpupool", "infra", "use1-a100")
    w = World()
    w.apply(POOL, pool_spec(4), 1, created=True)
    w.apply(other, pool_spec(4, region="us-east-1"), 1, created=True)
    w.apply(DEP, deployment_spec(2), 1, created=True)
    w.run()
    w.apply(DEP, deployment_spec(2, region="us-east-1"), 2)
    w.run()
    st = w.states[DEP].status
    assert st.phase == "Ready" and st.fields["replicasByPool"] == {"infra/use1-a100": 2}
    assert dict(w.states[POOL].allocations) == {}


def test_deletion_without_replicas_removes_the_finalizer() -> None:
    state = fold(SpecApplied(generation=1, spec=deployment_spec(0), created=True))
    state = DEPLOYMENT.evolve(state, DeletionRequested(generation=1))
    d = DEPLOYMENT.decide(state, 0.0, pools())
    assert any(isinstance(e, FinalizerRemoved) for e in d.events)


def test_replacement_narrative_names_both_replicas() -> None:
    state = fold(SpecApplied(generation=1, spec=deployment_spec(1), created=True),
                 CapacityRequested(request_id=1, requester=DEP.token, pool="infra/usw2-a100", gpus=1),
                 CapacityGranted(request_id=1, requester=DEP.token, pool="infra/usw2-a100", gpus=1),
                 StartReplica(replica="chat-1", pool="infra/usw2-a100", gpus=1, model="llama-3-8b", generation=1),
                 ReplicaLost(replica="chat-1", pool="infra/usw2-a100", reason="drift"))
    d = DEPLOYMENT.decide(state, 0.0, pools(free=7))
    assert ReplicaReplaced(lost="chat-1", replacement="chat-2", reason="drift") in d.events
