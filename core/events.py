"""Typed events: the body of every message in the log.

Tags are explicit dotted names, never class names, so renaming a class can't break stored history.
Every type carries a schema version (`version`); `core.codec` upcasts older bodies on read.
New fields always get defaults: events are forever.
"""
from __future__ import annotations

from typing import Any, ClassVar

import msgspec

from core.numbers import Finite, NonNegative


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", rename="camel"):
    """Base of every event and command body."""

    version: ClassVar[int] = 1

    def summary(self) -> str:
        """One human line for timelines and `bosun history`."""
        return type(self).__name__


# ---- spec slice: written only by admission -------------------------------------------------------


class SpecApplied(Event, frozen=True, tag="spec.applied"):
    generation: int
    spec: dict[str, Any]
    labels: dict[str, str] = {}
    created: bool = False
    """True for the first spec of an incarnation (a new resource, or re-created after deletion)."""

    def summary(self) -> str:
        return f"{'created' if self.created else 'spec updated'}, generation {self.generation}"


class DeletionRequested(Event, frozen=True, tag="deletion.requested"):
    generation: int

    def summary(self) -> str:
        return "deletion requested"


# ---- ctl slices: common to every controller ---------------------------------------------------------


class Condition(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    type: str
    status: str  # "True" | "False" | "Unknown"
    reason: str = ""
    message: str = ""
    last_transition_seq: int = 0


class StatusUpdated(Event, frozen=True, tag="status.updated"):
    """The controller's view of the resource, published whenever it changes: projections never recompute it."""

    observed_generation: int
    phase: str
    conditions: tuple[Condition, ...] = ()
    fields: dict[str, Any] = {}
    """Kind-specific status fields, e.g. readyReplicas, replicasByPool."""

    def summary(self) -> str:
        ready = next((c for c in self.conditions if c.type == "Ready"), None)
        why = f" ({ready.reason})" if ready is not None and ready.reason else ""
        return f"status {self.phase}{why}"


class FinalizerRemoved(Event, frozen=True, tag="finalizer.removed"):
    finalizer: str
    generation: int = 0

    def summary(self) -> str:
        return f"finalizer {self.finalizer} removed"


class ReconcileFailed(Event, frozen=True, tag="reconcile.failed"):
    """Appended by the runtime, not by `decide`: the actor raised; it retries with backoff."""

    error: str
    attempt: int
    retry_in: NonNegative
    step: str = "decide"
    """Which pure function failed: "decide" or "evolve"."""
    reason: str = "exception"
    """How: "exception", "terminal", "timeout", "memory" or "crash" (its process died in the step)."""
    since: Finite = 0.0
    """When the current run of failures began (wall clock)."""
    outcome: str = "retry"
    """What the runtime does next: "retry" (at `retry_in`), "quarantined" or "failed" (terminal)."""

    def summary(self) -> str:
        if self.outcome == "retry":
            return (f"{self.step} failed ({self.reason}, attempt {self.attempt}, retry in "
                    f"{self.retry_in:.1f}s): {self.error}")
        return f"{self.step} {self.outcome} ({self.reason}, {self.attempt} time(s)): {self.error}"


class RetryRequested(Event, frozen=True, tag="retry.requested"):
    """An operator asked (`bosun retry`, `POST .../retry`) to lift a quarantine and decide again; on the
    resource's inbox, through admission (audited). The runtime handles it; a kind's `evolve` never sees it."""

    def summary(self) -> str:
        return "retry requested"


COMMON_EVENTS: tuple[type[Event], ...] = (SpecApplied, DeletionRequested, StatusUpdated, FinalizerRemoved,
                                          ReconcileFailed, RetryRequested)


def tag_of(cls: type[Event]) -> str:
    tag = cls.__struct_config__.tag
    assert isinstance(tag, str), cls
    return tag
