"""What the control plane ASKED, judged on its own: pools never over-allocated, replicas never started twice.

Pure: fed plain records (read from the log by `chaos.logread`, from a driver's delivery ledger by
`chaos.verify`), so a broken history can be written by hand in a unit test.

Why from what was asked and not from what a driver did: the sim driver refuses a start that does not fit
its pool on its own, and answers a second start of a known replica "exists" — both hide a control plane
that over-commits or asks twice. These checks hold the control plane to its word:

- A pool's grants: whenever an answer RAISES a requester's allocation, the pool's total allocation must
  fit the pool's capacity as of the sequence the pool decided on (the answer's `Bosun-Hwm`; its own
  sequence when absent). A capacity shrink does not revoke grants already made, so a total above a new,
  smaller capacity is not by itself a violation — a grant made on top of it is.
- A deployment's starts: the GPUs of its replicas started in a pool and not yet reported stopped or lost
  must never exceed what that pool has granted it — checked at every start and every grant change.
- Starts per replica: one StartReplica in the log per replica id, and one distinct command delivered to a
  driver per replica id, whatever the driver then made of it (redeliveries of the same command are not
  double actuation; a second command is). And no replica really started twice by a driver.
"""
from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

What = Literal["capacity", "grant", "start", "end"]


@dataclass(frozen=True)
class Record:
    """One fact from the log, in stream order by `seq`."""

    seq: int
    what: What
    pool: str
    """"<namespace>/<name>" of the pool."""
    requester: str = ""
    """The deployment's ref token (grants and starts)."""
    replica: str = ""
    gpus: int = 0
    """capacity: the pool's; grant: the requester's new allocation; start: the replica's GPUs."""
    basis: int = 0
    """grant: the sequence the pool decided on (0: `seq`)."""


@dataclass
class Allocation:
    violations: list[str] = field(default_factory=list)
    grants: int = 0
    starts: int = 0
    peak: dict[str, tuple[int, int]] = field(default_factory=dict)
    """pool -> (highest total allocation, the capacity then): shows whether a pool really ran full."""

    @property
    def ok(self) -> bool:
        return not self.violations


class _Capacities:
    def __init__(self) -> None:
        self.seqs: dict[str, list[int]] = {}
        self.values: dict[str, list[int]] = {}

    def add(self, pool: str, seq: int, capacity: int) -> None:
        self.seqs.setdefault(pool, []).append(seq)
        self.values.setdefault(pool, []).append(capacity)

    def at(self, pool: str, seq: int) -> int:
        """The pool's capacity as of `seq` (0 before its first spec)."""
        i = bisect.bisect_right(self.seqs.get(pool, []), seq)
        return self.values[pool][i - 1] if i else 0


def allocation(records: Iterable[Record]) -> Allocation:
    """Replay grants and starts in log order against capacities; every violation, described."""
    ordered = sorted(records, key=lambda r: r.seq)
    caps = _Capacities()
    for r in ordered:
        if r.what == "capacity":
            caps.add(r.pool, r.seq, r.gpus)
    report = Allocation()
    grants: dict[str, dict[str, int]] = {}
    live: dict[str, dict[str, dict[str, int]]] = {}
    """pool -> requester -> replica -> GPUs."""
    where: dict[str, tuple[str, str]] = {}
    """replica (token/id) -> (pool, requester), for ends."""
    for r in ordered:
        if r.what == "grant":
            report.grants += 1
            held = grants.setdefault(r.pool, {})
            before = held.get(r.requester, 0)
            held[r.requester] = r.gpus
            total = sum(held.values())
            capacity = caps.at(r.pool, r.basis or r.seq)
            if total > report.peak.get(r.pool, (-1, 0))[0]:
                report.peak[r.pool] = (total, capacity)
            if r.gpus > before and total > capacity:
                report.violations.append(
                    f"seq {r.seq}: {r.pool} granted {r.requester} {r.gpus} GPU (had {before}): {total} allocated "
                    f"of a capacity of {capacity} as of seq {r.basis or r.seq}")
            _within_grant(report, r, live, grants)
        elif r.what == "start":
            report.starts += 1
            key = f"{r.requester}/{r.replica}"
            if key in where:
                continue  # a second start of one replica: `starts` counts it, it uses no more GPUs
            where[key] = (r.pool, r.requester)
            live.setdefault(r.pool, {}).setdefault(r.requester, {})[key] = r.gpus
            _within_grant(report, r, live, grants)
        elif r.what == "end":
            key = f"{r.requester}/{r.replica}"
            pool, requester = where.get(key, (r.pool, r.requester))
            live.get(pool, {}).get(requester, {}).pop(key, None)
    return report


def _within_grant(report: Allocation, r: Record, live: dict[str, dict[str, dict[str, int]]],
                  grants: dict[str, dict[str, int]]) -> None:
    running = sum(live.get(r.pool, {}).get(r.requester, {}).values())
    granted = grants.get(r.pool, {}).get(r.requester, 0)
    if running > granted:
        report.violations.append(f"seq {r.seq}: {r.requester} runs {running} GPU in {r.pool} under a grant of "
                                 f"{granted} (after its {r.what})")


@dataclass
class Actuation:
    asked_twice: list[str] = field(default_factory=list)
    """Replicas with more than one StartReplica in the log."""
    delivered_twice: list[str] = field(default_factory=list)
    """Replicas for which a driver was handed more than one distinct start command (before any dedup)."""
    started_twice: list[str] = field(default_factory=list)
    """Replicas a driver really started more than once."""
    commands: int = 0
    deliveries: int = 0
    redeliveries: int = 0
    """Deliveries of a command already delivered (JetStream redelivery: harmless, counted for the report)."""

    @property
    def ok(self) -> bool:
        return not (self.asked_twice or self.delivered_twice or self.started_twice)


def actuation(records: Iterable[Record], delivered: Iterable[tuple[str, int, int]],
              started: Mapping[str, int]) -> Actuation:
    """`records`' starts (from the log); `delivered`: (token/replica, command seq, times delivered) from
    the drivers' delivery ledgers; `started`: token/replica -> times the driver really started it."""
    report = Actuation()
    asked: dict[str, set[int]] = {}
    for r in records:
        if r.what == "start":
            report.commands += 1
            asked.setdefault(f"{r.requester}/{r.replica}", set()).add(r.seq)
    handed: dict[str, set[int]] = {}
    for key, seq, times in delivered:
        report.deliveries += times
        report.redeliveries += max(0, times - 1)
        handed.setdefault(key, set()).add(seq)
    report.asked_twice = sorted(k for k, seqs in asked.items() if len(seqs) > 1)
    report.delivered_twice = sorted(k for k, seqs in handed.items() if len(seqs) > 1)
    report.started_twice = sorted(k for k, n in started.items() if n > 1)
    return report
