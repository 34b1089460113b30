"""The archiver killed at any point loses nothing and duplicates nothing (issue #26).

Two forms: `bosun archiver` processes killed -9 again and again while they archive a long backlog (wherever
the kills land), and each state a crash can leave behind made exactly (an index without its segment, a
segment's chunk without its meta, a segment whose head never moved), then a fresh archiver taking over.
After either, the archive's segments tile the archived range with no gap and no overlap, the archive and
the stream read as every message once, and the stream kept each fenced subject's last message.
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import signal
import subprocess
import time
from collections.abc import AsyncIterator

import pytest

from core import archive, objects, segments, subjects
from core import log as corelog
from core.events import SpecApplied, StatusUpdated
from core.names import Ref
from core.retention import fenced
from core.stored import StoredMessage
from lifecycle.archiver import Archiver
from tests.conftest import eventually
from tests.integration.test_up_support import BOSUN

MESSAGES_PER_ROUND = 3
RESOURCES = 40


async def backlog(lg: corelog.Log, rounds: int) -> list[StoredMessage]:
    """`rounds` x RESOURCES x 3 messages, all an hour old (spec, ctl, obs on each resource)."""
    old = time.time() - 3600
    for k in range(rounds):
        for i in range(RESOURCES):
            ref = Ref("gpupool", "infra", f"p{i}")
            await lg.append(subjects.spec(ref), SpecApplied(generation=k + 1, spec={"capacity": k}), now=old + k)
            await lg.append(subjects.ctl(ref, "gpupools"), StatusUpdated(observed_generation=k + 1, phase="Ready"),
                            now=old + k)
            await lg.append(subjects.obs(ref), StatusUpdated(observed_generation=k, phase="Ready"), now=old + k)
    return await everything(lg)


async def everything(lg: corelog.Log) -> list[StoredMessage]:
    async with contextlib.aclosing(lg.read(">")) as messages:
        return [m async for m in messages]


async def head(lg: corelog.Log) -> int:
    raw = await archive.kv_get(lg, archive.HEAD)
    return int(raw) if raw else 0


async def assert_whole(lg: corelog.Log, original: list[StoredMessage], through: int) -> None:
    """Segments tile 1..through; archive + stream = the original, each message once; fenced lasts stay."""
    fresh = corelog.Log(lg.nc)  # no cached catalogue
    found = await fresh.archive.catalogue()
    names = [s.info.name for s in found]
    assert len(names) == len(set(names))
    assert found[0].lo == 1 and found[-1].hi == through
    assert all(b.lo == a.hi + 1 for a, b in itertools.pairwise(found)), [(s.lo, s.hi) for s in found]
    listed = [info.name async for _, info in objects.listing(fresh, archive.BUCKET)]
    assert sorted(listed) == sorted([*names, *(segments.name(segments.INDEX, s.lo, s.hi) for s in found)])
    archived: list[StoredMessage] = []
    async with contextlib.aclosing(fresh.archive.read(">", 1, through)) as messages:
        archived = [m async for m in messages]
    assert [m.seq for m in archived] == [m.seq for m in original if m.seq <= through]
    assert archived == [segments.stored(m) for m in original if m.seq <= through]
    assert [segments.stored(m) for m in await everything(fresh)] == [segments.stored(m) for m in original]
    lasts = {m.subject: m.seq for m in original}
    kept = {m.seq async for m in _stream(fresh)}
    assert {s for subject, s in lasts.items() if fenced(subject)} <= kept


async def _stream(lg: corelog.Log) -> AsyncIterator[StoredMessage]:
    async with contextlib.aclosing(lg.read_stream(">")) as messages:
        async for m in messages:
            yield m


def start_archiver(nats_url: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOSUN_")}
    return subprocess.Popen([BOSUN, "archiver", "--nats", nats_url, "--retain", "1s", "--segment-messages", "25"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


async def test_kill_9_of_the_archiver_while_it_works_loses_and_duplicates_nothing(log: corelog.Log,
                                                                                nats_url: str) -> None:
    original = await backlog(log, rounds=10)
    total = original[-1].seq
    rng = random.Random(26)
    kills = 0
    proc = start_archiver(nats_url)
    try:
        while kills < 6:
            before = await head(log)
            await eventually(lambda b=before: _moved(log, b), timeout=60, interval=0.01)
            if await head(log) >= total:
                break
            await asyncio.sleep(rng.uniform(0, 0.05))  # somewhere inside the next segment's writes
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            proc = start_archiver(nats_url)
        await eventually(lambda: _reached(log, total), timeout=120)
        assert kills >= 3
        # purged once the head is PURGE_GRACE old: the fenced subjects' last messages stay
        await eventually(lambda: _purged(log, total), timeout=60, interval=0.2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    await assert_whole(log, original, total)


async def _moved(lg: corelog.Log, before: int) -> bool:
    return await head(lg) > before


async def _reached(lg: corelog.Log, total: int) -> bool:
    return await head(lg) >= total


async def _purged(lg: corelog.Log, total: int) -> bool:
    state = (await lg.jsm.stream_info(lg.stream)).state
    return bool(state.messages <= 2 * RESOURCES)


@pytest.mark.parametrize("crash", ["index only", "chunk without meta", "segment without head"])
async def test_each_state_a_crash_leaves_is_taken_over_without_loss_or_duplicate(log: corelog.Log,
                                                                                crash: str) -> None:
    original = await backlog(log, rounds=2)
    batch = original[:30]
    lo, hi = 1, batch[-1].seq
    body, raw = segments.encode(batch)
    index = segments.index_of(lo, hi, batch, raw)
    await archive.ensure(log)
    await objects.put(log, archive.BUCKET, segments.name(segments.INDEX, lo, hi), segments.encode_index(index),
                      write_once=True)
    if crash == "chunk without meta":
        nuid = objects.once_nuid(archive.BUCKET, segments.name(segments.SEGMENT, lo, hi))
        ack = await log.replies.publish(objects.chunk_subject(archive.BUCKET, nuid), body, {})
        assert ack.error is None
    if crash == "segment without head":
        await objects.put(log, archive.BUCKET, segments.name(segments.SEGMENT, lo, hi), body, write_once=True,
                          headers={"Bosun-Messages": [str(len(batch))]})
    # the crashed archiver is gone; a new one takes over from whatever it left
    second = Archiver(corelog.Log(log.nc), retain=1, segment_messages=30, linger=0, grace=0)
    await second.prepare()
    total = original[-1].seq

    async def archived_all() -> bool:
        await second.step()  # the first pass finds no projector to snapshot: the next ones go on
        return second.head >= total and second.purged >= total

    await eventually(archived_all, timeout=30)
    await assert_whole(log, original, total)
