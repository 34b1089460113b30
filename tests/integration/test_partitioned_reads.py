"""Controller hosts read only their partitions (issue #11): the partition-mapped copy, merged in order.

Real nats-server, real controller hosts and sim driver. Two hosts on one server: each host's consumers
are its leased partitions' and the publishers', nats-server puts every resource in the partition the
hosts compute, and the work converges. One host forced to read partitions (`BOSUN_READ=partitions`):
deployments fold their own events and the pools' answers from different consumers, and `replay --check`
agrees with every decision it took — the merge kept stream order.
"""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

from actors import balance
from actors import serving as controller
from actors.acks import AckLedger
from actors.intake import Intake
from actors.partitions import partition_of
from analysis import replay
from core import log as corelog
from core import partitioned, subjects
from core.events import SpecApplied
from core.feed import Delivery
from core.log import Log
from core.names import Ref
from core.settings import Settings
from dataplane.sim import driver as sim
from dataplane.sim.store import world_summary
from tests.conftest import REGISTRY, eventually
from tests.integration.test_controller import POOL, Running, apply, ready
from tests.simworld import deployment_spec, pool_spec

DEPLOYMENTS = [Ref("modeldeployment", f"team-{i % 3}", f"d{i}") for i in range(12)]


async def _all_ready(log: Log, generation: int, replicas: int) -> bool:
    return all([await ready(log, d, generation, replicas) for d in DEPLOYMENTS])


async def _board(log: Log) -> dict[str, set[int]]:
    """host id -> partitions it holds a lease on."""
    held: dict[str, set[int]] = {}
    for key, value in (await log.kv_entries(corelog.LEASES)).items():
        if key.startswith("p.") and balance.lease_of(value).expires > time.time():
            held.setdefault(balance.lease_of(value).host, set()).add(int(key[2:]))
    return held


async def _consumers(log: Log) -> dict[str, str]:
    """Controller consumers on either stream: durable name -> its stream."""
    out = {}
    for stream in (log.stream, partitioned.stream_name(log.stream)):
        try:
            infos = await log.jsm.consumers_info(stream)
        except Exception:  # noqa: BLE001 - the copy does not exist until a host reads partitions
            continue
        out.update({i.name: stream for i in infos if (i.name or "").startswith("controller-")})
    return out


async def test_two_hosts_each_read_only_their_partitions_and_the_pools(
        log: Log, nats_url: str, tmp_path: Path) -> None:
    running = Running()
    for host in ("a", "a-2"):  # one id a prefix of the other, as `bosun up --controllers 2` names them
        running.start(host, lambda stop, h=host: controller.serve(nats_url, stop=stop, host_id=h, idle_seconds=5))
    running.start("sim", lambda stop: sim.serve(nats_url, tmp_path, stop=stop, latency=0.01, relist_interval=0.5))
    try:
        await apply(log, POOL, pool_spec(40), 1)
        for d in DEPLOYMENTS:
            await apply(log, d, deployment_spec(2), 1)
        await eventually(lambda: _all_ready(log, 1, 2), timeout=60)

        async def shared() -> dict[str, str] | None:
            board = await _board(log)
            consumers = await _consumers(log)
            expected = {f"controller-{h}_p{p}" for h, ps in board.items() for p in ps}
            expected |= {f"controller-{h}_{k}_{i}" for h in board for k in ("gpupool", "quota", "node") for i in (0, 1)}
            return consumers if len(board) == 2 and set(consumers) == expected else None

        consumers = await eventually(shared, timeout=30)
        assert set(consumers.values()) == {partitioned.stream_name(log.stream)}, "nobody reads the whole stream"
        copy = partitioned.stream_name(log.stream)
        for d in [*DEPLOYMENTS, POOL]:  # nats-server's partition of each resource is the hosts'
            stored = await log.jsm.get_msg(copy, 1, subject=f"bp.*.ev.{d.token}.spec", next=True)
            assert stored.subject.split(".")[1] == str(partition_of(d, 16)), d
        for d in DEPLOYMENTS[:4]:  # new work after the rebalance still converges
            await apply(log, d, deployment_spec(3), 2)
        await eventually(lambda: all_ready_of(log, DEPLOYMENTS[:4], 2, 3), timeout=60)
        summary = world_summary(tmp_path)
        assert summary["double_started"] == [] and summary["overallocated"] == []
    finally:
        await running.stop_all()


async def all_ready_of(log: Log, refs: list[Ref], generation: int, replicas: int) -> bool:
    return all([await ready(log, d, generation, replicas) for d in refs])


async def test_a_partitioned_reader_folds_in_stream_order_and_replay_agrees(
        log: Log, nats_url: str, tmp_path: Path) -> None:
    running = Running()
    running.start("controller", lambda stop: controller.serve(nats_url, stop=stop, host_id="solo", idle_seconds=1,
                                                              settings=Settings(read="partitions")))
    running.start("sim", lambda stop: sim.serve(nats_url, tmp_path, stop=stop, latency=0.01, relist_interval=0.5))
    try:
        await apply(log, POOL, pool_spec(30), 1)
        await asyncio.gather(*(apply(log, d, deployment_spec(2), 1) for d in DEPLOYMENTS))
        await eventually(lambda: _all_ready(log, 1, 2), timeout=60)
        await asyncio.gather(*(apply(log, d, deployment_spec(1), 2) for d in DEPLOYMENTS))
        await eventually(lambda: _all_ready(log, 2, 1), timeout=60)
        assert all(name.startswith("controller-solo_") for name in await _consumers(log))
    finally:
        await running.stop_all()
    messages = [m async for m in log.read(">")]
    routed = replay.route((replay.decode(m) for m in messages if not m.subject.startswith("bosun.audit.")),
                          REGISTRY)
    checked = 0
    for ref in [*DEPLOYMENTS, POOL]:
        n, divergences = replay.check(ref, routed.get(ref, []), REGISTRY)
        assert not divergences, (ref, divergences)
        checked += n
    assert checked >= 3 * len(DEPLOYMENTS), "every deployment's decisions were checked"


async def test_the_intake_hands_several_consumers_on_in_stream_order(log: Log) -> None:
    """Pools and deployments interleaved in the log, read through 16 partition consumers and the pools':
    one stream, in order, each message once; and a message of one partition alone (the others quiet) is
    handed on through certification, not held."""
    pools = [Ref("gpupool", "infra", f"p{i}") for i in range(3)]
    seqs = []
    for i in range(120):
        ref = pools[i % 3] if i % 4 == 0 else Ref("modeldeployment", "team-a", f"d{i % 23}")
        seqs.append((await log.append(subjects.spec(ref), _spec(i), msg_id=f"m{i}")).seq)
    intake = Intake(log, "controller-t", batch=16, max_in_flight=256, read="partitions")
    acks: AckLedger[Delivery] = AckLedger()
    await intake.open(1, set(range(16)), 16, ["gpupool"])
    try:
        got: list[int] = []
        async with asyncio.timeout(30):
            while len(got) < len(seqs):
                for delivery, copies in await intake.take(acks, 1.0, goal=seqs[-1]):
                    got.append(delivery.stored.seq)
                    for source, copy in copies:
                        acks.delivered(copy, source)
                await intake.ack(acks)
        assert got == seqs, "in stream order, each message once (a pool's reaches two consumers)"
        late = (await log.append(subjects.spec(Ref("modeldeployment", "team-a", "late")), _spec(0))).seq
        async with asyncio.timeout(10):
            while not (batch := await intake.take(acks, 1.0)):
                pass
        assert [d.stored.seq for d, _ in batch] == [late]
    finally:
        await intake.close(delete=True)


def _spec(i: int) -> SpecApplied:
    return SpecApplied(generation=1, spec={"i": i}, created=True)
