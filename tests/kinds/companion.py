"""A kind with a companion controller whose `decide` spins (past the watchdog's budget) for a resource
with `bad: true` while `BROKEN` is set: the companion gets quarantined, the kind's own actor must not.

The kind's own actor counts `escorted.poked` events on the resource's inbox in its status (`pokes`), so
a test can show it keeps reconciling while its companion is parked. Clearing `BROKEN` stands for a fixed
build: after `bosun retry` the companion decides again and says so (`escort.done`).
"""
from __future__ import annotations

import msgspec
from msgspec.structs import replace

from bosun import Companion, Context, Decision, Event, Kind, Resource

BROKEN = {"on": True}


class EscortedSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    bad: bool = False


class Poked(Event, frozen=True, tag="escorted.poked"):
    pass


class EscortDone(Event, frozen=True, tag="escort.done"):
    generation: int


class Escorted(msgspec.Struct, frozen=True):
    pokes: int = 0
    done: int = 0


Live = Resource[EscortedSpec, Escorted]


def _evolve(r: Live, e: Event) -> Escorted:
    if isinstance(e, Poked):
        return replace(r.state, pokes=r.state.pokes + 1)
    if isinstance(e, EscortDone):
        return replace(r.state, done=e.generation)
    return r.state


def _decide(r: Live, now: float, ctx: Context) -> Decision:
    return Decision(events=(r.status_update("Ready", fields={"pokes": r.state.pokes}),))


def _escort(r: Live, now: float, ctx: Context) -> Decision:
    if r.applied is None:
        return Decision()
    if r.applied.bad and BROKEN["on"]:
        while True:
            pass
    return Decision(events=() if r.state.done == r.generation else (EscortDone(generation=r.generation),))


ESCORTED = Kind(name="Escorted", plural="escorteds", spec=EscortedSpec, state=Escorted, evolve=_evolve,
                decide=_decide, controller="escorted", events=(Poked,))
ESCORT = Companion(name="escort", of=ESCORTED, state=Escorted, evolve=_evolve, decide=_escort, events=(EscortDone,))
