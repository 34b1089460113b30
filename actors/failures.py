"""How a failing reconciler is classified and shown: typed errors for kind authors, and the status a
failing resource publishes.

A kind's `decide` may raise `TerminalError` (this spec can never work: phase `Failed`, no retry until the
spec changes); any other exception is transient (backoff with full jitter, capped, the next attempt time
in the condition). The runtime adds the failures a kind cannot report itself: a step that overran its
time or memory budget, a step in which the process died, or a transient error repeated
`QUARANTINE_AFTER` times; each of those quarantines the resource (its decisions are parked until its spec
changes or an operator asks for a retry). Everything here is pure: the reconciler does the I/O.
"""
from __future__ import annotations

import time
from typing import Any

import msgspec

from core.events import Condition, Event, ReconcileFailed, StatusUpdated

QUARANTINE_AFTER = 5
"""Consecutive transient failures after which a resource is parked instead of retried."""
CRASHES_TO_QUARANTINE = 2
"""Process deaths inside the same resource's step after which it is quarantined (one may be a kill -9)."""
TIMEOUTS_TO_QUARANTINE = 2
"""Consecutive budget overruns after which it is quarantined (the first is retried: a loaded machine can
stretch a step once; a step that never returns overruns every time)."""


class TerminalError(Exception):
    """Raise from `decide` when the resource cannot converge as specified (phase Failed, no retry)."""


class FailureRecord(msgspec.Struct, frozen=True, kw_only=True):
    """The runtime's durable memory of a failing resource (KV `bosun-checkpoints`, key `q.<token>`), so
    a restarted host does not run the poisoned step again."""

    step: str
    reason: str
    message: str
    since: float
    count: int = 1
    hwm: int = 0
    """The resource's high-water mark when it failed: a spec change after it lifts the quarantine."""
    seq: int = 0
    """For an evolve that failed: the sequence of the event it was folding (skipped on refold)."""
    quarantined: bool = False
    announced: bool = False
    """True once its ReconcileFailed and status are in the log (a crash found at start is not yet)."""


def describe(reason: str, step: str, message: str) -> str:
    how = {"timeout": "timed out", "memory": "exceeded its memory budget", "crash": "crashed its process",
           "terminal": "failed terminally", "exception": "raised"}.get(reason, reason)
    return f"{step} {how}: {message}" if message else f"{step} {how}"


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def failure_events(current: StatusUpdated | None, state: Any, rec: FailureRecord, *, outcome: str,
                   retry_in: float = 0.0, now: float = 0.0) -> list[Event]:
    """ReconcileFailed (the narrative) plus the status it implies, when that status changed."""
    text = describe(rec.reason, rec.step, rec.message)[:400]
    event = ReconcileFailed(error=text, attempt=rec.count, retry_in=retry_in, step=rec.step, reason=rec.reason,
                            since=rec.since, outcome=outcome)
    if outcome == "retry":
        tail = f"; next attempt at {_iso(now + retry_in)}"
    elif outcome == "quarantined":
        tail = "; quarantined: change the spec or run `bosun retry`"
    else:
        tail = "; not retried until the spec changes"
    reason = {"retry": "ReconcileError", "quarantined": "Quarantined", "failed": "TerminalError"}[outcome]
    message = f"{text} ({rec.count} time(s) since {_iso(rec.since)}){tail}"
    cond = Condition(type="Reconciled", status="False", reason=reason, message=message[:600])
    phase = "Failed" if outcome == "failed" else "Degraded"
    base = current or StatusUpdated(observed_generation=getattr(state, "generation", 0), phase=phase)
    others = tuple(c for c in base.conditions if c.type != "Reconciled")
    fields = {**base.fields, "failure": {"step": rec.step, "reason": rec.reason, "message": rec.message[:300],
                                         "since": _iso(rec.since), "count": rec.count, "outcome": outcome,
                                         **({"nextAttempt": _iso(now + retry_in)} if outcome == "retry" else {})}}
    status = StatusUpdated(observed_generation=base.observed_generation, phase=phase,
                           conditions=(*others, cond), fields=fields)
    events: list[Event] = [event]
    if current is None or current.phase != phase or _reconciled(current) != cond:
        events.append(status)
    return events


def _reconciled(status: StatusUpdated) -> Condition | None:
    return next((c for c in status.conditions if c.type == "Reconciled"), None)


def next_record(previous: FailureRecord | None, *, step: str, reason: str, message: str, now: float,
                hwm: int, seq: int = 0) -> FailureRecord:
    """The record after one more failure of the same resource (counts and `since` carry over)."""
    if previous is None or previous.step != step:
        return FailureRecord(step=step, reason=reason, message=message, since=now, hwm=hwm, seq=seq)
    return FailureRecord(step=step, reason=reason, message=message, since=previous.since,
                         count=previous.count + 1, hwm=max(hwm, previous.hwm), seq=seq or previous.seq,
                         quarantined=previous.quarantined)
