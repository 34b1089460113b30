"""The chaos suite's small forms against a real `bosun up`: kill -9 rounds, linearizable If-Match, soak.

The rounds kill every component kind in turn (the gateway alone mid-burst among them), against a pool the
load runs full and that shrinks half-way. Each checker is shown to fail on a deliberately broken BUILD,
not on edited data: the allocation checker on a pool actor whose capacity check is disabled, the
actuation checker on a deployment actor that orders every start twice (patched in every process of the
tree by `tests/faults/sitecustomize.py`), while the data plane's own view (the sim refuses what does not
fit, and answers a second start "exists") sees nothing wrong in either. The ledger and linearizability
checkers are shown to fail on forged histories, as before.
"""
from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from chaos import hot, soak, verify
from chaos.door import Door
from chaos.ledger import Op, check
from chaos.linearizable import Cas
from chaos.linearizable import check as linearizable
from chaos.load import POOL, deployment, pool
from chaos.rounds import Config, run
from chaos.tree import Tree
from corpus import bad_inputs as corpus
from tests.conftest import eventually

FAULTS = Path(__file__).resolve().parents[1] / "faults"
COMPONENTS = {"agent", "controller", "driver-process", "driver-sim", "gateway", "nats", "projector"}


@pytest.mark.timeout(600)
async def test_chaos_rounds_kill_every_component_lose_nothing_and_never_over_allocate(tmp_path: Path) -> None:
    data = tmp_path / "data"
    cfg = Config(data, rounds=len(COMPONENTS), writers=3, resources=3, seed=7, converge_timeout=90, cycle=True)
    report = await run(cfg)
    assert report.rounds == len(COMPONENTS) and set(report.killed) == COMPONENTS, report.render()
    assert report.verdict.acked > 0 and report.ok, report.render()
    assert report.actuation.commands > 0 and report.allocation.grants > 0, report.render()
    full, shrunk = cfg.pool_sizes()
    peak, capacity = report.allocation.peak["infra/chaos-pool"]
    assert peak >= shrunk and capacity in (full, shrunk), f"the pool never ran full:\n{report.render()}"

    # A deliberately lossy log: an acknowledged write that the final state does not show.
    name = next(n for n, v in report.final.items() if v != 3)
    forged = Op(name, 3, "ack", started=report.ledger[-1].started + 1)
    assert check([*report.ledger, forged], report.final).lost == [name]


@pytest.fixture
def broken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[Tree]:
    """A `bosun up` whose every process runs with the fault named by the test's parameter."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(FAULTS), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("BOSUN_TEST_FAULTS", request.param)
    tree = Tree(tmp_path / "data").start()
    try:
        yield tree
    finally:
        tree.stop()


async def _applied(tree: Tree, capacity: int, deployments: int) -> Door:
    door = await Door(tree.url, tree.nats, tree.token).open()
    assert (await door.apply(pool(capacity))).status == 202
    for i in range(deployments):
        assert (await door.apply(deployment(f"d{i}", 2))).status == 202
    return door


@pytest.mark.parametrize("broken", ["pool-capacity"], indirect=True)
async def test_a_pool_actor_without_its_capacity_check_is_caught_over_allocating(broken: Tree) -> None:
    door = await _applied(broken, capacity=4, deployments=4)  # 8 GPUs asked of 4
    try:
        async def caught() -> list[str]:
            allocation, _ = await verify.promises(broken.data)
            return allocation.violations

        violations = await eventually(caught, timeout=60)
        assert any("of a capacity of 4" in v for v in violations), violations
        assert verify.data_plane(broken.data)[1] == [], "the sim refused what did not fit: it shows nothing"
    finally:
        await door.close()


@pytest.mark.parametrize("broken", ["start-twice"], indirect=True)
async def test_a_control_plane_asking_twice_is_caught_before_the_drivers_dedup(broken: Tree) -> None:
    door = await _applied(broken, capacity=4, deployments=1)
    try:
        seconds, _ = await verify.converge(door, 60)
        assert seconds is not None, "the driver's dedup absorbs the second ask: it converges"
        _, actuation = await verify.promises(broken.data)
        assert actuation.asked_twice == ["modeldeployment.chaos.d0/d0-1", "modeldeployment.chaos.d0/d0-2"]
        assert actuation.delivered_twice == actuation.asked_twice
        assert actuation.started_twice == [] and verify.data_plane(broken.data)[0] == [], \
            "the driver started each once: its own count shows nothing"
    finally:
        await door.close()


@pytest.fixture(scope="module")
def shared_tree(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tree]:
    """One tree for the tests that only read and write through the doors (they use other resources)."""
    tree = Tree(tmp_path_factory.mktemp("chaos") / "data").start()
    yield tree
    tree.stop()


@pytest.fixture
async def tree_door(shared_tree: Tree) -> AsyncIterator[tuple[Tree, Door]]:
    door = await Door(shared_tree.url, shared_tree.nats, shared_tree.token).open()
    try:
        yield shared_tree, door
    finally:
        await door.close()


async def test_if_match_read_modify_writes_are_linearizable(tree_door: tuple[Tree, Door]) -> None:
    _, door = tree_door
    reports: list[hot.HotReport] = []
    for _ in range(5):  # each history is checked; more of them only until both doors have won a write
        report = await hot.run(door, writers=8, writes=8)
        assert report.ok, report.render()
        reports.append(report)
        if {c.client % 2 for r in reports for c in r.history if c.ok} == {0, 1}:
            break
    history = [c for r in reports for c in r.history]
    assert {c.client % 2 for c in history if c.ok} == {0, 1}, "both doors (HTTP even, NATS odd) won writes"
    assert any(c.ok is False for c in history), "the writers really raced"
    assert sum(r.identical_refused for r in reports) > 0, "identical writes from one version raced, all but one 409"

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
