"""What a failing resource publishes (pure), and a host scope's registry."""
from __future__ import annotations

import pytest

from actors.failures import FailureRecord, failure_events, next_record
from actors.scope import only, scope_of
from core.events import Condition, ReconcileFailed, StatusUpdated


def _record(**kw: object) -> FailureRecord:
    base: dict[str, object] = {"step": "decide", "reason": "timeout", "message": "ran past its 0.5s budget",
                               "since": 1_764_000_000.0, "count": 3}
    return FailureRecord(**{**base, **kw})  # type: ignore[arg-type]


def test_quarantine_is_degraded_with_step_how_since_and_count() -> None:
    ready = StatusUpdated(observed_generation=2, phase="Ready",
                          conditions=(Condition(type="Ready", status="True"),), fields={"readyReplicas": 1})
    narrative, status = failure_events(ready, None, _record(), outcome="quarantined")
    assert isinstance(narrative, ReconcileFailed) and narrative.outcome == "quarantined"
    assert narrative.step == "decide" and narrative.reason == "timeout" and narrative.attempt == 3
    assert isinstance(status, StatusUpdated) and status.phase == "Degraded" and status.observed_generation == 2
    cond = status.conditions[-1]
    assert (cond.type, cond.status, cond.reason) == ("Reconciled", "False", "Quarantined")
    assert "decide timed out" in cond.message and "3 time(s) since 2025-11-24T" in cond.message
    assert status.conditions[0].type == "Ready" and status.fields["readyReplicas"] == 1
    assert status.fields["failure"]["outcome"] == "quarantined"
    # Published again only when something changed.
    assert len(failure_events(status, None, _record(), outcome="quarantined")) == 1


def test_transient_shows_the_next_attempt_and_terminal_is_failed() -> None:
    _, retry = failure_events(None, None, _record(reason="exception", message="RuntimeError('x')"),
                              outcome="retry", retry_in=4.0, now=1_764_000_100.0)
    assert isinstance(retry, StatusUpdated) and retry.phase == "Degraded"
    assert retry.fields["failure"]["nextAttempt"] == "2025-11-24T16:01:44Z"
    assert "next attempt at" in retry.conditions[-1].message
    _, failed = failure_events(None, None, _record(reason="terminal", message="never"), outcome="failed")
    assert isinstance(failed, StatusUpdated) and failed.phase == "Failed"
    assert failed.conditions[-1].reason == "TerminalError"


def test_records_count_failures_of_the_same_step() -> None:
    first = next_record(None, step="decide", reason="crash", message="died", now=10.0, hwm=5)
    second = next_record(first, step="decide", reason="crash", message="died", now=20.0, hwm=9)
    assert (second.count, second.since, second.hwm) == (2, 10.0, 9)
    other = next_record(second, step="evolve", reason="timeout", message="slow", now=30.0, hwm=9, seq=9)
    assert (other.count, other.since, other.seq) == (1, 30.0, 9)


def test_a_scoped_registry_keeps_every_kind_but_only_its_actors() -> None:
    from actors.registry import load

    full = load(())
    pools = only(full, ["GpuPools"])
    assert [c.info.key for c in pools.controllers() if pools.decides(c.info.key)] == ["gpupool"]
    assert pools.resolve("md") is not None and not pools.hosted("modeldeployment")
    assert pools.hosted("quota") and not pools.decides("quota")  # another scope's publisher: viewed only
    rest = only(full, ["gpupool"], exclude=True)
    assert rest.decides("modeldeployment") and not rest.decides("gpupool")
    assert scope_of(["Notebook", "a"]) == "a-notebook" and scope_of([]) == ""
    with pytest.raises(ValueError):
        only(full, ["nope"])
