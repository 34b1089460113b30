"""Partition leases changing hands (real KV bucket): what the board says, and when.

- A host handing partitions off (a new host joined) releases them only once the decisions already under
  way for their actors are written: the next owner catches up to the log's end as it takes them, so a
  message of ours stored after that would be missing from the state it decides on. Found by the cluster
  chaos run's allocation checker: a deployment asked its pool to shrink its grant, lost its partition mid-
  decision, and the new owner, not seeing the request, started a replica the smaller grant did not cover.
- A host whose renewals are late stops counting on its leases before the board lets another host take
  them (it then decides and writes nothing more, `actors.host.Host._leased`).
- A host that starts its run over (it gained partitions) takes its own leases back before it says
  anything: `GET /v1/controllers` once listed a live host with no partitions and `leaseExpiresAt` 0.
- A run still starting takes no free partitions: after a nats node's loss two hosts whose starts outlasted
  the lease TTL took each other's lapsed partitions, each gain starting the taker's run over, for minutes.
"""
from __future__ import annotations

import asyncio
import time

import msgspec
import nats.js.errors
from nats.js.kv import KeyValue

from actors.balance import Lease, Presence
from actors.cells import Cell
from actors.leases import Leases
from actors.mailboxes import Mailboxes
from actors.ownership import Ownership
from actors.partitions import partition_of
from core import log as corelog
from core import ready
from core.names import Ref
from tests.conftest import REGISTRY, eventually


def recording(host: Ownership, kv: KeyValue, name: str) -> list[Presence]:
    """Every presence `host` publishes, as the board holds it right after."""
    published: list[Presence] = []
    announce = host.announce

    async def recorded() -> None:
        await announce()
        published.append(msgspec.json.decode((await kv.get(f"host.{name}")).value or b"", type=Presence))

    host.announce = recorded  # type: ignore[method-assign]
    return published


async def test_a_host_starting_over_announces_only_what_it_holds(log: corelog.Log) -> None:
    kv = await log.kv(corelog.LEASES)
    first = Ownership(Leases(kv, "h1", 4, ttl=30), lambda lost: None, log)
    assert await first.acquire(asyncio.Event(), ready.wait, "h1")
    assert first.owned == {0, 1, 2, 3}

    again = Ownership(Leases(kv, "h1", 4, ttl=30), lambda lost: None, log)  # the next run, as host.py makes it
    published = recording(again, kv, "h1")
    assert await again.acquire(asyncio.Event(), ready.wait, "h1")
    assert again.owned == {0, 1, 2, 3}
    assert published and all(p.partitions == [0, 1, 2, 3] and p.leaseExpiresAt > 0 for p in published), published


async def test_a_new_host_shows_itself_before_it_holds_anything(log: corelog.Log) -> None:
    kv = await log.kv(corelog.LEASES)
    host = Ownership(Leases(kv, "fresh", 4, ttl=30), lambda lost: None, log)
    published = recording(host, kv, "fresh")
    assert await host.acquire(asyncio.Event(), ready.wait, "fresh")
    assert [p.partitions for p in published] == [[], [0, 1, 2, 3]]


async def _holder(kv: KeyValue, partition: int) -> str:
    try:
        entry = await kv.get(f"p.{partition}")
    except nats.js.errors.KeyNotFoundError:
        return ""
    return msgspec.json.decode(entry.value, type=Lease).host if entry.value else ""


def _deployment_in(partition: int, partitions: int) -> Ref:
    return next(ref for n in range(1000)
                if partition_of(ref := Ref("modeldeployment", "team-a", f"d{n}"), partitions) == partition)


async def test_partitions_handed_off_are_released_only_once_their_decisions_are_written(log: corelog.Log) -> None:
    kv = await log.kv(corelog.LEASES)
    written = asyncio.Event()

    async def drain(cell: Cell) -> None:
        cell.queue.clear()
        await written.wait()  # a decision's appends under way

    boxes = Mailboxes(lambda key: asyncio.sleep(0, Cell(Ref.parse(key), REGISTRY.controller_for("modeldeployment"))),
                      drain, partitions=4, concurrency=8)
    owner = Ownership(Leases(kv, "a", 4, ttl=5), boxes.drop, log, settled=lambda ps: boxes.settle(0.5, ps))
    assert await owner.acquire(asyncio.Event(), ready.wait, "a")
    busy = await boxes.cell_of(_deployment_in(3, 4).token)
    busy.queue.append(object())
    boxes.schedule(busy)

    peer = Presence(hostId="b", partitions=[], leaseExpiresAt=0, lag=0, actors=0, expires=time.time() + 30)
    await kv.put("host.b", msgspec.json.encode(peer))  # a second host: our share is 2 of 4
    stop = asyncio.Event()
    renewing = asyncio.ensure_future(owner.renew(stop, ready.wait))
    try:
        await eventually(lambda: asyncio.sleep(0, owner.owned == {0, 1}))
        assert busy.running and await _holder(kv, 3) == "a", "released while its decision was being written"
        await eventually(lambda: _released(kv, 2))  # nothing under way there
        assert await _holder(kv, 3) == "a" and 3 not in owner.leases.owned, "left to run out, not renewed"
        written.set()
        await eventually(lambda: asyncio.sleep(0, not busy.running))
    finally:
        stop.set()
        await renewing


async def _released(kv: KeyValue, partition: int) -> bool:
    return await _holder(kv, partition) == ""


async def test_a_host_stops_counting_on_its_leases_before_anyone_else_may_take_them(log: corelog.Log) -> None:
    kv = await log.kv(corelog.LEASES)
    late = Ownership(Leases(kv, "late", 2, ttl=1.2), lambda lost: None, log)
    assert await late.acquire(asyncio.Event(), ready.wait, "late")
    assert not late.lapsing(), "just renewed"
    await eventually(lambda: asyncio.sleep(0, late.lapsing()), timeout=5)  # no renewal: a stalled process or NATS
    other = Leases(kv, "other", 2, ttl=1.2)
    assert await other.acquire() == set(), "the board still holds them for the late host: nobody may take them yet"


async def test_a_run_takes_free_partitions_only_once_it_serves(log: corelog.Log) -> None:
    kv = await log.kv(corelog.LEASES)
    gone = Leases(kv, "gone", 4, ttl=0.5)  # a host that took two partitions, then died
    assert await gone.acquire(2, {}) == {0, 1}
    gained = asyncio.Event()
    host = Ownership(Leases(kv, "h", 4, ttl=5), lambda lost: None, log, on_gain=gained.set, serving=False)
    assert await host.acquire(asyncio.Event(), ready.wait, "h")
    assert host.owned == {2, 3}
    renewals = recording(host, kv, "h")
    stop = asyncio.Event()
    renewing = asyncio.ensure_future(host.renew(stop, ready.wait))
    try:
        lapsed = time.time() + 0.5

        async def renewed_since() -> bool:  # three rounds after the dead host's leases ran out
            return sum(p.expires > lapsed + 5 for p in renewals) >= 3

        await eventually(renewed_since, 15)
        assert not gained.is_set() and host.leases.owned == {2, 3}, "a run still starting took free partitions"
        host.serving = True
        await asyncio.wait_for(gained.wait(), 10)
        assert host.leases.owned == {0, 1, 2, 3}
    finally:
        stop.set()
        await renewing
