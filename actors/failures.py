"""The step-failure policy, pure and in one place: what a failed step means, as data, and how a failing
resource looks.

A kind's `decide` may raise `TerminalError` (this spec can never work: phase `Failed`, no retry until the
spec changes); any other exception is transient (backoff with full jitter, capped, the next attempt time
in the condition). The runtime adds the failures a kind cannot report itself: a step that overran its
time or memory budget (`Overrun`, raised into it by the watchdog), a step in which the process died, or a
transient error repeated `QUARANTINE_AFTER` times; each of those quarantines the resource (its decisions
are parked until its spec changes or an operator asks for a retry).

The kernel (`actors.kernel.decide`) turns a raised step into a `Failure` (`raised`); the shells ask this
module about the rest (`fenced`, `unreachable`, `evolve_overran`, `crashed`, `parked`) and only carry out
what it says: the host's reconciler, isolation and quarantine book, the what-if fork. The watchdog and
the supervisor do the I/O of budgets and stuck processes (`core.steps.overdue` is theirs).
"""
from __future__ import annotations

import time
from typing import Any, NamedTuple

import msgspec

from actors.decisions import backoff
from core.events import Condition, Event, ReconcileFailed, StatusUpdated
from core.steps import Crash

QUARANTINE_AFTER = 5
"""Consecutive transient failures after which a resource is parked instead of retried."""
CRASHES_TO_QUARANTINE = 2
"""Process deaths inside the same resource's step after which it is quarantined (one may be a kill -9)."""
TIMEOUTS_TO_QUARANTINE = 2
"""Consecutive budget overruns after which it is quarantined (the first is retried: a loaded machine can
stretch a step once; a step that never returns overruns every time)."""
RETRY_BASE, RETRY_CAP = 1.0, 60.0
"""Backoff of a failing step (full jitter, deterministic per resource and attempt: replays agree)."""


class TerminalError(Exception):
    """Raise from `decide` when the resource cannot converge as specified (phase Failed, no retry)."""


class Overrun(BaseException):
    """Raised inside a step that overran its budget (`actors.watchdog`). A BaseException: `except
    Exception` in a kind's code does not swallow it."""

    reason = "timeout"


class MemoryOverrun(Overrun):
    reason = "memory"


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


class Failure(NamedTuple):
    """A step that produced no durable decision, and what the runtime does about it."""

    reason: str
    """exception | timeout | memory | terminal | conflict (a write fenced: the actor is behind the log) |
    unavailable (the log could not be reached)"""
    error: BaseException | None
    outcome: str = "retry"
    """retry | quarantined (parked until its spec changes or a retry is asked) | failed (terminal)"""
    record: FailureRecord | None = None
    """Shown in the resource's status (`failure_events`); None: nothing to record."""
    retry_in: float = 0.0
    wake_at: float | None = None
    """When to decide again; None: only when something new arrives."""
    failures: int = 0
    """The actor's consecutive transient failures, counting this one."""
    keep: bool = False
    """The runtime remembers `record` across restarts (its quarantine book)."""


def delay(token: str, attempt: int) -> float:
    """How long a failing resource waits before its `attempt`th retry."""
    return backoff(attempt, token, base=RETRY_BASE, cap=RETRY_CAP)


def raised(error: BaseException, held: FailureRecord | None, *, token: str, failures: int, hwm: int,
           now: float) -> Failure:
    """What a `decide` that raised `error` means: `held` is the actor's record, `failures` its count so far."""
    if isinstance(error, Overrun):  # retried once (a loaded box can stretch one step), then quarantined
        rec = next_record(held, step="decide", reason=error.reason, message=str(error), now=now, hwm=hwm)
        if rec.count >= TIMEOUTS_TO_QUARANTINE:
            return _quarantine(error.reason, error, rec, failures)
        wait = delay(token, rec.count)
        return Failure(error.reason, error, "retry", rec, wait, now + wait, failures, keep=True)
    if isinstance(error, TerminalError):  # Failed, and no retry until something new arrives
        rec = FailureRecord(step="decide", reason="terminal", message=str(error)[:300], since=now, hwm=hwm)
        return Failure("terminal", error, "failed", rec, failures=failures)
    n = failures + 1  # transient: Degraded, retried with backoff, quarantined at the QUARANTINE_AFTERth
    wait = delay(token, n)
    since = now - sum(delay(token, i) for i in range(1, n))
    rec = FailureRecord(step="decide", reason="exception", message=repr(error)[:300], since=since, count=n, hwm=hwm)
    if n >= QUARANTINE_AFTER:
        return _quarantine("exception", error, rec, n)
    return Failure("exception", error, "retry", rec, wait, now + wait, n)


def _quarantine(reason: str, error: BaseException, rec: FailureRecord, failures: int) -> Failure:
    rec = msgspec.structs.replace(rec, quarantined=True, announced=False)
    return Failure(reason, error, "quarantined", rec, failures=failures, keep=True)


def fenced(error: BaseException, *, token: str, failures: int, now: float) -> Failure:
    """A write the log refused (another writer's sequence): the actor is behind; it decides again shortly."""
    return Failure("conflict", error, wake_at=now + backoff(1, token), failures=failures)


UNREACHABLE_BASE, UNREACHABLE_CAP = 0.2, 1.0
"""Backoff of a step whose write found no log (a stream leader being elected after a node's loss): not the
resource's fault, and a refused append costs the new leader nothing, so it asks again at least every second
and converges within about a second of the election (with the failing-step backoff it waited up to 8 s more)."""


def unreachable(error: BaseException, *, token: str, failures: int, now: float) -> Failure:
    """The log could not be reached: retried with backoff, nothing recorded (there is nowhere to)."""
    n = failures + 1
    wait = backoff(n, token, base=UNREACHABLE_BASE, cap=UNREACHABLE_CAP)
    return Failure("unavailable", error, "retry", None, wait, now + wait, n)


def parked(held: FailureRecord | None) -> bool:
    """A quarantined actor decides nothing until its spec changes or an operator asks for a retry."""
    return held is not None and held.quarantined


def evolve_overran(held: FailureRecord | None, seq: int, error: Overrun, now: float) -> FailureRecord:
    """The event at `seq` cannot be folded: the resource is quarantined (and says so at its next decide)."""
    rec = next_record(held, step="evolve", reason=error.reason, message=str(error), now=now, hwm=seq, seq=seq)
    return msgspec.structs.replace(rec, quarantined=True, announced=False)


def crashed(previous: FailureRecord | None, crash: Crash, last_seq: int, now: float) -> FailureRecord:
    """The record of a step the previous process died in (found at start): its step runs once more at most."""
    message = crash.message or "the controller process died during this step"
    rec = next_record(previous, step=crash.step, reason=crash.reason, message=message, now=now,
                      hwm=max(last_seq, crash.seq), seq=crash.seq if crash.step == "evolve" else 0)
    quarantined = rec.quarantined or crash.reason != "crash" or rec.count >= CRASHES_TO_QUARANTINE
    return msgspec.structs.replace(rec, quarantined=quarantined, announced=False)


def next_record(previous: FailureRecord | None, *, step: str, reason: str, message: str, now: float,
                hwm: int, seq: int = 0) -> FailureRecord:
    """The record after one more failure of the same resource (counts and `since` carry over)."""
    if previous is None or previous.step != step:
        return FailureRecord(step=step, reason=reason, message=message, since=now, hwm=hwm, seq=seq)
    return FailureRecord(step=step, reason=reason, message=message, since=previous.since,
                         count=previous.count + 1, hwm=max(hwm, previous.hwm), seq=seq or previous.seq,
                         quarantined=previous.quarantined)
