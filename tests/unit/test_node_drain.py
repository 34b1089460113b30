"""Issue #25: `placement.nodeSelector` and `bosun drain` in the pure world — the pool narrows to the deployment's
selected nodes and says which constraint binds; a drain moves every replica off the node make-before-break (a
replacement Ready elsewhere before the old one stops), and with no capacity elsewhere keeps it serving and says why."""
from __future__ import annotations

from typing import Any

import msgspec
import pytest

from actors.capacity import PoolNodesDraining, SlotsRequested
from actors.decisions import Decision
from actors.modeldeployment.events import ReplicaDrained
from actors.placement import NodeFree, narrow
from core import codec, nodes
from core.names import Ref
from core.nodes import NodeReported, NodeView
from core.replicas import StopReplica
from tests.simworld import World, pool_spec
from tests.unit.test_kernel_agreement import checked
from tests.unit.test_node_pools import POOL, join, node_deployment, node_pool

CHAT = Ref("modeldeployment", "team-a", "chat")


def selecting(replicas: int, selector: dict[str, str], **kw: Any) -> dict[str, Any]:
    spec = node_deployment(replicas, **kw)
    spec["placement"]["nodeSelector"] = selector
    return spec


def drain(w: World, name: str, generation: int = 2, on: bool = True) -> None:
    w.apply(nodes.ref(name), {"unschedulable": True, "drain": True} if on else {}, generation)


def by_node(w: World, ref: Ref = CHAT) -> dict[str, int]:
    return dict(w.states[ref].status.fields.get("replicasByNode") or {})


def ready(w: World, ref: Ref = CHAT) -> int:
    return sum(1 for r in w.state(ref).replicas.values() if r.phase == "ready" and not r.stopping)


class Watched(World):
    """A world that samples the deployment's ready replicas after every decision (as a client polling it)."""

    def __init__(self, ref: Ref, seed: int = 0) -> None:
        super().__init__(seed=seed)
        self.ref = ref
        self.samples: list[int] = []

    def decide(self, actor: Any) -> Decision:
        decision = super().decide(actor)
        if self.ref.token in self.actors and self.states[self.ref].status is not None:
            self.samples.append(ready(self, self.ref))
        return decision


# ---- placement.nodeSelector ----------------------------------------------------------------------------------


def test_narrow_keeps_the_nodes_carrying_the_selector_and_says_when_none_does() -> None:
    free = (NodeFree(name="a", free=2), NodeFree(name="b", free=2))
    views = (NodeView(name="a", labels={"zone": "z1"}), NodeView(name="b", labels={"zone": "z2"}))
    assert narrow(free, views, {}) == (free, "")
    assert narrow(free, views, {"zone": "z2"}) == ((free[1],), "")
    kept, why = narrow(free, views, {"zone": "z9"})
    assert kept == () and why == ("placement.nodeSelector zone=z9: none of the pool's 2 Ready, schedulable node(s) "
                                  "carries it")
    assert narrow((), views, {"zone": "z9"}) == ((), "")  # no node at all: the pool's own reason says so


def test_replicas_go_only_to_nodes_matching_the_deployments_selector() -> None:
    w = World()
    for name, zone in (("a", "z1"), ("b", "z2"), ("c", "z2")):
        join(w, name, 2, zone=zone)
    w.apply(POOL, node_pool(), 1, created=True)
    w.apply(CHAT, selecting(4, {"zone": "z2"}), 1, created=True)
    w.run()
    assert w.states[CHAT].status.phase == "Ready" and by_node(w) == {"b": 2, "c": 2}
    asked = [e for _, e in w.history if isinstance(e, SlotsRequested)]
    assert asked and all(e.selector == {"zone": "z2"} for e in asked)


def test_a_selector_that_cannot_be_met_says_which_constraint_binds() -> None:
    w = World()
    for name, zone in (("a", "z1"), ("b", "z2")):
        join(w, name, 2, zone=zone)
    w.apply(POOL, node_pool(), 1, created=True)
    w.apply(CHAT, selecting(1, {"zone": "z9"}), 1, created=True)
    w.run()
    status = w.states[CHAT].status
    assert status.phase == "Pending"
    assert "placement.nodeSelector zone=z9: none of the pool's 2 Ready, schedulable node(s) carries it" in \
        status.conditions[0].message, status
    # the selected node is full: the free GPUs bind, among the selected nodes
    w.apply(CHAT, selecting(3, {"zone": "z2"}), 2)
    w.run()
    status = w.states[CHAT].status
    assert by_node(w) == {"b": 2} and status.fields["readyReplicas"] == 2
    assert "no node has 1 free GPU (the most on one node: 0) (among the nodes matching placement.nodeSelector " \
           "zone=z2)" in status.conditions[0].message, status
    # maxPerNode binds among them
    w = World()
    for name, zone in (("a", "z1"), ("b", "z2")):
        join(w, name, 2, zone=zone)
    w.apply(POOL, node_pool(), 1, created=True)
    w.apply(CHAT, selecting(2, {"zone": "z2"}, max_per_node=1), 1, created=True)
    w.run()
    assert by_node(w) == {"b": 1}
    assert "placement.maxPerNode 1: every node with 1 free GPU already runs 1 of its replicas (among the nodes " \
           "matching placement.nodeSelector zone=z2)" in w.states[CHAT].status.conditions[0].message


def test_a_selector_goes_only_to_pools_made_of_nodes() -> None:
    w = World()
    sim = Ref("gpupool", "infra", "sim")
    w.apply(sim, pool_spec(8), 1, created=True)
    spec = selecting(1, {"zone": "z1"})
    del spec["command"]
    w.apply(CHAT, spec, 1, created=True)
    w.run()
    message = w.states[CHAT].status.conditions[0].message
    assert "is not made of nodes: placement.nodeSelector needs a pool with driver: node" in message


def test_requests_without_a_selector_encode_as_before() -> None:
    """History recorded before `nodeSelector` existed replays to the same bytes (`replay --check`)."""
    plain = SlotsRequested(request_id=1, requester="modeldeployment.a.b", pool="infra/gpus", gpus=1, replicas=("b-1",))
    assert b"nodeSelector" not in codec.encode(plain)
    assert b"draining" not in msgspec.json.encode(NodeView(name="a", ready=True))


# ---- drain ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_drain_moves_every_replica_off_make_before_break(seed: int) -> None:
    w = Watched(CHAT, seed=seed)
    for name in ("a", "b", "c"):
        join(w, name, 2)
    w.apply(POOL, node_pool(), 1, created=True)
    w.apply(CHAT, node_deployment(3), 1, created=True)
    w.run()
    assert by_node(w) == {"a": 1, "b": 1, "c": 1}
    w.samples.clear()
    drain(w, "a")
    w.run(shuffle=True)  # any interleaving of the node, the pool, the deployment and the data plane
    assert w.samples and min(w.samples) >= 3, w.samples  # never below desired
    status = w.states[CHAT].status
    assert status.phase == "Ready" and "a" not in by_node(w) and sum(by_node(w).values()) == 3
    assert "drainingReplicas" not in status.fields
    stops = [e for _, e in w.history if isinstance(e, StopReplica)]
    story = [e for _, e in w.history if isinstance(e, ReplicaDrained)]
    assert [s.replica for s in stops] == [d.replica for d in story] and story[0].node == "a" and story[0].ready == 3
    assert not [d for d in w.devices if d[0] == "a"]  # nothing runs on it
    told = [e for _, e in w.history if isinstance(e, PoolNodesDraining)]
    assert told[0].nodes == ("a",) and told[0].requesters == (CHAT.token,)
    assert w.states[nodes.ref("a")].status.fields["schedulable"] is False
    assert w.states[POOL].status.fields["capacity"] == 4  # it lends no GPU while drained


def test_a_drained_node_uncordoned_takes_new_replicas_again() -> None:
    w = World()
    for name in ("a", "b"):
        join(w, name, 2)
    w.apply(POOL, node_pool(), 1, created=True)
    w.apply(CHAT, node_deployment(2, max_per_node=2), 1, created=True)
    w.run()
    drain(w, "a")
    w.run()
    assert by_node(w) == {"b": 2} and w.state(CHAT).draining == {}  # moved off: nothing to remember
    drain(w, "a", 3, on=False)
    w.apply(CHAT, node_deployment(4, max_per_node=2), 2)
    w.run()
    assert by_node(w) == {"a": 2, "b": 2} and w.states[CHAT].status.phase == "Ready"


def test_drain_with_no_capacity_elsewhere_keeps_the_replica_serving_and_says_why() -> None:
    w = Watched(CHAT)
    for name in ("a", "b"):
        join(w, name, 1)
    w.apply(POOL, node_pool(), 1, created=True)
    w.apply(CHAT, node_deployment(2), 1, created=True)
    w.run()
    w.samples.clear()
    drain(w, "a")
    w.run()
    assert min(w.samples) >= 2
    status = w.states[CHAT].status
    assert list(status.fields["drainingReplicas"].values()) == ["a"]
    assert status.fields["readyReplicas"] == 2 and status.phase == "Progressing"
    message = status.conditions[0].message
    assert status.conditions[0].reason == "Unschedulable"
    assert message.startswith("cannot move 1 replica(s) off draining node(s) a: insufficient capacity"), message
    assert "no node has 1 free GPU" in message
    # capacity appears (a machine joins): the replica moves, make-before-break
    join(w, "c", 1)
    w.run()
    assert min(w.samples) >= 2 and by_node(w) == {"b": 1, "c": 1} and w.states[CHAT].status.phase == "Ready"


def test_uncordon_stops_a_drain_and_replicas_stay() -> None:
    w = World()
    for name in ("a", "b"):
        join(w, name, 1)
    w.apply(POOL, node_pool(), 1, created=True)
    w.apply(CHAT, node_deployment(2), 1, created=True)
    w.run()
    drain(w, "a")
    w.run()
    assert w.states[CHAT].status.fields.get("drainingReplicas")
    drain(w, "a", 3, on=False)
    w.run()
    status = w.states[CHAT].status
    assert status.phase == "Ready" and "drainingReplicas" not in status.fields and by_node(w) == {"a": 1, "b": 1}
    assert w.state(CHAT).draining == {}


def test_the_node_says_draining_and_how_many_are_left_then_drained() -> None:
    w = World()
    join(w, "a", 2)
    w.run()
    w.queue.append((nodes.ref("a"), NodeReported(replicas=2, allocated=("0", "1"), epoch=1, at=w.now)))
    drain(w, "a")
    w.run()
    status = w.states[nodes.ref("a")].status
    drained = next(c for c in status.conditions if c.type == "Drained")
    assert (drained.status, drained.reason) == ("False", "Draining") and "2 replica(s) left" in drained.message
    assert status.fields["drain"] == {"phase": "Draining", "replicasLeft": 2} and status.phase == "Ready"
    w.queue.append((nodes.ref("a"), NodeReported(replicas=0, epoch=1, at=w.now)))
    w.run()
    status = w.states[nodes.ref("a")].status
    assert status.fields["drain"] == {"phase": "Drained", "replicasLeft": 0}
    assert next(c for c in status.conditions if c.type == "Drained").status == "True"
    drain(w, "a", 3, on=False)
    w.run()
    status = w.states[nodes.ref("a")].status
    assert "drain" not in status.fields and [c.type for c in status.conditions] == ["Ready"]


@pytest.mark.parametrize("shuffle", [False, True])
def test_replay_re_decides_a_drain_and_a_selector_exactly(shuffle: bool) -> None:
    """Every decision of the node, the pool and the deployments, re-run from the encoded log (`replay --check`)."""
    w = World(seed=3)
    for name, zone in (("a", "z1"), ("b", "z1"), ("c", "z2")):
        join(w, name, 2, zone=zone)
    w.apply(POOL, node_pool(), 1, created=True)
    w.apply(CHAT, node_deployment(3, max_per_node=2), 1, created=True)
    picky = Ref("modeldeployment", "team-b", "picky")
    w.apply(picky, selecting(2, {"zone": "z1"}), 1, created=True)
    w.run(shuffle=shuffle)
    drain(w, "a")
    w.run(shuffle=shuffle)
    drain(w, "a", 3, on=False)
    w.run(shuffle=shuffle)
    decisions, divergences = checked(w.stored())
    assert divergences == [] and decisions > 20, [str(d) for d in divergences]
    assert any(isinstance(e, ReplicaDrained) for _, e in w.history)


def test_get_nodes_says_a_node_drains() -> None:
    from actors.node.kind import NODE

    column = next(c for c in NODE.columns if c.header == "SCHEDULABLE")
    assert column.value({"spec": {}}) == "true"
    assert column.value({"spec": {"unschedulable": True}}) == "false"
    assert column.value({"spec": {"unschedulable": True, "drain": True}, "status": {}}) == "false (Draining)"
    assert column.value({"spec": {"unschedulable": True, "drain": True},
                         "status": {"drain": {"phase": "Drained", "replicasLeft": 0}}}) == "false (Drained)"
