"""The node lifecycle controller against a real JetStream: verdicts from the heartbeat bucket, written once
however many controller hosts judge, and nothing at all before the bucket exists (a gateway of the previous
release). Time is the controller's injected clock: no sleeps."""
from __future__ import annotations

import msgspec
import nats.js.errors

from actors.node.lifecycle import Lifecycle, slice_of
from core import nodes
from core.log import Log


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def beat(log: Log, node: str, at: float) -> None:
    await log.kv_put(nodes.BUCKET, node, msgspec.json.encode(nodes.Heartbeat(at=at)))


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
    assert written == [[("gpu-b", True)], []]  # the second host found it judged (fenced append)
    assert await verdicts(log, "gpu-b") == ["node.heartbeat-lost"] and await verdicts(log, "gpu-a") == []
    clock.now += 1
    await beat(log, "gpu-b", 12.0)
    written = [await host.step() for host in hosts]
    assert sorted(w for ws in written for w in ws) == [("gpu-b", False)]
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
