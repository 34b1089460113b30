"""When an agent cut off from the plane stops its replicas on its own (#25): the pure clock, no I/O."""
from __future__ import annotations

import msgspec
import pytest

from core.nodes import JoinFile, NodeReported
from dataplane.agent import cutoff

JOIN = JoinFile(node="n1", nats=["nats://plane:4222"], token="t")


def test_the_wait_is_the_planes_node_timeout_plus_its_eviction_timeout() -> None:
    assert cutoff.fence_after(msgspec.structs.replace(JOIN, node_timeout=2, eviction_timeout=3)) == 5
    assert cutoff.fence_after(msgspec.structs.replace(JOIN, node_timeout=2, eviction_timeout=0)) == 2
    assert cutoff.fence_after(JOIN) == 40  # an older join file: the plane's defaults, 10 + 30
    assert cutoff.fence_after(JOIN, 7.5) == 7.5  # --fence-after wins
    assert cutoff.fence_after(JOIN, 0) == 0  # never


def test_an_older_join_file_still_reads() -> None:
    old = b'{"node": "n1", "nats": ["nats://plane:4222"], "token": "t", "inboxPrefix": "_INBOX.node-n1"}'
    join = msgspec.json.decode(old, type=JoinFile)
    assert join.node_timeout is None and join.eviction_timeout is None
    assert cutoff.fence_after(join) == 40
    new = msgspec.json.decode(msgspec.json.encode(msgspec.structs.replace(join, node_timeout=2,
                                                                          eviction_timeout=3)), type=JoinFile)
    assert (new.node_timeout, new.eviction_timeout) == (2, 3)
    assert b'"nodeTimeout":2' in msgspec.json.encode(new)


@pytest.mark.parametrize(("acked_at", "fenced_at", "now", "after", "due"), [
    (None, None, 1000.0, 5.0, False),   # never heard the plane in this life: it cannot know it was counted
    (100.0, None, 104.9, 5.0, False),   # not yet
    (100.0, None, 105.0, 5.0, True),    # the plane has replaced them by now
    (100.0, None, 900.0, 5.0, True),
    (100.0, 105.0, 110.0, 5.0, False),  # fenced already in this cut: once
    (106.0, 105.0, 111.0, 5.0, True),   # heard again after the fence, then cut again: again
    (106.0, 105.0, 110.0, 5.0, False),
    (100.0, None, 1e9, 0.0, False),     # --fence-after 0: never
])
def test_when_it_fences(acked_at: float | None, fenced_at: float | None, now: float, after: float,
                        due: bool) -> None:
    assert cutoff.due(acked_at, fenced_at, now, after) is due


def test_it_looks_again_at_the_deadline_or_within_a_second() -> None:
    assert cutoff.next_look(100.0, 104.5, 5.0) == 105.0
    assert cutoff.next_look(100.0, 101.0, 5.0) == 102.0
    assert cutoff.next_look(100.0, 106.0, 5.0) == 107.0
    assert cutoff.next_look(None, 50.0, 5.0) == 51.0


def test_the_next_status_report_says_it_fenced_itself() -> None:
    assert NodeReported(replicas=0, fenced=2, cut_off_seconds=41.2).summary() == (
        "node reports 0 replica(s), 0 GPU in use; cut off from the plane for 41s, it stopped 2 replica(s) on its "
        "own (replaced elsewhere)")
    assert NodeReported(replicas=1).summary() == "node reports 1 replica(s), 0 GPU in use"
    old = msgspec.json.decode(b'{"type": "node.reported", "replicas": 1}', type=NodeReported)  # older agents
    assert old.fenced == 0
