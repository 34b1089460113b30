"""The host's pure parts on their own (ack ledger, timer queue), and a lost partition dropped from all."""
from __future__ import annotations

import asyncio
from typing import NamedTuple

import pytest

from actors.acks import AckLedger
from actors.capacity import PoolView
from actors.cells import Cell
from actors.host import Host
from actors.partitions import partition_of, partition_of_token
from actors.timers import TimerQueue
from core import loops
from core.feed import Delivery
from core.log import StoredMessage
from core.names import Ref
from tests.conftest import REGISTRY


class _Stored(NamedTuple):
    seq: int


class _Delivery(NamedTuple):
    stored: _Stored


def _ledger(*seqs: int) -> AckLedger[_Delivery]:
    ledger: AckLedger[_Delivery] = AckLedger()
    for seq in seqs:
        ledger.delivered(_Delivery(_Stored(seq)))
    return ledger


def test_ack_moves_only_over_the_done_prefix() -> None:
    ledger = _ledger(1, 2, 3, 4)
    ledger.expect(2, 1)
    ledger.expect(3, 1)
    assert ledger.releasable() == _Delivery(_Stored(1))  # 1 had no target of ours: done on delivery
    ledger.done(3)
    assert ledger.releasable() is None  # 2 is still in progress: nothing past it may be acked
    ledger.done(2)
    assert ledger.releasable() == _Delivery(_Stored(4))
    assert ledger.in_flight == 0 and not ledger.busy


def test_a_message_for_several_actors_is_done_after_the_last_of_them() -> None:
    ledger = _ledger(7)
    ledger.expect(7, 2)
    ledger.done(7)
    assert ledger.busy and ledger.releasable() is None
    ledger.done(7)
    assert ledger.releasable() == _Delivery(_Stored(7))
    ledger.done(7)  # a late duplicate is harmless
    assert not ledger.busy


def test_forgotten_targets_count_as_done() -> None:
    ledger = _ledger(1, 2)
    ledger.expect(1, 2)
    ledger.expect(2, 1)
    ledger.done(1)
    ledger.forget([1, 2])
    assert ledger.releasable() == _Delivery(_Stored(2))


def test_timers_fire_earliest_first_and_only_when_due() -> None:
    timers = TimerQueue(partitions=4)
    timers.push(30.0, "b")
    timers.push(10.0, "a")
    timers.push(20.0, "c")
    assert timers.next_due() == 10.0
    assert list(timers.due(20.0)) == ["a", "c"]
    assert timers.next_due() == 30.0 and timers.tokens() == ["b"]
    assert list(timers.due(29.9)) == []


def test_timers_by_partition_keep_the_earliest_per_actor() -> None:
    timers = TimerQueue(partitions=2)
    for when, token in ((5.0, "x"), (3.0, "x"), (4.0, "y")):
        timers.push(when, token)
    owned = {partition_of_token("x", 2), partition_of_token("y", 2)}
    merged: dict[str, float] = {}
    for due in timers.by_partition(owned).values():
        merged.update(due)
    assert merged == {"x": 3.0, "y": 4.0}
    only_y = timers.by_partition(owned, keep=lambda t: t == "y")
    assert [due for due in only_y.values() if due] == [{"y": 4.0}]


def test_dropping_partitions_drops_their_timers_only() -> None:
    timers = TimerQueue(partitions=8)
    tokens = [f"modeldeployment.ns.d{i}" for i in range(20)]
    for i, token in enumerate(tokens):
        timers.push(float(i), token)
    lost = {partition_of_token(tokens[0], 8)}
    timers.drop(lost)
    kept = [t for t in tokens if partition_of_token(t, 8) not in lost]
    assert kept and len(kept) < len(tokens)
    assert list(timers.due(100.0)) == kept  # still a heap: earliest first


async def test_a_lost_partition_leaves_no_pending_ack_timer_link_or_view_behind() -> None:
    """A queued message of a dropped actor used to stay pending forever: the ack floor stalled there."""
    host = Host(None, registry=REGISTRY, host_id="t", partitions=4)  # type: ignore[arg-type]  # no I/O here
    lost_ref, kept_ref = _refs_in_two_partitions(4, "modeldeployment")  # pools are kept: see the next test
    lost = {partition_of(lost_ref, 4)}
    for ref in (lost_ref, kept_ref):
        cell = Cell(ref, REGISTRY.controller_for(ref.kind))  # type: ignore[arg-type]
        host.cells[ref.token] = cell
        host.timers.push(10.0, ref.token)
        host.reconciler.caused_by(cell, "00-" + "1" * 32 + "-" + "2" * 16 + "-01")
        host.views.views.setdefault(ref.kind, {})[ref.token] = PoolView(ref=ref, region="r", gpu="a100",
                                                                        capacity=1, allocated=0)
    stored = StoredMessage(5, f"bosun.ev.{lost_ref.token}.spec", {}, b"", 0.0)
    host.acks.delivered(Delivery(stored, "ack.5"))
    host.acks.expect(5, 1)
    host.cells[lost_ref.token].queue.append((stored, None))

    host._drop_partitions(lost)

    assert host.acks.releasable() == Delivery(stored, "ack.5")
    assert list(host.cells) == [kept_ref.token]
    assert host.timers.tokens() == [kept_ref.token]
    assert list(host.reconciler.traces) == [kept_ref.token]
    assert list(host.views.views["modeldeployment"]) == [kept_ref.token]
    assert [v.ref for v in host.views.context.of("modeldeployment")] == [kept_ref]


async def test_a_lost_partition_keeps_a_publishers_view_only_cell() -> None:
    """Deployments on this host still read the pool's view after its partition moved to another host."""
    host = Host(None, registry=REGISTRY, host_id="t", partitions=4)  # type: ignore[arg-type]  # no I/O here
    pool, _ = _refs_in_two_partitions(4)
    cell = Cell(pool, REGISTRY.controller_for(pool.kind))  # type: ignore[arg-type]
    host.cells[pool.token] = cell
    stored = StoredMessage(5, f"bosun.ev.{pool.token}.spec", {}, b"", 0.0)
    cell.queue.append((stored, None))

    host._drop_partitions({partition_of(pool, 4)})

    assert host.cells[pool.token] is cell and len(cell.queue) == 1


def _refs_in_two_partitions(partitions: int, kind: str = "gpupool") -> tuple[Ref, Ref]:
    first = Ref(kind, "infra", "p0")
    for i in range(1, 100):
        other = Ref(kind, "infra", f"p{i}")
        if partition_of(other, partitions) != partition_of(first, partitions):
            return first, other
    raise AssertionError("no two partitions")


async def test_a_companion_actor_is_keyed_apart_and_dropped_with_its_resource() -> None:
    """Companion cells (`<token>.<companion>`) live in their resource's partition: every part drops them."""
    host = Host(None, registry=REGISTRY, host_id="t", partitions=4)  # type: ignore[arg-type]  # no I/O here
    lost_ref, kept_ref = _refs_in_two_partitions(4, "modeldeployment")
    keys: dict[Ref, list[str]] = {}
    for ref in (lost_ref, kept_ref):
        actors = REGISTRY.actors_for(ref)
        assert [k for k, _ in actors] == [ref.token, f"{ref.token}.autoscaler"]
        keys[ref] = []
        for key, ctrl in actors:
            assert REGISTRY.actor_of_key(key) == (ref, ctrl)
            assert partition_of_token(key, 4) == partition_of(ref, 4)
            cell = Cell(ref, ctrl)
            assert cell.key == key
            host.cells[key] = cell
            host.timers.push(10.0, key)
            host.reconciler.caused_by(cell, "00-" + "1" * 32 + "-" + "2" * 16 + "-01")
            keys[ref].append(key)

    host._drop_partitions({partition_of(lost_ref, 4)})

    assert sorted(host.cells) == sorted(keys[kept_ref])
    assert sorted(host.timers.tokens()) == sorted(keys[kept_ref])
    assert sorted(host.reconciler.traces) == sorted(keys[kept_ref])


async def test_a_failed_run_leaves_none_of_its_loops_running() -> None:
    """A run whose consume loop fails must not leave its lease renewal going (it renewed leases beside the
    next run and announced a stale presence)."""
    stop, renewing, ended = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def renew() -> None:
        renewing.set()
        try:
            await asyncio.Event().wait()  # renews forever unless the run ends it
        finally:
            ended.set()

    async def consume() -> None:
        await renewing.wait()
        raise RuntimeError("no stream answered")

    with pytest.raises(RuntimeError):
        await loops.all_or_none(stop, consume(), renew())
    assert stop.is_set() and ended.is_set(), "the renewal loop ended with the run"
