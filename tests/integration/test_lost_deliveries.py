"""A delivery lost in flight is noticed before a cumulative ack covers it (issue #11, `actors/continuity.py`).

The loss is real: another pull request on the same durable consumer takes a message and never acks it —
what a nats-server that dies with deliveries in its buffers does to the consumer's next reader. The
controller's guard must see the gap in the consumer's numbering, and must not mistake a range of deleted
messages (or a filter) for one.
"""
from __future__ import annotations

import asyncio
import json

from nats.js import api

from actors.continuity import Continuity
from core.events import SpecApplied
from core.feed import Delivery, Feed
from core.log import Log


async def _fill(log: Log, n: int) -> list[int]:
    seqs = []
    for i in range(n):
        ev = SpecApplied(generation=1, spec={"i": i}, created=True)
        seqs.append((await log.append(f"bosun.ev.toy.ns.r{i}.spec", ev, expected_last_subject_seq=0)).seq)
    return seqs


async def _consumer(log: Log, name: str) -> None:
    await log.jsm.add_consumer(log.stream, api.ConsumerConfig(
        durable_name=name, deliver_policy=api.DeliverPolicy.ALL, ack_policy=api.AckPolicy.ALL, ack_wait=120))


async def _steal_one(log: Log, name: str) -> int:
    """One delivery of the durable taken by someone else, never acked: its stream sequence."""
    inbox = log.nc.new_inbox()
    sub = await log.nc.subscribe(inbox)
    await log.nc.publish(f"$JS.API.CONSUMER.MSG.NEXT.{log.stream}.{name}", json.dumps({"batch": 1}).encode(),
                         reply=inbox)
    msg = await sub.next_msg(timeout=5)
    await sub.unsubscribe()
    return int(msg.reply.split(".")[-4])


async def _read_all(log: Log, name: str, want: int) -> list[Delivery]:
    feed = Feed(log.nc, log.stream, name, batch=16)
    await feed.start()
    got: list[Delivery] = []
    try:
        async with asyncio.timeout(20):
            while len(got) < want:
                got += await feed.take(16, timeout=1)
    finally:
        await feed.stop()
    return got


async def test_a_delivery_taken_elsewhere_is_a_gap_the_guard_reports(log: Log) -> None:
    seqs = await _fill(log, 5)
    await _consumer(log, "guarded")
    stolen = await _steal_one(log, "guarded")
    assert stolen == seqs[0]
    delivered = await _read_all(log, "guarded", 4)
    assert [d.stored.seq for d in delivered] == seqs[1:]  # the consumer went on as if the first had arrived
    guard = Continuity()
    assert not guard.follows(delivered[0].consumer_seq), "the consumer counted a delivery we never got"
    assert guard.gaps == 1


async def _deletable(log: Log) -> None:
    """BOSUN refuses message deletes (`deny_delete`, issue #24); gaps still come from retention and from the
    partitioned copy. This test makes them by deleting, so its stream is one that allows it."""
    config = (await log.jsm.stream_info(log.stream)).config
    await log.jsm.delete_stream(log.stream)
    config.deny_delete = config.deny_purge = False
    await log.jsm.add_stream(config)


async def test_deleted_messages_and_redeliveries_are_not_gaps(log: Log) -> None:
    await _deletable(log)
    seqs = await _fill(log, 5)
    await log.jsm.delete_msg(log.stream, seqs[1])
    await log.jsm.delete_msg(log.stream, seqs[2])
    await _consumer(log, "deleted")
    delivered = await _read_all(log, "deleted", 3)
    assert [d.stored.seq for d in delivered] == [seqs[0], seqs[3], seqs[4]]
    guard = Continuity()
    assert all(guard.follows(d.consumer_seq) for d in delivered), "deleted messages leave no gap in the count"
    assert guard.follows(delivered[0].consumer_seq), "a redelivery of something already seen is no gap"
    assert guard.gaps == 0
