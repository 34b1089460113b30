"""A companion controller's quarantine on its resource's row (pure): a condition the kind's own status
keeps until it is lifted.

A companion (e.g. the autoscaler) has its own actor and ctl slice but never the resource's status, so
when the runtime quarantines it (a `ReconcileFailed` with outcome "quarantined" on `ctl.<companion>`),
the row gains `<Companion>Reconciled` = False, reason `Quarantined`, and keeps it across the kind's own
status updates; `bosun retry` (a `RetryRequested`) or a new spec lifts it, as they lift the quarantine.
The resource itself keeps reconciling.
"""
from __future__ import annotations

from core.events import Condition, ReconcileFailed

REASON = "Quarantined"


def condition_type(companion: str) -> str:
    return f"{companion[:1].upper()}{companion[1:]}Reconciled"


def quarantined(companion: str, event: ReconcileFailed) -> Condition:
    return Condition(type=condition_type(companion), status="False", reason=REASON,
                     message=f"the {companion} controller is quarantined: {event.error}"[:500]
                             + "; change the spec or run `bosun retry`")


def is_companion_quarantine(cond: Condition) -> bool:
    return cond.reason == REASON and cond.type != "Reconciled" and cond.type.endswith("Reconciled")


def with_condition(conditions: tuple[Condition, ...], cond: Condition) -> tuple[Condition, ...]:
    return (*(c for c in conditions if c.type != cond.type), cond)


def kept(before: tuple[Condition, ...], now: tuple[Condition, ...]) -> tuple[Condition, ...]:
    """The kind's new conditions plus the companion quarantines it does not know about."""
    types = {c.type for c in now}
    return (*now, *(c for c in before if is_companion_quarantine(c) and c.type not in types))


def lifted(conditions: tuple[Condition, ...]) -> tuple[Condition, ...]:
    return tuple(c for c in conditions if not is_companion_quarantine(c))
