"""Where a round's time after a kill goes: restart, the load's drain, convergence — per component.

Why split it: "max convergence after a kill" alone hid that the ≈10 s after a nats-server or gateway
kill was the load generator waiting out the answer of an intent request that died with the server
(the door's request timeout), not Bosun converging. Each phase is measured from the kill.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chaos.figures import table


@dataclass(frozen=True)
class Phases:
    component: str
    restarted: float
    """kill -> the supervisor restarted it (a new live pid) and the gateway answers /healthz."""
    drained: float
    """kill -> every request the writers had in flight was answered (or gave up)."""
    converged: float | None
    """kill -> every deployment Ready at its generation, deleted ones gone (None: never); polled from the
    moment the writers stop, without waiting for requests still unanswered."""
    settled: float = 0.0
    """kill -> converged again after every request was answered (a late write may have landed)."""


def render(phases: Sequence[Phases]) -> str:
    """Per component killed: rounds, and the max (mean) of each phase in seconds."""
    rows: list[list[object]] = []
    for name in sorted({p.component for p in phases}):
        mine = [p for p in phases if p.component == name]

        def stat(values: list[float]) -> str:
            return f"{max(values):.2f} ({sum(values) / len(values):.2f})" if values else "-"

        rows.append([name, len(mine), stat([p.restarted for p in mine]), stat([p.drained for p in mine]),
                     stat([p.converged for p in mine if p.converged is not None]), stat([p.settled for p in mine])])
    return table(["killed", "rounds", "restarted max (mean) s", "load drained", "converged", "settled"], rows)
