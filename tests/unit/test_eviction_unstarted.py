"""Issue #25: a slot granted on a node but not yet started when that node is evicted. The lifecycle controller
declares every replica the pool's ledger holds on the node lost (`ReplicaLost`, NodeLost), started or not; the
deployment must then never start that slot, release it with its next request and get a slot elsewhere."""
from __future__ import annotations

from typing import Any

from actors.capacity import PoolView, SlotsGranted, SlotsRequested
from actors.decisions import Context
from actors.modeldeployment.events import ReplicaReplaced
from actors.modeldeployment.kind import MODELDEPLOYMENT
from actors.placement import NodeFree, Slot
from core.events import SpecApplied
from core.names import Ref
from core.replicas import NODE_LOST, ReplicaLost, StartOnNode
from tests.unit.test_modeldeployment import DEP, fold
from tests.unit.test_node_pools import node_deployment

POOL = Ref("gpupool", "infra", "fleet")
KEY = "infra/fleet"
DEPLOYMENT: Any = MODELDEPLOYMENT.compiled


def spec(replicas: int) -> dict[str, Any]:
    s = node_deployment(replicas)
    s["placement"]["region"], s["placement"]["gpu"] = "lab", "h100"
    return s


def view(*free: tuple[str, int]) -> Context:
    """The pool as the deployment reads it: `a` gone NotReady, so no longer among its nodes."""
    nodes = tuple(NodeFree(name=n, free=f) for n, f in free)
    cap = sum(f for _, f in free)
    return Context(views={"gpupool": (PoolView(ref=POOL, region="lab", gpu="h100", capacity=cap + 2, allocated=2,
                                               driver="node", nodes=nodes),)})


def grant(request_id: int, *slots: tuple[str, str, str]) -> SlotsGranted:
    held = tuple(Slot(replica=r, node=n, devices=(d,)) for r, n, d in slots)
    return SlotsGranted(request_id=request_id, requester=DEP.token, pool=KEY, gpus=len(held), slots=held)


def granted_then_lost() -> Any:
    """chat-1 granted on node a, chat-2 on b; a is evicted before the deployment's next decision started either."""
    return fold(SpecApplied(generation=1, spec=spec(2), created=True),
                SlotsRequested(request_id=1, requester=DEP.token, pool=KEY, gpus=2, replicas=("chat-1", "chat-2")),
                grant(1, ("chat-1", "a", "0"), ("chat-2", "b", "0")),
                ReplicaLost(replica="chat-1", pool=KEY, reason=NODE_LOST, node="a", message="node a NotReady"))


def starts(decision: Any) -> list[tuple[str, str]]:
    return [(o.command.replica, o.command.node) for o in decision.commands if isinstance(o.command, StartOnNode)]


def test_a_granted_slot_lost_with_its_node_is_never_started_and_is_replaced_elsewhere() -> None:
    state = granted_then_lost()
    again_lost = ReplicaLost(replica="chat-1", pool=KEY, reason=NODE_LOST, node="a", message="node a NotReady")
    assert DEPLOYMENT.evolve(state, again_lost).state == state.state  # a redelivered loss changes nothing
    d = DEPLOYMENT.decide(state, 0.0, view(("b", 1), ("c", 2)))
    assert starts(d) == [("chat-2", "b")]  # never chat-1 on the evicted node a
    asked = [m.event for m in d.messages if isinstance(m.event, SlotsRequested)]
    assert [a.replicas for a in asked] == [("chat-2", "chat-3")]  # a's slot released, one more asked
    for ev in (*d.events, *(m.event for m in d.messages), *(o.command for o in d.commands)):
        state = DEPLOYMENT.evolve(state, ev)
    state = DEPLOYMENT.evolve(state, grant(2, ("chat-2", "b", "0"), ("chat-3", "c", "0")))
    again = DEPLOYMENT.decide(state, 1.0, view(("c", 1)))
    assert starts(again) == [("chat-3", "c")]
    told = [e for e in (*d.events, *again.events) if isinstance(e, ReplicaReplaced)]
    assert [(e.lost, e.reason) for e in told] == [("chat-1", NODE_LOST)]  # its timeline says it was replaced
    assert not state.state.ended  # the released slot is forgotten with the grant that no longer lists it
    for ev in (*again.events, *(m.event for m in again.messages), *(o.command for o in again.commands)):
        state = DEPLOYMENT.evolve(state, ev)
    assert DEPLOYMENT.decide(state, 2.0, view(("c", 1))).empty  # settled: chat-2 on b, chat-3 on c
    assert not state.state.lost


def test_a_lost_report_naming_another_node_leaves_an_unstarted_slot_alone() -> None:
    state = fold(SpecApplied(generation=1, spec=spec(1), created=True),
                 SlotsRequested(request_id=1, requester=DEP.token, pool=KEY, gpus=1, replicas=("chat-1",)),
                 grant(1, ("chat-1", "b", "0")),
                 ReplicaLost(replica="chat-1", pool=KEY, reason=NODE_LOST, node="a"))
    assert starts(DEPLOYMENT.decide(state, 0.0, view(("b", 0)))) == [("chat-1", "b")]
