"""Two hosts deciding for one actor at once (an old owner that has not yet seen its lease taken): the
deterministic write id (`<actor>/ctl/<expected seq>`) is the same for both, so JetStream reports the
second host's different write as a duplicate of the first. It must be a conflict for that host, never
folded as its own (found by `bosun chaos run --cluster 3`: a pool's live state drifted from replay)."""
from __future__ import annotations

import pytest

from actors.cells import Cell
from actors.effects import DecisionWriter
from core.events import StatusUpdated
from core.log import Conflict, Log, Unavailable
from core.names import Ref
from tests.conftest import REGISTRY

POOL = Ref("gpupool", "infra", "split")


def _cell() -> Cell:
    ctrl = REGISTRY.controller_for(POOL.kind)
    assert ctrl is not None
    return Cell(POOL, ctrl)


async def test_another_hosts_write_under_the_same_id_is_a_conflict_not_ours(log: Log) -> None:
    first, second = _cell(), _cell()  # the new owner's actor and the stale owner's, both at ctl_seq 0
    ours = StatusUpdated(observed_generation=1, phase="Ready")
    theirs = StatusUpdated(observed_generation=1, phase="Degraded")
    await DecisionWriter(log, {"appends": 0}).append_ctl(first, ours, 1.0, {})
    with pytest.raises(Conflict):
        await DecisionWriter(log, {"appends": 0}).append_ctl(second, theirs, 1.0, {})
    assert second.ctl_seq == 0 and second.version == 1, "nothing folded: the log does not hold its write"
    stored = await log.last(first.ctl_subject)
    assert stored is not None and b"Ready" in stored.data


async def test_a_resend_of_the_same_write_is_still_ours(log: Log) -> None:
    first, again = _cell(), _cell()
    event = StatusUpdated(observed_generation=1, phase="Ready")
    await DecisionWriter(log, {"appends": 0}).append_ctl(first, event, 1.0, {})
    await DecisionWriter(log, {"appends": 0}).append_ctl(again, event, 2.0, {})  # an ack lost, the same decision again
    assert again.ctl_seq == first.ctl_seq, "the duplicate is the write it made: folded at its sequence"


async def test_a_host_whose_lease_may_lapse_writes_nothing_more(log: Log) -> None:
    """Mid-decision, once the host's leases may lapse, the rest of the decision is not written: another host
    may have taken the partition and caught up to the log's end, and would not see it (the messages of a
    decision to other actors are not fenced by the actor's own subjects)."""
    cell, leased = _cell(), [True]
    writer = DecisionWriter(log, {"appends": 0}, may_write=lambda c: leased[0])
    await writer.append_ctl(cell, StatusUpdated(observed_generation=1, phase="Progressing"), 1.0, {})
    before = await log.last_seq()
    leased[0] = False
    with pytest.raises(Unavailable):
        await writer.append_ctl(cell, StatusUpdated(observed_generation=1, phase="Ready"), 2.0, {})
    assert await log.last_seq() == before and cell.ctl_seq == before, "nothing written, nothing folded"
