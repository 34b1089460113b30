"""A kind with a companion controller whose `decide` spins (past the watchdog's budget) for a resource
with `bad: true` while `BROKEN` is set: the companion gets quarantined, the kind's own actor must not.

The kind's own actor counts `escorted.poked` events on the resource's inbox in its status (`pokes`), so
a test can show it keeps reconciling while its companion is parked. Clearing `BROKEN` stands for a fixed
build: after `bosun retry` the companion decides again and says so (`escort.done`).
"""
from __future__ import annotations

import msgspec
from msgspec.structs import replace

from actors.controller import Controller, register, register_companion
from actors.decisions import Context, Decision
from core.events import Event, SpecApplied, StatusUpdated
from core.kinds import KindInfo
from core.names import Ref

BROKEN = {"on": True}


class EscortedSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    bad: bool = False


class Poked(Event, frozen=True, tag="escorted.poked"):
    pass


class EscortDone(Event, frozen=True, tag="escort.done"):
    generation: int


class Escorted(msgspec.Struct, frozen=True):
    ref: Ref
    spec: EscortedSpec | None = None
    generation: int = 0
    pokes: int = 0
    status: StatusUpdated | None = None
    done: int = 0


def _evolve(s: Escorted, e: Event) -> Escorted:
    if isinstance(e, SpecApplied):
        return replace(s, spec=msgspec.convert(e.spec, EscortedSpec), generation=e.generation)
    if isinstance(e, Poked):
        return replace(s, pokes=s.pokes + 1)
    if isinstance(e, StatusUpdated):
        return replace(s, status=e)
    if isinstance(e, EscortDone):
        return replace(s, done=e.generation)
    return s


def _decide(s: Escorted, now: float, ctx: Context) -> Decision:
    if s.spec is None:
        return Decision()
    ready = StatusUpdated(observed_generation=s.generation, phase="Ready", fields={"pokes": s.pokes})
    return Decision(events=() if s.status == ready else (ready,))


def _escort(s: Escorted, now: float, ctx: Context) -> Decision:
    if s.spec is None:
        return Decision()
    if s.spec.bad and BROKEN["on"]:
        while True:
            pass
    return Decision(events=() if s.done == s.generation else (EscortDone(generation=s.generation),))


INFO = KindInfo(name="Escorted", plural="escorteds", spec_type=EscortedSpec, controller="escorted",
                events=(Poked,))
register(Controller(info=INFO, state_type=Escorted, initial=lambda ref: Escorted(ref=ref), evolve=_evolve,
                    decide=_decide, status_of=lambda s: s.status))
register_companion(Controller(info=INFO, state_type=Escorted, initial=lambda ref: Escorted(ref=ref),
                              evolve=_evolve, decide=_escort, status_of=lambda s: None, companion="escort",
                              events=(EscortDone,)))
