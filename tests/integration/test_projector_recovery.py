"""Exactly-once under failure: cancel and kill -9 mid-stream, redelivery, and rebuild (offline and live).

The proof each time: the live read model equals, table by table, one rebuilt from sequence 1.
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nats.js import api

from core.log import Log
from projections import generations, projector
from projections.projector import FILTERS, serve
from projections.readmodel import ReadModel
from projections.rebuild import rebuild, request
from tests.conftest import eventually
from tests.integration.test_projector import dump, running, story


async def fill(log: Log, deployments: int, start: int = 0) -> None:
    for i in range(start, start + deployments):
        await story(log, name=f"d{i}", delete=i % 3 == 0)


async def caught_up(reads: ReadModel, log: Log) -> bool:
    return await reads.checkpoint() == await log.last_seq()


@contextlib.asynccontextmanager
async def projected(log: Log, nats_url: str, db_dir: Path, deployments: int) -> AsyncIterator[ReadModel]:
    """`deployments` written and projected by a projector that has stopped again; the read model open."""
    await fill(log, deployments)
    reads = await ReadModel.open(db_dir, log.nc)
    try:
        async with running(nats_url, db_dir):
            await eventually(lambda: caught_up(reads, log))
        yield reads
    finally:
        await reads.close()


async def assert_equals_rebuild(log: Log, live_dir: Path, tmp_path: Path) -> None:
    fresh_dir = tmp_path / "fresh"
    summary = await rebuild(log, fresh_dir)
    live, fresh = dump(live_dir), dump(fresh_dir)
    assert summary.seq == await log.last_seq() and summary.timeline == len(live["timeline"]) == summary.seq
    for table in live:
        missing, extra = set(fresh[table]) - set(live[table]), set(live[table]) - set(fresh[table])
        assert not missing and not extra, (table, sorted(missing, key=repr)[:3], sorted(extra, key=repr)[:3])


async def test_cancelled_mid_stream_then_restarted_applies_everything_once(log: Log, nats_url: str,
                                                                           tmp_path: Path) -> None:
    db_dir = tmp_path / "live"
    await fill(log, 100)  # a backlog, plus live appends while the projector is cancelled again and again
    writer = asyncio.create_task(fill(log, 100, start=100))
    reads = await ReadModel.open(db_dir, log.nc)
    try:
        for step in (40, 300, 7, 500):  # cancel (not stop) at arbitrary points
            floor = await reads.checkpoint()
            task = asyncio.create_task(serve(nats_url, db_dir, stop=asyncio.Event()))
            try:
                await eventually(functools.partial(_progressed, reads, log, writer, floor + step))
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await writer
        async with running(nats_url, db_dir):
            await eventually(lambda: caught_up(reads, log))
    finally:
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer
        await reads.close()
    await assert_equals_rebuild(log, db_dir, tmp_path)


async def test_kill_9_mid_batch_then_restart(log: Log, nats_url: str, tmp_path: Path) -> None:
    db_dir = tmp_path / "live"
    await fill(log, 300)  # a backlog, so the kill lands inside the stream of batches
    reads = await ReadModel.open(db_dir, log.nc)
    code = ("import asyncio, sys; from pathlib import Path; from projections.projector import serve; "
            "asyncio.run(serve(sys.argv[1], Path(sys.argv[2]), stop=asyncio.Event()))")
    try:
        for target in (300, 1200):
            proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code, nats_url, str(db_dir))
            try:  # polled often: a batch takes a few tens of milliseconds, and the kill must land mid-stream
                await eventually(functools.partial(_above, reads, target), interval=0.005)
            finally:
                os.kill(proc.pid, signal.SIGKILL)  # no goodbye: whatever batch is in flight is cut short
                await proc.wait()
        assert await reads.checkpoint() < await log.last_seq()
        async with running(nats_url, db_dir):
            await eventually(lambda: caught_up(reads, log))
    finally:
        await reads.close()
    await assert_equals_rebuild(log, db_dir, tmp_path)


async def test_redelivered_messages_are_skipped(log: Log, nats_url: str, tmp_path: Path) -> None:
    db_dir = tmp_path / "live"
    async with projected(log, nats_url, db_dir, 20):
        before = dump(db_dir)
        # rewind the durable consumer to the very beginning: everything is delivered a second time
        await log.jsm.delete_consumer(log.stream, projector.DURABLE)
        await log.jsm.add_consumer(log.stream, api.ConsumerConfig(
            durable_name=projector.DURABLE, filter_subjects=list(FILTERS), ack_policy=api.AckPolicy.ALL,
            deliver_policy=api.DeliverPolicy.ALL))
        last = await log.last_seq()

        async def all_redelivered_and_acked() -> bool:
            info = await log.jsm.consumer_info(log.stream, projector.DURABLE)
            return info.ack_floor is not None and info.ack_floor.stream_seq == last

        async with running(nats_url, db_dir):
            await eventually(all_redelivered_and_acked)
        assert dump(db_dir) == before


async def test_a_consumer_acking_per_message_is_replaced_without_loss(log: Log, nats_url: str,
                                                                      tmp_path: Path) -> None:
    db_dir = tmp_path / "live"
    async with projected(log, nats_url, db_dir, 10) as reads:
        # as an older projector left it: explicit per-message acks, positioned right after the checkpoint
        await log.jsm.delete_consumer(log.stream, projector.DURABLE)
        await log.jsm.add_consumer(log.stream, api.ConsumerConfig(
            durable_name=projector.DURABLE, ack_policy=api.AckPolicy.EXPLICIT,
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=await log.last_seq() + 1))
        await fill(log, 5, start=10)
        async with running(nats_url, db_dir):
            await eventually(lambda: caught_up(reads, log))
            info = await log.jsm.consumer_info(log.stream, projector.DURABLE)
            assert info.config.ack_policy == api.AckPolicy.ALL
    await assert_equals_rebuild(log, db_dir, tmp_path)


async def test_live_rebuild_swaps_generations_under_readers(log: Log, nats_url: str, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(projector, "RETIRE_AFTER", 0.2)
    db_dir = tmp_path / "live"
    await fill(log, 30)
    reads = await ReadModel.open(db_dir, log.nc)
    try:
        async with running(nats_url, db_dir):
            await eventually(lambda: caught_up(reads, log))
            assert reads.generation == 1
            writer = asyncio.create_task(fill(log, 30, start=30))  # live traffic during the rebuild
            reply = await request(log.nc, timeout=60)
            assert reply["generation"] == 2 and reply["seq"] > 0 and reply["timeline"] == reply["seq"]
            assert reply["resources"] > 0
            await writer
            await eventually(lambda: caught_up(reads, log))
            assert reads.generation == 2
            await eventually(lambda: _gone(db_dir, 1))
            assert generations.on_disk(db_dir) == [2]
        await assert_equals_rebuild(log, db_dir, tmp_path)
    finally:
        await reads.close()


async def test_offline_rebuild_then_projector_resumes(log: Log, nats_url: str, tmp_path: Path) -> None:
    db_dir = tmp_path / "live"
    async with projected(log, nats_url, db_dir, 10) as reads:
        summary = await rebuild(log, db_dir)
        assert summary.generation == 2 and summary.seq == await log.last_seq()
        await fill(log, 5, start=10)
        async with running(nats_url, db_dir):
            await eventually(lambda: caught_up(reads, log))
            assert generations.on_disk(db_dir) == [2] and reads.generation == 2
    await assert_equals_rebuild(log, db_dir, tmp_path)


async def _progressed(reads: ReadModel, log: Log, writer: asyncio.Task[None], seq: int) -> bool:
    """Past `seq`, or nothing left to do (the projector may outrun the appender)."""
    return await _above(reads, seq) or (writer.done() and await caught_up(reads, log))


async def _above(reads: ReadModel, seq: int) -> bool:
    return await reads.checkpoint() > seq


async def _gone(db_dir: Path, generation: int) -> bool:
    return not generations.path(db_dir, generation).exists()
