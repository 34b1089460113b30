"""Nodes without I/O: the Node's status fold, GPU declarations and labels, a node principal's rights, the
door's subject parsing and dedup ids, the lifecycle controller's liveness rules (issue #25)."""
from __future__ import annotations

import msgspec
import pytest

from actors.governance.specs import RoleBindingSpec, RoleSpec, Rule
from actors.node import evictions
from actors.node.kind import NODE
from actors.node.liveness import Beat, Beats, Recorded, verdicts
from actors.placement import Slot
from bosun.testing import Actor
from core import nodes
from core.nodes import (
    Device,
    NodeHeartbeatLost,
    NodeHeartbeatResumed,
    NodeJoined,
    NodeLeft,
    NodeReplicasEvicted,
    NodeReported,
)
from core.replicas import ReplicaLost
from dataplane.agent import gpus
from gateway.admission.auth import Principal
from gateway.admission.policy import PolicyIndex, Rbac
from gateway.intents import nodes as door
from gateway.intents.permissions import permissions

DEVICES = (Device(id="0"), Device(id="1"))


def joined(epoch: int = 1, **kw: object) -> NodeJoined:
    return NodeJoined(labels={"zone": "a"}, devices=DEVICES, host="m1", pid=7, epoch=epoch, at=100.0 + epoch, **kw)  # type: ignore[arg-type]


def status_of(node: Actor) -> tuple[str, dict[str, object]]:
    node.decide(now=0.0)
    assert node.status is not None
    return node.status.phase, node.status.fields


def test_a_node_no_agent_joined_is_not_ready() -> None:
    phase, fields = status_of(Actor(NODE, "gpu-a").spec({}))
    assert phase == "NotReady" and fields["totalGpus"] == 0 and fields["heartbeatTime"] == 0.0


def test_a_joined_node_is_ready_with_its_devices_and_labels_the_spec_over_the_agents() -> None:
    node = Actor(NODE, "gpu-a").spec({"labels": {"zone": "b", "rack": "r1"}})
    node.given(joined())
    phase, fields = status_of(node)
    assert phase == "Ready" and fields["totalGpus"] == 2 and fields["schedulable"] is True
    assert fields["labels"] == {"zone": "b", "rack": "r1"}
    assert fields["devices"] == [{"id": "0"}, {"id": "1"}] and fields["heartbeatTime"] == 101.0


def test_cordoned_is_unschedulable_and_a_report_updates_replicas_and_heartbeat() -> None:
    node = Actor(NODE, "gpu-a").spec({"unschedulable": True})
    node.given(joined(), NodeReported(replicas=3, allocated=("0",), epoch=1, at=500.0))
    phase, fields = status_of(node)
    assert phase == "Ready" and fields["schedulable"] is False
    assert (fields["replicas"], fields["allocatedGpus"], fields["heartbeatTime"]) == (3, 1, 500.0)


def test_a_leave_is_not_ready_until_the_next_join_and_an_older_epoch_changes_nothing() -> None:
    node = Actor(NODE, "gpu-a").spec({})
    node.given(joined(epoch=2), NodeLeft(epoch=1, at=200.0))  # a previous incarnation's late leave
    assert status_of(node)[0] == "Ready"
    node.given(NodeLeft(epoch=2, at=300.0))
    assert status_of(node)[0] == "NotReady"
    node.given(joined(epoch=3))
    assert status_of(node)[0] == "Ready"


@pytest.mark.parametrize(("text", "ids"), [("0", []), ("4", ["0", "1", "2", "3"]), ("0,1,2,3", ["0", "1", "2", "3"]),
                                          ("GPU-1a2b,GPU-3c4d", ["GPU-1a2b", "GPU-3c4d"])])
def test_declared_gpus(text: str, ids: list[str]) -> None:
    assert [d.id for d in gpus.declared(text).devices] == ids


@pytest.mark.parametrize("text", ["0,0", "a b", "1,,2", "x;y", "99999"])
def test_bad_gpu_declarations_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        gpus.declared(text)


def test_gpus_auto_without_nvml_finds_none_and_says_why() -> None:
    found = gpus.discover()  # nvidia-ml-py is not installed in the test environment
    assert found.devices == () and "NVML unavailable" in found.note


def test_gpu_labels_from_the_first_device() -> None:
    h100 = Device(id="0", model="NVIDIA H100 80GB HBM3", memory_mib=81559)
    assert gpus.labels((h100,)) == {"gpu": "h100", "gpuMemory": "80Gi"}
    assert gpus.labels(()) == {}


def test_labels_parse_and_are_bounded() -> None:
    assert nodes.parse_labels("zone=a, gpu=h100,") == {"zone": "a", "gpu": "h100"}
    for bad in ("zone", "=a", "zone=a b", "k=" + "v" * 64):
        with pytest.raises((ValueError, msgspec.ValidationError)):
            nodes.parse_labels(bad)


def policy() -> PolicyIndex:
    idx = PolicyIndex()
    idx.roles = {"all": RoleSpec(rules=[Rule(verbs=["*"], kinds=["*"], namespaces=["*"])])}
    idx.bindings = {"a": RoleBindingSpec(principal="node-gpu-a", role="node"),
                    "x": RoleBindingSpec(principal="mallory", role="node"),
                    "s": RoleBindingSpec(principal="node-gpu-b", role="node", namespace="team-a")}
    return idx


def test_a_node_principal_may_publish_only_its_own_node_subjects_and_read_only_its_inbox() -> None:
    p = permissions(Principal("node-gpu-a"), policy())
    assert p.publish == ("$JS.ACK.BOSUN.node-gpu-a.>", "$JS.API.CONSUMER.MSG.NEXT.BOSUN.node-gpu-a",
                         "bosun.node.gpu-a.*")  # its door, and pulling from (and acking) its own commands only
    assert p.subscribe == ("_INBOX.node-gpu-a.>",)
    assert permissions(Principal("mallory"), policy()).publish == ()  # not a node's principal: nothing
    assert permissions(Principal("node-gpu-b"), policy()).publish == ()  # a namespaced binding: nothing


def test_the_node_role_grants_nothing_over_http() -> None:
    rbac = Rbac(policy())
    for verb, kind in (("apply", "ModelDeployment"), ("apply", "Node"), ("get", "ModelDeployment"),
                       ("watch", "Node"), ("delete", "Node")):
        assert rbac.denial(Principal("node-gpu-a"), verb, kind, None) is not None


def test_the_door_reads_only_node_subjects_and_names_its_own_dedup_ids() -> None:
    assert door.node_of("bosun.node.gpu-a.obs") == ("gpu-a", "obs")
    assert door.node_of("bosun.node.gpu-a.beat") == ("gpu-a", "beat")
    for bad in ("bosun.node.gpu-a.spec", "bosun.node.GPU.obs", "bosun.node.a.b.obs", "bosun.intent.x.y.z"):
        assert door.node_of(bad) is None
    left = NodeLeft(epoch=3, at=12.5)
    assert door.msg_id("gpu-a", left) == "node/gpu-a/node.left/3/12.5"
    assert nodes.principal("gpu-a") == "node-gpu-a" and nodes.node_of("node-gpu-a") == "gpu-a"
    assert nodes.node_of("alice") is None


def test_beats_are_timed_by_arrival_and_a_first_sight_gets_a_full_timeout() -> None:
    beats = Beats()
    beats.observe({"a": b"1", "b": b"1"}, now=100.0)
    beats.observe({"a": b"2", "b": b"1"}, now=105.0, fence_of={"a": 7})  # a beat again; b's value is the same
    assert beats.arrived() == {"a": 105.0, "b": 100.0}
    assert beats.seen["a"].fresh and beats.seen["a"].fence == 7 and not beats.seen["b"].fresh
    beats.observe({"a": b"2"}, now=106.0)  # b's key deleted (it left): forgotten
    assert beats.arrived() == {"a": 105.0}


def beat(at: float, fresh: bool = True, fence: int = 0) -> Beat:
    return Beat(b"x", at, fresh=fresh, fence=fence)


LOST = Recorded(lost=True, seq=40)


def test_verdicts_change_only_when_the_log_holds_another() -> None:
    seen = {"a": beat(100.0), "b": beat(97.0), "c": beat(80.0)}
    assert verdicts(seen, {}, now=106.0, timeout=10.0) == [("c", "lost")]
    assert verdicts(seen, {"c": LOST}, now=106.0, timeout=10.0) == []
    assert verdicts(seen, {"c": LOST, "b": Recorded(seq=3)}, now=106.0, timeout=10.0) == []
    assert verdicts({"c": beat(107.0)}, {"c": LOST}, now=108.0, timeout=10.0) == [("c", "resumed")]  # beats again


def test_a_controller_that_just_started_does_not_find_a_lost_node_again_by_first_sight() -> None:
    assert verdicts({"c": beat(107.0, fresh=False)}, {"c": LOST}, now=108.0, timeout=10.0) == []


def test_a_node_lost_past_the_eviction_timeout_is_evicted_once() -> None:
    seen = {"c": beat(80.0)}
    assert verdicts(seen, {"c": LOST}, now=93.0, timeout=10.0, eviction=4.0) == []  # NotReady for 3 s
    assert verdicts(seen, {"c": LOST}, now=95.0, timeout=10.0, eviction=4.0) == [("c", "evict")]
    assert verdicts(seen, {"c": LOST}, now=95.0, timeout=10.0, eviction=None) == []  # this one evicts nothing
    evicted = Recorded(lost=True, seq=41, fence=55)
    assert verdicts(seen, {"c": evicted}, now=500.0, timeout=10.0, eviction=4.0) == []


def test_an_evicted_node_is_ready_again_only_from_a_beat_that_reaches_its_fence() -> None:
    evicted = {"c": Recorded(lost=True, seq=41, fence=55)}
    assert verdicts({"c": beat(107.0, fence=12)}, evicted, now=108.0, timeout=10.0, eviction=4.0) == []
    reached = {"c": beat(109.0, fence=55)}
    assert verdicts(reached, evicted, now=110.0, timeout=10.0, eviction=4.0) == [("c", "resumed")]


def test_an_eviction_takes_every_slot_on_the_node_from_every_ledger() -> None:
    chat, embed = "modeldeployment.team-a.chat", "modeldeployment.team-b.embed"
    ledgers = [("infra/fleet", {chat: (Slot(replica="chat-1", node="n1", devices=("0",)),
                                       Slot(replica="chat-2", node="n2", devices=("0",))),
                                embed: (Slot(replica="embed-3", node="n1", devices=("1",)),)}),
               ("infra/other", {chat: (Slot(replica="chat-9", node="n3"),)})]
    got = evictions.assigned(ledgers, "n1")
    assert [(e.target, e.replica, e.pool) for e in got] == [(chat, "chat-1", "infra/fleet"),
                                                            (embed, "embed-3", "infra/fleet")]
    subject, event, msg_id = evictions.lost("n1", 40, got[0], 14.0)
    assert subject == "bosun.ev.modeldeployment.team-a.chat.obs" and msg_id == f"lifecycle/n1/40/{chat}/chat-1"
    assert event.reason == "NodeLost" and event.node == "n1" and event.replica == "chat-1"
    where, order = evictions.command("n1", got)
    assert where == "bosun.cmd.node-n1.node._cluster.n1" and order.replicas == got
    marker = evictions.marker(77, got, 4.0)
    assert marker.fence == 77 and marker.count == 2
    assert marker.replicas == ("team-a/chat/chat-1", "team-b/embed/embed-3")
    assert "2 replica(s) evicted" in marker.summary()


def test_a_drivers_replica_lost_encodes_as_before() -> None:
    lost = ReplicaLost(replica="r-1", pool="p", reason="drift")
    assert msgspec.json.encode(lost) == b'{"type":"replica.lost","replica":"r-1","pool":"p","reason":"drift"}'


def test_an_evicted_node_says_so_until_it_beats_again() -> None:
    node = Actor(NODE, "gpu-a").spec({})
    node.given(joined(), NodeHeartbeatLost(timeout=10.0, last_beat=5.0))
    node.given(NodeReplicasEvicted(fence=70, count=3, replicas=("a/b/b-1",), timeout=4.0))
    phase, fields = status_of(node)
    assert phase == "NotReady" and fields["evictedReplicas"] == 3
    assert node.status is not None and "3 replica(s) were evicted" in node.status.conditions[0].message
    node.given(NodeHeartbeatResumed())
    phase, fields = status_of(node)
    assert phase == "Ready" and "evictedReplicas" not in fields


def test_a_lost_heartbeat_is_not_ready_until_it_resumes() -> None:
    node = Actor(NODE, "gpu-a").spec({})
    node.given(joined(), NodeHeartbeatLost(timeout=10.0, last_beat=5.0))
    node.decide(now=0.0)
    assert node.status is not None and node.status.phase == "NotReady"
    assert node.status.conditions[0].reason == "HeartbeatLost"
    node.given(joined(epoch=2))  # an agent restarted: still not ready until the lifecycle saw it beat
    assert status_of(node)[0] == "NotReady"
    node.given(NodeHeartbeatResumed())
    assert status_of(node)[0] == "Ready"


def test_a_node_has_a_budget_of_messages_per_kind() -> None:
    budget = door.Budget(rate=1.0, burst=3.0)
    assert [budget.take("a", 0.0) for _ in range(4)] == [True, True, True, False]
    assert budget.take("b", 0.0)  # per node
    assert not budget.take("a", 0.5) and budget.take("a", 1.6)  # refilled at `rate`
