"""Pools made of nodes (#25): placement rules (pure) and the pool's ledger with deployments in the pure world."""
from __future__ import annotations

from collections import Counter
from typing import Any

import msgspec
import pytest

from actors.gpupool.spec import GpuPoolSpec, validate
from actors.placement import NodeCap, NodeFree, PoolNodesChanged, Slot, eligible, fit, place
from core import nodes
from core.names import Ref
from core.nodes import Device, NodeJoined, NodeLeft, NodeView
from core.replicas import ReplicaLost, StartOnNode
from tests.simworld import World, deployment_spec

POOL = Ref("gpupool", "infra", "gpus")
NODE_KIND = nodes.KIND


def _spec(raw: dict[str, Any]) -> GpuPoolSpec:
    return msgspec.convert(raw, GpuPoolSpec)


def caps(*spec: tuple[str, int, str]) -> tuple[NodeCap, ...]:
    return tuple(NodeCap(name=n, devices=tuple(str(i) for i in range(g)), zone=z) for n, g, z in spec)


# ---- placement: pure -------------------------------------------------------------------------------------------


def test_spread_node_puts_each_replica_on_the_node_with_fewest_of_its_own() -> None:
    slots, why = place(caps(("a", 4, ""), ("b", 4, ""), ("c", 4, "")), [], [], ["r-1", "r-2", "r-3"], 1)
    assert why == "" and sorted(s.node for s in slots) == ["a", "b", "c"]


def test_max_per_node_caps_and_says_so_when_it_binds() -> None:
    nodes_ = caps(("a", 4, ""), ("b", 4, ""))
    slots, why = place(nodes_, [], [], [f"r-{i}" for i in range(5)], 1, "none", max_per_node=2)
    assert len(slots) == 4 and max(Counter(s.node for s in slots).values()) == 2
    assert "placement.maxPerNode 2" in why


def test_devices_are_never_handed_out_twice() -> None:
    nodes_ = caps(("a", 4, ""), ("b", 2, ""))
    held = [Slot(replica="x-1", node="a", devices=("0", "1"))]
    slots, why = place(nodes_, held, [], ["r-1", "r-2"], 2, "none")
    assert why == ""
    used = [(s.node, d) for s in (*held, *slots) for d in s.devices]
    assert len(used) == len(set(used)) == 6
    _, why = place(nodes_, [*held, *slots], [], ["r-3"], 1)
    assert why == "no node has 1 free GPU (the most on one node: 0)"


def test_spread_zone_balances_zones_first_and_none_packs() -> None:
    nodes_ = caps(("a", 4, "z1"), ("b", 4, "z1"), ("c", 4, "z2"))
    slots, _ = place(nodes_, [], [], ["r-1", "r-2"], 1, "zone")
    assert {s.node for s in slots} >= {"c"} and len({s.node for s in slots}) == 2
    packed, _ = place(nodes_, [Slot(replica="x", node="b", devices=("0",))], [], ["r-1", "r-2"], 1, "none")
    assert [s.node for s in packed] == ["b", "b"]


def test_fit_counts_what_the_nodes_hold_and_names_the_binding_constraint() -> None:
    free = (NodeFree(name="a", free=4), NodeFree(name="b", free=1))
    assert fit(free, {}, 1) == (5, "")
    assert fit(free, {"a": 1}, 1, max_per_node=1) == (1, "")
    n, why = fit(free, {"a": 1, "b": 1}, 1, max_per_node=1)
    assert n == 0 and "maxPerNode 1" in why
    assert fit((), {}, 1)[1] == "no Ready, schedulable node matches the pool's nodeSelector"


def test_eligible_nodes_are_ready_schedulable_and_selected() -> None:
    views = [NodeView(name="a", ready=True, labels={"gpu": "h100"}, devices=("0",)),
             NodeView(name="b", ready=False, labels={"gpu": "h100"}, devices=("0",)),
             NodeView(name="c", ready=True, schedulable=False, labels={"gpu": "h100"}, devices=("0",)),
             NodeView(name="d", ready=True, labels={"gpu": "a100", "zone": "z"}, devices=("0",))]
    assert [n.name for n in eligible(views, {"gpu": "h100"})] == ["a"]
    assert [(n.name, n.zone) for n in eligible(views, {})] == [("a", ""), ("d", "z")]


def test_node_pool_spec_rules() -> None:
    spec = _spec({"region": "r", "gpu": "h100", "driver": "node", "nodeSelector": {"gpu": "h100"}})
    assert validate(spec) == [] and spec.node_selector == {"gpu": "h100"}
    bad = _spec({"region": "r", "gpu": "h100", "driver": "node", "capacity": 4})
    assert [e.field for e in validate(bad)] == ["$.spec.capacity"]
    sim = _spec({"region": "r", "gpu": "h100", "capacity": 4, "nodeSelector": {"gpu": "x"}})
    assert [e.field for e in validate(sim)] == ["$.spec.nodeSelector"]


# ---- the pool's ledger and deployments, in the pure world --------------------------------------------------------


def node_pool(selector: dict[str, str] | None = None) -> dict[str, Any]:
    return {"region": "us-west-2", "gpu": "a100", "driver": "node", "namespaces": ["*"],
            "nodeSelector": selector or {}}


def node_deployment(replicas: int, max_per_node: int | None = None, spread: str = "node",
                    gpus: int = 1) -> dict[str, Any]:
    spec = deployment_spec(replicas, gpus=gpus)
    spec["command"] = ["/bin/sleep", "1000"]
    spec["placement"]["spread"] = spread
    if max_per_node is not None:
        spec["placement"]["maxPerNode"] = max_per_node
    return spec


def join(w: World, name: str, gpus: int, **labels: str) -> None:
    ref = nodes.ref(name)
    w.apply(ref, {}, 1, created=True)
    w.queue.append((ref, NodeJoined(labels=labels, devices=tuple(Device(id=str(i)) for i in range(gpus)),
                                    epoch=1, at=w.now)))


def cordon(w: World, name: str, generation: int = 2, unschedulable: bool = True) -> None:
    w.apply(nodes.ref(name), {"unschedulable": unschedulable}, generation)


def pool_status(w: World) -> Any:
    return w.states[POOL].status


def node_starts(w: World) -> list[StartOnNode]:
    return [e for _, e in w.history if isinstance(e, StartOnNode)]


def test_a_node_pool_has_its_nodes_capacity_and_follows_them() -> None:
    w = World()
    for name in ("a", "b", "c"):
        join(w, name, 4, gpu="a100")
    join(w, "d", 8, gpu="h100")
    w.apply(POOL, node_pool({"gpu": "a100"}), 1, created=True)
    w.run()
    assert pool_status(w).phase == "Ready" and pool_status(w).fields["capacity"] == 12
    cordon(w, "a")
    w.run()
    assert pool_status(w).fields["capacity"] == 8
    w.queue.append((nodes.ref("b"), NodeLeft(epoch=1, at=w.now)))
    w.run()
    assert pool_status(w).fields["capacity"] == 4
    cordon(w, "a", 3, unschedulable=False)
    w.run()
    assert pool_status(w).fields["capacity"] == 8
    changes = [e for r, e in w.history if r == POOL and isinstance(e, PoolNodesChanged)]
    assert [[n.name for n in e.nodes] for e in changes] == [["a", "b", "c"], ["b", "c"], ["c"], ["a", "c"]]


@pytest.mark.parametrize("seed", range(6))
def test_replicas_spread_within_max_per_node_and_never_share_a_device(seed: int) -> None:
    w = World(seed=seed)
    for name in ("a", "b", "c", "d"):
        join(w, name, 3)
    w.apply(POOL, node_pool(), 1, created=True)
    chat, embed = Ref("modeldeployment", "team-a", "chat"), Ref("modeldeployment", "team-b", "embed")
    w.apply(chat, node_deployment(5, max_per_node=2), 1, created=True)
    w.apply(embed, node_deployment(3, gpus=2, spread="none"), 1, created=True)
    w.run(shuffle=True)  # the world asserts no (node, device) is started twice
    chat_status = w.states[chat].status
    assert chat_status.phase == "Ready", chat_status
    assert sum(chat_status.fields["replicasByNode"].values()) == 5
    assert max(chat_status.fields["replicasByNode"].values()) <= 2
    assert w.states[embed].status.phase == "Ready"
    for start in node_starts(w):
        assert len(start.devices) == start.gpus and start.launch.command == ("/bin/sleep", "1000")
    assert set(w.devices.values()) == {s.replica for s in node_starts(w)}
    assert len(w.devices) == 5 + 3 * 2


def test_max_per_node_that_cannot_be_met_says_so_in_status() -> None:
    w = World()
    join(w, "a", 4)
    join(w, "b", 4)
    w.apply(POOL, node_pool(), 1, created=True)
    dep = Ref("modeldeployment", "team-a", "chat")
    w.apply(dep, node_deployment(5, max_per_node=2), 1, created=True)
    w.run()
    st = w.states[dep].status
    assert st.fields["readyReplicas"] == 4 and st.phase != "Ready"
    assert "placement.maxPerNode 2" in st.conditions[0].message


def test_cordon_keeps_new_replicas_off_and_scale_down_and_delete_release_slots() -> None:
    w = World()
    for name in ("a", "b", "c"):
        join(w, name, 2)
    w.apply(POOL, node_pool(), 1, created=True)
    dep = Ref("modeldeployment", "team-a", "chat")
    w.apply(dep, node_deployment(3), 1, created=True)
    w.run()
    assert w.states[dep].status.fields["replicasByNode"] == {"a": 1, "b": 1, "c": 1}
    cordon(w, "a")
    w.run()
    w.apply(dep, node_deployment(5), 2)
    w.run()
    assert w.states[dep].status.fields["replicasByNode"] == {"a": 1, "b": 2, "c": 2}  # the old one runs on
    w.apply(dep, node_deployment(1), 3)
    w.run()
    assert sum(w.states[dep].status.fields["replicasByNode"].values()) == 1
    assert pool_status(w).fields["allocatedGpus"] == 1
    w.delete(dep, 4)
    w.run()
    assert pool_status(w).fields["allocatedGpus"] == 0 and not w.devices


def test_a_lost_replica_is_replaced_and_its_slot_released() -> None:
    w = World()
    for name in ("a", "b"):
        join(w, name, 1)
    w.apply(POOL, node_pool(), 1, created=True)
    dep = Ref("modeldeployment", "team-a", "chat")
    w.apply(dep, node_deployment(1), 1, created=True)
    w.run()
    first = node_starts(w)[0]
    w.devices = {k: v for k, v in w.devices.items() if v != first.replica}  # its process died
    w.queue.append((dep, ReplicaLost(replica=first.replica, pool=first.pool, reason="process exited")))
    w.run()
    second = node_starts(w)[-1]
    assert second.replica != first.replica and w.states[dep].status.phase == "Ready"
    assert pool_status(w).fields["allocatedGpus"] == 1 and len(w.devices) == 1
    assert w.state(dep).ended == ()  # the lost replica's slot was released, and forgotten


@pytest.mark.parametrize("seed", range(40))
def test_fit_agrees_with_a_scan_of_every_node(seed: int) -> None:
    """`fit` keeps totals per view (a burst asks one view thousands of times): whatever the requester already
    holds, its answer is a plain scan's, also when the same view is asked again with other arguments."""
    import random

    rnd = random.Random(seed)
    view = tuple(NodeFree(name=f"n{i}", free=rnd.randint(0, 8)) for i in range(rnd.randint(0, 12)))
    for _ in range(5):
        g, cap = rnd.randint(1, 3), rnd.choice((0, 1, 2, 3))
        mine = {n.name: rnd.randint(0, 3) for n in view if rnd.random() < 0.4}
        scan = sum(min(n.free // g, max(0, cap - mine.get(n.name, 0))) if cap else n.free // g for n in view)
        assert fit(view, mine, g, cap)[0] == scan
