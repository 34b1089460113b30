"""core.log appends and core.feed pulls against a real nats-server: OCC, dedup, ordering, acks, expiry."""
from __future__ import annotations

import asyncio

import nats.js.errors
import pytest
from nats.js import api

from core import subjects
from core.events import StatusUpdated
from core.feed import Feed, ensure_consumer
from core.log import Conflict, Log, Unavailable
from core.names import Ref
from tests.conftest import eventually

REF = Ref("modeldeployment", "team-a", "chat")


def status(n: int) -> StatusUpdated:
    return StatusUpdated(observed_generation=n, phase="Progressing")


async def test_append_fences_dedups_and_reports_conflicts(log: Log) -> None:
    ctl = subjects.ctl(REF, "deployments")
    first = await log.append(ctl, status(1), expected_last_subject_seq=0, msg_id="w/1")
    again = await log.append(ctl, status(1), expected_last_subject_seq=0, msg_id="w/1")  # a retried write
    assert (again.seq, again.duplicate, first.duplicate) == (first.seq, True, False)
    with pytest.raises(Conflict):
        await log.append(ctl, status(2), expected_last_subject_seq=0, msg_id="other/1")
    second = await log.append(ctl, status(2), expected_last_subject_seq=first.seq, msg_id="w/2")
    assert second.seq > first.seq
    with pytest.raises(Unavailable):
        await log.append("nobody.listens.here", status(3))
    many = await asyncio.gather(*(log.append(subjects.ctl(Ref("gpupool", "infra", f"p{i}"), "pools"), status(i))
                                  for i in range(200)))
    assert len({a.seq for a in many}) == 200  # concurrent appends each get their own ack


async def test_feed_delivers_in_order_redelivers_unacked_and_survives_request_expiry(log: Log) -> None:
    # A long ack wait: nothing comes back because the test was slow (a loaded machine took longer than a
    # 1 s ack wait to ack 40 messages, and they came twice); the one left unacked is handed back (nak).
    await ensure_consumer(log.jsm, log.stream, api.ConsumerConfig(
        durable_name="t", ack_policy=api.AckPolicy.EXPLICIT, ack_wait=60.0, max_deliver=-1))
    feed = Feed(log.nc, log.stream, "t", batch=16, expires=0.3)
    await feed.start()
    try:
        assert await feed.take(10, timeout=0.2) == []
        async def expired() -> bool:  # the open pull request ended on the server and its 408 was handled
            return feed.outstanding == 0

        await eventually(expired, timeout=5)
        appended = [(await log.append(subjects.ctl(REF, "deployments"), status(i))).seq for i in range(40)]
        got: list[int] = []
        while len(got) < 40:
            batch = await feed.take(25, timeout=5)
            assert batch, "the feed stopped delivering"
            for d in batch:
                got.append(d.stored.seq)
                assert d.stored.subject == subjects.ctl(REF, "deployments") and d.stored.time > 0
                if d.stored.seq != appended[-1]:
                    await feed.ack(d)
                else:
                    unacked = d
        assert got == appended
        assert await feed.take(5, timeout=0.5) == [], "an unacked message is not redelivered before its time"
        await feed.nak(unacked)
        again = await feed.take(5, timeout=5)  # the one left unacked comes back once handed back
        assert [d.stored.seq for d in again] == [appended[-1]]
        await feed.ack(again[0])
        assert await feed.take(5, timeout=1.5) == []
    finally:
        await feed.stop()


async def test_feed_raises_once_its_consumer_is_gone(log: Log) -> None:
    await ensure_consumer(log.jsm, log.stream, api.ConsumerConfig(durable_name="gone", ack_policy=api.AckPolicy.ALL))
    feed = Feed(log.nc, log.stream, "gone", batch=8, expires=5.0)
    await feed.start()
    try:
        assert await feed.take(8, timeout=0.2) == []
        await log.jsm.delete_consumer(log.stream, "gone")
        with pytest.raises(nats.js.errors.NotFoundError):
            for _ in range(50):  # the open request ends with "consumer deleted", or the next finds no one
                await feed.take(8, timeout=0.2)
    finally:
        await feed.stop()
