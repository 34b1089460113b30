"""actors.merge: several consumers' deliveries handed on as one stream, in order (pure, no I/O)."""
from __future__ import annotations

from actors.merge import Merge
from core.feed import Delivery
from core.log import StoredMessage


def _d(seq: int, cseq: int, consumer: str = "c") -> Delivery:
    reply = f"$JS.ACK.BOSUN_P.{consumer}.1.{seq}.{cseq}.1700000000000000000.0"
    return Delivery(StoredMessage(seq, f"bosun.ev.k.ns.r{seq}.spec", {}, b"", 0.0), reply)


def _seqs(merge: Merge) -> list[int]:
    return [d.stored.seq for d, _ in merge.pop()]


def test_nothing_is_handed_on_past_a_source_that_may_still_deliver_below_it() -> None:
    merge = Merge(start=1)
    merge.add("p0")
    merge.add("pools")
    assert merge.push("p0", [_d(2, 1), _d(5, 2)])
    assert _seqs(merge) == [], "the pools' consumer may still deliver 1, 3 or 4"
    assert merge.push("pools", [_d(3, 1)])
    assert _seqs(merge) == [2, 3]
    assert merge.behind(5) == ["pools"]
    merge.certify("pools", 5)  # the stream shows the pools' next message is 6 or later
    assert _seqs(merge) == [5]
    assert merge.frontier == 5


def test_a_message_from_two_consumers_is_one_message_acked_on_both() -> None:
    merge = Merge(start=1)
    merge.add("p3")
    merge.add("pools")
    assert merge.push("p3", [_d(7, 1, "p3")])
    assert merge.push("pools", [_d(7, 1, "pools"), _d(9, 2, "pools")])
    merged = merge.pop()
    assert [(d.stored.seq, [name for name, _ in copies]) for d, copies in merged] == [(7, ["p3", "pools"])]
    assert merge.held("pools") == 1


def test_a_skipped_consumer_sequence_is_a_lost_delivery() -> None:
    merge = Merge(start=1)
    merge.add("p0")
    assert merge.push("p0", [_d(4, 1)])
    assert not merge.push("p0", [_d(9, 3)]), "consumer sequence 2 never arrived"


def test_a_redelivery_waits_for_the_frontier_and_is_no_gap() -> None:
    merge = Merge(start=1)
    merge.add("a")
    merge.add("b")
    assert merge.push("a", [_d(2, 1), _d(6, 2)])
    assert merge.push("b", [_d(3, 1)])
    assert _seqs(merge) == [2, 3]
    assert merge.push("a", [_d(2, 3), _d(6, 4)]), "a resend (a new consumer leader) numbered on"
    assert _seqs(merge) == [2], "the resend of 2 is at the frontier; 6 still waits for b"
    merge.certify("b", 10)
    [(delivery, copies)] = merge.pop()
    assert delivery.stored.seq == 6 and len(copies) == 2, "both deliveries of 6 are acked, it is folded once"


def test_a_removed_source_no_longer_holds_the_frontier() -> None:
    merge = Merge(start=10)
    merge.add("p1")
    merge.add("p2")
    assert merge.push("p1", [_d(12, 1)])
    assert merge.frontier == 9
    merge.remove("p2")
    assert _seqs(merge) == [12]
    assert merge.push("p2", [_d(13, 1)]), "late deliveries of a removed source are ignored"
    assert merge.frontier == 12
