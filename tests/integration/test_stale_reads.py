"""A copy of the stream that lags its leader answers direct gets too: bounded reads and rebuilds stay complete.

Why: every replica of an R3 stream answers direct gets, and one that lags ends its answer early — measured
on a 3-node cluster, about one scan in thirty came back 1-5 messages short of a sequence already
acknowledged, more often right after a node's restart. A projection rebuilt from such a scan missed those
messages for good (its checkpoint said it had them): the cluster chaos test's "projection ≠ rebuild after a
nats node kill" (its `flaky(reruns=1)` marker is gone with the fix in `core.log.Log.read`).

Reproduced on one server, without chance: nats-server makes a mirror of a stream answer that stream's
direct gets (`mirror_direct`), exactly as a follower does. A mirror that holds only the stream's events,
not the commands after them, is a replica missing the stream's tail; queue-group delivery sends each
direct get to it or to the stream at random, so 32 reads all hit it with probability 1 - 2^-32 at least
once. Every one of them must come back complete.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from nats.js import api

from core import log as corelog
from core import subjects
from core.events import SpecApplied
from core.names import Ref
from core.replicas import StartReplica
from projections import rebuild
from tests.conftest import eventually

READS = 32
EVENTS, TAIL = 12, 6


async def _fill(log: corelog.Log) -> int:
    """EVENTS spec events, then a copy holding only events, then TAIL commands: the copy lacks the tail."""
    for i in range(EVENTS):
        ref = Ref("modeldeployment", "stale", f"d{i}")
        await log.append(subjects.spec(ref), SpecApplied(generation=1, created=True, spec={
            "model": "m", "replicas": 1, "placement": {"region": "r", "gpu": "g"}}))
    await log.jsm.add_stream(api.StreamConfig(
        name="BOSUN_LAGGING", mirror=api.StreamSource(name=log.stream, filter_subject=subjects.EVENTS),
        mirror_direct=True))

    async def copied() -> bool:
        return (await log.jsm.stream_info("BOSUN_LAGGING")).state.messages == EVENTS

    await eventually(copied)
    for i in range(TAIL):
        ref = Ref("modeldeployment", "stale", f"d{i}")
        await log.append(subjects.cmd("sim", ref), StartReplica(replica=f"d{i}-1", pool="infra/p", gpus=1,
                                                                 model="m", generation=1))
    return await log.last_seq()


@pytest.mark.parametrize("batch", [5, 1024])
async def test_a_bounded_read_reaches_its_bound_whichever_copy_answers(log: corelog.Log, batch: int) -> None:
    last = await _fill(log)
    assert last == EVENTS + TAIL
    for _ in range(READS):
        seqs = [m.seq async for m in log.read(rebuild.ALL, 1, up_to_seq=last, batch=batch)]
        assert seqs == list(range(1, last + 1))
    tail = [m async for m in log.read("bosun.cmd.>", 1, up_to_seq=last)]
    assert [m.seq for m in tail] == list(range(EVENTS + 1, last + 1))
    assert all(m.time > 0 and m.subject.startswith("bosun.cmd.sim.") for m in tail)


async def test_a_rebuild_holds_every_message_whichever_copy_answers(log: corelog.Log, tmp_path: Path) -> None:
    last = await _fill(log)
    for i in range(READS // 2):
        (tmp_path / f"db{i}").mkdir()
        generation, writer = await rebuild.build(log, tmp_path / f"db{i}", last)
        try:
            counts = await writer.counts()
        finally:
            await writer.close()
        assert writer.checkpoint == last
        assert counts["timeline"] == EVENTS + TAIL, f"rebuild {i} (generation {generation}) missed messages"
