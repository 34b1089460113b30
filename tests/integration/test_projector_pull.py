"""The projector's pull consumer (`projections.pull.Puller`) against a real nats-server: batches in stream
order, nothing lost or repeated across fetches, a timeout when idle, and a fetch that waits for the next
append."""
from __future__ import annotations

import asyncio
import time

import nats.errors
import pytest
from nats.aio.msg import Msg
from nats.js import api

from core.log import Log
from projections.pull import Puller

DURABLE = "pull-test"


async def consumer(log: Log) -> Puller:
    await log.jsm.add_consumer(log.stream, api.ConsumerConfig(
        durable_name=DURABLE, ack_policy=api.AckPolicy.EXPLICIT, deliver_policy=api.DeliverPolicy.ALL,
        max_ack_pending=100_000, ack_wait=30.0, max_deliver=-1))
    return await Puller.bind(log.nc, log.stream, DURABLE)


async def append(log: Log, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        await log.js.publish(f"bosun.ev.modeldeployment.ns.d{i}.obs", str(i).encode())


async def test_batches_come_in_stream_order_without_loss_or_repeats(log: Log) -> None:
    await append(log, 300)
    puller = await consumer(log)
    try:
        first = await puller.fetch(10, timeout=2)
        assert [m.data for m in first] == [str(i).encode() for i in range(10)]
        got = list(first)
        while len(got) < 300:
            batch = await puller.fetch(128, timeout=2)
            assert 0 < len(batch) <= 128
            got += batch
        assert [m.metadata.sequence.stream for m in got] == list(range(1, 301))
        for m in got:
            await m.ack()
        with pytest.raises(nats.errors.TimeoutError):
            await puller.fetch(128, timeout=0.3)
    finally:
        await puller.unsubscribe()


async def test_an_idle_fetch_returns_the_next_append(log: Log) -> None:
    puller = await consumer(log)
    try:
        started = time.monotonic()
        fetching = asyncio.create_task(puller.fetch(512, timeout=3))
        await asyncio.sleep(0.2)
        await append(log, 3)
        batch = await fetching
        assert [m.data for m in batch] == [b"0", b"1", b"2"][:len(batch)] and batch
        assert time.monotonic() - started < 3.5
    finally:
        await puller.unsubscribe()


async def test_buffered_deliveries_are_taken_first_and_stale_statuses_skipped(log: Log) -> None:
    puller = await Puller.bind(log.nc, log.stream, DURABLE)  # no consumer: only the buffer can answer
    try:
        stale = Msg(_client=log.nc, subject="x", data=b"", headers={"Status": "404", "Description": "No Messages"})
        one, two = (Msg(_client=log.nc, subject="x", data=d) for d in (b"1", b"2"))
        for m in (one, stale, two):
            await puller._delivered(m)
        assert await puller.fetch(2, timeout=1) == [one, two]
    finally:
        await puller.unsubscribe()
