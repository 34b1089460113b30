"""The allocation and actuation checkers (`chaos.asked`) on histories written by hand: each rule fails."""
from __future__ import annotations

from chaos.asked import Record, actuation, allocation

P = "infra/p"
A, B = "modeldeployment.ns.a", "modeldeployment.ns.b"


def cap(seq: int, gpus: int) -> Record:
    return Record(seq, "capacity", P, gpus=gpus)


def grant(seq: int, who: str, gpus: int, basis: int = 0) -> Record:
    return Record(seq, "grant", P, who, gpus=gpus, basis=basis)


def start(seq: int, who: str, rid: str, gpus: int = 1) -> Record:
    return Record(seq, "start", P, who, rid, gpus)


def end(seq: int, who: str, rid: str) -> Record:
    return Record(seq, "end", P, who, rid)


def test_grants_within_capacity_and_starts_within_grants_pass() -> None:
    report = allocation([cap(1, 4), grant(2, A, 2), start(3, A, "a-1"), start(4, A, "a-2"), grant(5, B, 2),
                         start(6, B, "b-1"), end(7, A, "a-1"), grant(8, A, 1)])
    assert report.ok and report.grants == 3 and report.starts == 3 and report.peak[P] == (4, 4)


def test_a_grant_over_capacity_fails() -> None:
    report = allocation([cap(1, 4), grant(2, A, 3), grant(3, B, 2)])
    assert report.violations == [f"seq 3: {P} granted {B} 2 GPU (had 0): 5 allocated of a capacity of 4 as of seq 3"]


def test_capacity_is_judged_as_of_the_sequence_the_pool_decided_on() -> None:
    # The pool decided at seq 2 (capacity 4); a shrink landed at seq 3 before the answer at seq 4.
    assert allocation([cap(1, 4), grant(2, A, 0), cap(3, 2), grant(4, A, 3, basis=2)]).ok
    assert not allocation([cap(1, 4), cap(3, 2), grant(4, A, 3, basis=3)]).ok


def test_a_shrink_does_not_revoke_but_a_grant_on_top_of_it_fails() -> None:
    history = [cap(1, 4), grant(2, A, 4), cap(3, 2), grant(4, A, 3)]  # shrinking a grant is fine
    assert allocation(history).ok
    assert not allocation([*history, grant(5, B, 1)]).ok


def test_a_start_beyond_the_grant_fails_and_a_release_under_running_replicas_fails() -> None:
    assert not allocation([cap(1, 4), grant(2, A, 1), start(3, A, "a-1"), start(4, A, "a-2")]).ok
    report = allocation([cap(1, 4), grant(2, A, 2), start(3, A, "a-1"), start(4, A, "a-2"), grant(5, A, 1)])
    assert report.violations == [f"seq 5: {A} runs 2 GPU in {P} under a grant of 1 (after its grant)"]
    assert allocation([cap(1, 4), grant(2, A, 2), start(3, A, "a-1"), start(4, A, "a-2"), end(5, A, "a-2"),
                       grant(6, A, 1)]).ok


def test_records_are_judged_in_sequence_order_whatever_order_they_come_in() -> None:
    assert allocation([start(3, A, "a-1"), grant(2, A, 1), cap(1, 1)]).ok


def test_actuation_counts_asks_deliveries_and_starts_per_replica() -> None:
    records = [start(3, A, "a-1"), start(4, A, "a-2")]
    clean = actuation(records, [(f"{A}/a-1", 3, 2), (f"{A}/a-2", 4, 1)], {f"{A}/a-1": 1, f"{A}/a-2": 1})
    assert clean.ok and (clean.commands, clean.deliveries, clean.redeliveries) == (2, 3, 1)
    twice = actuation([*records, start(9, A, "a-1")], [(f"{A}/a-1", 3, 1), (f"{A}/a-1", 9, 1)], {f"{A}/a-1": 1})
    assert twice.asked_twice == [f"{A}/a-1"] and twice.delivered_twice == [f"{A}/a-1"] and not twice.ok
    assert actuation(records, [], {f"{A}/a-2": 2}).started_twice == [f"{A}/a-2"]


def test_the_log_reader_turns_real_event_bytes_into_records() -> None:
    from actors.capacity import CapacityAnswered, CapacityGranted, CapacityRefused
    from chaos.logread import records
    from core import codec, subjects
    from core.events import SpecApplied
    from core.log import StoredMessage
    from core.names import Ref
    from core.replicas import ReplicaLost, StartReplica

    pool, dep = Ref("gpupool", "infra", "p"), Ref("modeldeployment", "ns", "a")
    granted = CapacityGranted(request_id=1, requester=A, pool=P, gpus=2)
    refused = CapacityRefused(request_id=1, requester=B, pool=P, gpus=9, available=2, reason="full")
    raw = [(subjects.spec(pool), SpecApplied(generation=1, spec={"region": "r", "gpu": "g", "capacity": 4}), {}),
           (subjects.ctl(pool, "pools"), CapacityAnswered(pool=P, answers=(granted, refused)), {"Bosun-Hwm": "1"}),
           (subjects.cmd("sim", dep), StartReplica(replica="a-1", pool=P, gpus=1, model="m", generation=1), {}),
           (subjects.obs(dep), ReplicaLost(replica="a-1", pool=P, reason="x"), {})]
    stored = [StoredMessage(i + 1, subject, {**codec.event_headers(ev, 0.0), **extra}, codec.encode(ev), 0.0)
              for i, (subject, ev, extra) in enumerate(raw)]
    assert records(stored) == [cap(1, 4), grant(2, A, 2, basis=1), start(3, A, "a-1"), end(4, A, "a-1")]
