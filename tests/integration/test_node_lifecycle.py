"""The node lifecycle controller against a real JetStream: verdicts from the heartbeat bucket, written once
however many controller hosts judge, and nothing at all before the bucket exists (a gateway of the previous
release). Time is the controller's injected clock: no sleeps."""
from __future__ import annotations

import msgspec
import nats.js.errors

from actors.node.lifecycle import Lifecycle, slice_of
from actors.placement import Slot
from core import codec, nodes
from core.log import Log
from core.replicas import EvictReplicas, ReplicaLost


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def beat(log: Log, node: str, at: float, fence: int = 0) -> None:
    await log.kv_put(nodes.BUCKET, node, msgspec.json.encode(nodes.Heartbeat(at=at, fence=fence)))


async def verdicts(log: Log, node: str) -> list[str]:
    return [m.headers.get("Bosun-Type", "") async for m in log.read(slice_of(node))]


async def test_late_beats_are_judged_once_by_every_host_and_resumed_beats_lift_it(log: Log) -> None:
    clock = Clock()
    hosts = [Lifecycle(log, timeout=10.0, clock=clock), Lifecycle(log, timeout=10.0, clock=clock)]
    await beat(log, "gpu-a", 1.0)
    await beat(log, "gpu-b", 1.0)
    for host in hosts:
        assert await host.step() == []  # first sight: a full timeout before judging
    clock.now += 5
    await beat(log, "gpu-a", 6.0)  # a beats, b does not
    for host in hosts:
        await host.step()
    clock.now += 6  # b: 11 s since its last beat arrived; a: 6 s
    written = [await host.step() for host in hosts]
    assert written == [[("gpu-b", "lost")], []]  # the second host found it judged (fenced append)
    assert await verdicts(log, "gpu-b") == ["node.heartbeat-lost"] and await verdicts(log, "gpu-a") == []
    clock.now += 1
    await beat(log, "gpu-b", 12.0)
    written = [await host.step() for host in hosts]
    assert sorted(w for ws in written for w in ws) == [("gpu-b", "resumed")]
    assert await verdicts(log, "gpu-b") == ["node.heartbeat-lost", "node.heartbeat-resumed"]


async def test_a_key_deleted_on_leave_is_forgotten_not_lost(log: Log) -> None:
    clock = Clock()
    host = Lifecycle(log, timeout=10.0, clock=clock)
    await beat(log, "gpu-l", 1.0)
    await host.step()
    await log.replies.publish(f"$KV.{nodes.BUCKET}.gpu-l", b"", {"KV-Operation": "DEL"})
    clock.now += 60
    assert await host.step() == [] and await verdicts(log, "gpu-l") == []


async def test_no_bucket_yet_is_no_node(log: Log) -> None:
    try:
        await log.jsm.delete_stream(f"KV_{nodes.BUCKET}")
    except nats.js.errors.NotFoundError:
        pass
    assert await Lifecycle(log, timeout=10.0, clock=Clock()).step() == []


CHAT = "modeldeployment.team-a.chat"


def ledgers() -> list[tuple[str, dict[str, tuple[Slot, ...]]]]:
    return [("infra/fleet", {CHAT: (Slot(replica="chat-1", node="gpu-e", devices=("0",)),
                                    Slot(replica="chat-2", node="gpu-f", devices=("0",)),
                                    Slot(replica="chat-3", node="gpu-e", devices=("1",)))})]


async def test_a_node_lost_past_the_eviction_timeout_loses_its_replicas_once_and_comes_back_fenced(log: Log) -> None:
    clock = Clock()
    hosts = [Lifecycle(log, timeout=2.0, clock=clock, eviction=4.0, ledgers=ledgers) for _ in range(2)]
    await beat(log, "gpu-e", 1.0)
    for host in hosts:
        await host.step()
    clock.now += 1
    await beat(log, "gpu-e", 2.0)  # a beat while they watch, then silence
    for host in hosts:
        await host.step()
    clock.now += 3  # 3 s since its last beat: NotReady
    assert [await host.step() for host in hosts] == [[("gpu-e", "lost")], []]
    clock.now += 2.5  # 5.5 s since its last beat, NotReady for about 2.5 s: not yet
    assert [await host.step() for host in hosts] == [[], []]
    clock.now += 1  # 6.5 s: past the node timeout plus the eviction timeout
    assert [await host.step() for host in hosts] == [[("gpu-e", "evict")], []]  # the second one found it done
    for host in hosts:  # and a third reading writes nothing more
        assert await host.step() == []
    assert await verdicts(log, "gpu-e") == ["node.heartbeat-lost", "node.replicas-evicted"]
    lost = [msgspec.json.decode(m.data, type=ReplicaLost) async for m in log.read(f"bosun.ev.{CHAT}.obs")]
    assert [(e.replica, e.reason, e.node) for e in lost] == [("chat-1", "NodeLost", "gpu-e"),
                                                             ("chat-3", "NodeLost", "gpu-e")]
    orders = [m async for m in log.read("bosun.cmd.node-gpu-e.>")]
    assert len(orders) == 1
    order = codec.decode_command(orders[0].data)
    assert isinstance(order, EvictReplicas) and [e.replica for e in order.replicas] == ["chat-1", "chat-3"]
    fence = orders[0].seq
    marker = (await log.last(slice_of("gpu-e")))
    assert marker is not None and msgspec.json.decode(marker.data)["fence"] == fence

    clock.now += 1
    await beat(log, "gpu-e", 20.0, fence=fence - 1)  # back, but has not carried the eviction out yet
    assert [await host.step() for host in hosts] == [[], []]
    clock.now += 1
    await beat(log, "gpu-e", 21.0, fence=fence)  # it stopped them: Ready again
    written = [await host.step() for host in hosts]
    assert sorted(w for ws in written for w in ws) == [("gpu-e", "resumed")]
    assert await verdicts(log, "gpu-e") == ["node.heartbeat-lost", "node.replicas-evicted", "node.heartbeat-resumed"]


async def test_a_restarted_controller_neither_finds_a_lost_node_again_nor_evicts_it_twice(log: Log) -> None:
    clock = Clock()
    first = Lifecycle(log, timeout=2.0, clock=clock, eviction=1.0, ledgers=ledgers)
    await beat(log, "gpu-f", 1.0)
    await first.step()
    clock.now += 3
    assert await first.step() == [("gpu-f", "lost")]
    clock.now += 2
    assert await first.step() == [("gpu-f", "evict")]
    again = Lifecycle(log, timeout=2.0, clock=clock, eviction=1.0, ledgers=ledgers)
    for _ in range(3):
        clock.now += 5
        assert await again.step() == []  # the stale key is no beat; the eviction is in the log
    assert await verdicts(log, "gpu-f") == ["node.heartbeat-lost", "node.replicas-evicted"]
