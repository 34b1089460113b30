"""The chaos suite's small forms against a real `bosun up`: kill -9 rounds, linearizable If-Match, soak.

Each checker is also shown to fail: a doubled actuation written into the sim driver's world is counted
as a duplicate, a forged acknowledgement of a write that is not there is counted as lost, and a forged
second success from one version makes the If-Match history non-linearizable.
"""
from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chaos import hot, soak, verify
from chaos.door import Door
from chaos.ledger import Op, check
from chaos.linearizable import Cas
from chaos.linearizable import check as linearizable
from chaos.load import POOL
from chaos.rounds import Config, run
from chaos.tree import Tree
from corpus import bad_inputs as corpus
from dataplane.sim.store import db_path


async def test_chaos_rounds_lose_nothing_and_start_nothing_twice(tmp_path: Path) -> None:
    data = tmp_path / "data"
    report = await run(Config(data, rounds=3, writers=3, resources=3, seed=7, converge_timeout=90))
    assert report.rounds == 3 and sum(report.killed.values()) == 3, report.render()
    assert report.verdict.acked > 0 and report.ok, report.render()
    assert not report.verdict.lost and not report.duplicates and not report.rebuild_diff

    # A deliberately broken driver: one replica id actuated a second time. The checker must count it.
    with sqlite3.connect(db_path(data)) as conn:
        token, replica = conn.execute("SELECT token, replica FROM starts LIMIT 1").fetchone()
        conn.execute("UPDATE starts SET n = n + 1 WHERE token = ? AND replica = ?", (token, replica))
    duplicates, _ = verify.data_plane(data)
    assert duplicates == [f"{token}/{replica}"]

    # A deliberately lossy log: an acknowledged write that the final state does not show.
    name = next(n for n, v in report.final.items() if v != 3)
    forged = Op(name, 3, "ack", started=report.ledger[-1].started + 1)
    assert check([*report.ledger, forged], report.final).lost == [name]


@pytest.fixture
async def tree_door(tmp_path: Path) -> AsyncIterator[tuple[Tree, Door]]:
    tree = Tree(tmp_path / "data").start()
    door = await Door(tree.url, tree.nats, tree.token).open()
    try:
        yield tree, door
    finally:
        await door.close()
        tree.stop()


async def test_if_match_read_modify_writes_are_linearizable(tree_door: tuple[Tree, Door]) -> None:
    _, door = tree_door
    report = await hot.run(door, writers=8, writes=8)
    assert report.ok, report.render()
    acked = [c for c in report.history if c.ok]
    assert {c.client % 2 for c in acked} == {0, 1}, "both doors (HTTP even, NATS odd) won writes"
    assert any(c.ok is False for c in report.history), "the writers really raced"
    assert report.identical_refused > 0, "identical writes from one version raced, and all but one got 409"

    # Broken: one refused writer told it won from the version it read. The checker must reject it.
    lost = next(c for c in report.history if c.ok is False)
    forged = Cas(lost.call, lost.ret, lost.expect, "forged", True, 10**9, lost.client)
    history = [forged if c is lost else c for c in report.history]
    assert not linearizable(history, report.initial).ok
    # Broken: a refused identical write coalesced into the winner from its version (the old msg-id dedup:
    # both told 202 with one resourceVersion). The strict model must reject it.
    won = {c.expect: c for c in report.history if c.ok}
    loser = next(c for c in report.history if c.ok is False and c.expect in won)
    coalesced = Cas(loser.call, loser.ret, loser.expect, won[loser.expect].value, True, won[loser.expect].version,
                    loser.client)
    history = [coalesced if c is loser else c for c in report.history]
    assert not linearizable(history, report.initial).ok


async def test_soak_stays_bounded_with_bad_input_in_its_second_half(tree_door: tuple[Tree, Door]) -> None:
    tree, door = tree_door
    assert (await door.apply(POOL)).status == 202
    report = await soak.run(tree, door, seconds=30, rate=10, every=1.0, cases=[*corpus.HTTP, *corpus.NATS])
    assert report.noise is not None and report.noise.sent > len(corpus.HTTP), report.render()
    assert report.noise.server_errors == 0 and report.noise.unexpected == [], report.render()
    assert (await verify.listing(door, corpus.NS)) == {}, "a refused request appended nothing"
    assert report.errors == 0 and report.applies > 100 and report.deletes > 0, report.render()
    assert {"gateway", "controller", "projector", "driver-sim", "nats"} <= set(report.samples)
    assert report.ready_latency, "declared->Ready was measured"
    for name, samples in report.samples.items():
        first, last = samples[0], samples[-1]
        assert last.fds <= first.fds + 16 and last.threads <= first.threads + 8, (name, report.render())
        if name != "nats":  # JetStream's caches grow with the stream by design
            assert last.rss <= first.rss + 64 * 2**20, (name, report.render())
