"""The acked-write ledger and its checker: pure, so a broken history can be fed to it by hand.

Why a ledger rather than "did it converge": convergence to *something* hides a lost acknowledged write
(the resource converges to an older spec) and a phantom one (a refused write that appears anyway). The
load generator gives each resource a single writer, so its operations are sequential and the only
admissible final values are the last acknowledged one and any later write whose answer was lost (an
unknown outcome may or may not have been applied).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

ABSENT = -1
"""The value of a deleted (or never created) resource."""
Outcome = Literal["ack", "nack", "unknown"]


@dataclass(frozen=True)
class Op:
    """One request and its answer: `value` is the replica count written, or ABSENT for a delete."""

    resource: str
    value: int
    outcome: Outcome
    via: str = "http"
    started: float = 0.0
    ended: float = 0.0
    status: int = 0
    """HTTP (or Bosun-Status) code; 0 when no answer came back."""


def outcome_of(status: int) -> Outcome:
    """202 is an acknowledgement; a 4xx a definite refusal; a 5xx or no answer may have been applied."""
    if status < 0:  # connection refused: the request never left
        return "nack"
    if status in (200, 202):
        return "ack"
    if 400 <= status < 500:
        return "nack"
    return "unknown"


@dataclass
class Verdict:
    requests: int = 0
    acked: int = 0
    unknown: int = 0
    lost: list[str] = field(default_factory=list)
    """Resources whose final value is older than (or differs from) their last acknowledged write."""
    phantom: list[str] = field(default_factory=list)
    """Resources showing a value nobody may have written (a refused write, or no write at all)."""

    @property
    def ok(self) -> bool:
        return not self.lost and not self.phantom


def admissible(ops: Iterable[Op]) -> tuple[int | None, set[int]]:
    """(last acked value, every value the resource may legitimately end with), for one writer's ops."""
    last_ack: int | None = None
    possible: set[int] = {ABSENT}
    for op in ops:
        if op.outcome == "ack":
            last_ack, possible = op.value, {op.value}
        elif op.outcome == "unknown":
            possible = possible | {op.value}
    return last_ack, possible


def check(ops: Iterable[Op], final: Mapping[str, int]) -> Verdict:
    """Compare the ledger with the final state (`final[resource]`, ABSENT when missing)."""
    by_resource: dict[str, list[Op]] = {}
    verdict = Verdict()
    for op in ops:
        by_resource.setdefault(op.resource, []).append(op)
        verdict.requests += 1
        verdict.acked += op.outcome == "ack"
        verdict.unknown += op.outcome == "unknown"
    for resource, history in sorted(by_resource.items()):
        history.sort(key=lambda o: o.started)
        last_ack, possible = admissible(history)
        value = final.get(resource, ABSENT)
        if value in possible:
            continue
        stale = {op.value for op in history if op.outcome != "nack"} | {ABSENT}
        (verdict.lost if last_ack is not None and value in stale else verdict.phantom).append(resource)
    for resource in sorted(set(final) - set(by_resource)):
        if final[resource] != ABSENT:
            verdict.phantom.append(resource)
    return verdict
