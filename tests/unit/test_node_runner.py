"""The agent's runner re-checks, in its own durable records, that no device serves two replicas (#25)."""
from __future__ import annotations

from pathlib import Path

from core.names import Ref
from core.replicas import Launch, StartOnNode, StartProcess, StopReplica
from dataplane.agent.runner import NodeWorld, read_fence, write_fence
from dataplane.process import store

DEP = Ref("modeldeployment", "team-a", "chat")
LAUNCH = Launch(command=("/bin/sleep", "100"))


def start(rid: str, *devices: str, node: str = "n1") -> StartOnNode:
    return StartOnNode(replica=rid, pool="infra/fleet", gpus=len(devices), model="m", generation=1,
                       launch=LAUNCH, node=node, devices=devices)


def lost_reason(world: NodeWorld, rid: str) -> str:
    row = world.conn.execute("SELECT state, reason FROM reported WHERE replica=?", (rid,)).fetchone()
    return f"{row['state']}: {row['reason']}"


def test_a_start_naming_a_device_in_use_is_refused(tmp_path: Path) -> None:
    world = NodeWorld(store.connect(tmp_path), "n1")
    assert world.admit(DEP, start("chat-1", "0", "1"), 1.0) == "admitted"
    assert world.admit(DEP, start("chat-1", "0", "1"), 1.0) == "exists"  # a redelivery changes nothing
    assert world.admit(DEP, start("chat-2", "1", "2"), 1.0) == "refused"
    assert "device 1 of node n1 is used by another replica" in lost_reason(world, "chat-2")
    assert world.admit(DEP, start("chat-3", "2", "3"), 1.0) == "admitted"
    assert world.usage() == (2, ("0", "1", "2", "3"))
    rec = world.record(DEP.token, "chat-3")
    assert rec is not None and rec.devices == "2,3"


def test_a_start_for_another_node_or_not_placed_is_refused(tmp_path: Path) -> None:
    world = NodeWorld(store.connect(tmp_path), "n1")
    assert world.admit(DEP, start("chat-1", "0", node="n2"), 1.0) == "refused"
    assert "placed on node n2, not on n1" in lost_reason(world, "chat-1")
    plain = StartProcess(replica="chat-2", pool="infra/fleet", gpus=1, model="m", generation=1, launch=LAUNCH)
    assert world.admit(DEP, plain, 1.0) == "refused"
    assert world.admit(DEP, start("chat-3", "0", "0"), 1.0) == "refused"  # one device named twice
    assert world.usage() == (0, ())


def test_the_fence_is_durable_and_a_missing_or_torn_file_is_zero(tmp_path: Path) -> None:
    path = tmp_path / "agent" / "fence"
    assert read_fence(path) == 0
    write_fence(path, 417)
    assert read_fence(path) == 417 and not path.with_suffix(".tmp").exists()
    path.write_text("garbage")
    assert read_fence(path) == 0


def test_an_evicted_replica_that_never_ran_is_stopped_at_once_and_never_started_again(tmp_path: Path) -> None:
    world = NodeWorld(store.connect(tmp_path), "n1")
    assert world.admit(DEP, start("chat-1", "0"), 1.0) == "admitted"  # pending: not spawned yet
    outcome, who = world.stop(DEP, StopReplica(replica="chat-1", pool="infra/fleet"), 2.0)
    assert (outcome, who) == ("stopped", None) and world.usage() == (0, ())
    assert world.admit(DEP, start("chat-1", "0"), 3.0) != "admitted"  # a redelivered start: it stays stopped
    assert world.usage() == (0, ())


def test_an_eviction_naming_a_replica_not_started_yet_means_its_late_start_never_runs(tmp_path: Path) -> None:
    """A slot granted on a node that is evicted before its start reaches the agent: the eviction order
    (`NodeRunner.evict` stops each named replica in the records) comes first, so the start that follows is
    settled, never run (#25: the deployment replaces it elsewhere)."""
    world = NodeWorld(store.connect(tmp_path), "n1")
    assert world.stop(DEP, StopReplica(replica="chat-1", pool="infra/fleet"), 1.0) == ("absent", None)
    assert world.admit(DEP, start("chat-1", "0"), 2.0) == "settled"
    assert world.usage() == (0, ())
