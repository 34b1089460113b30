"""Kinds written as a kind author would, whose `decide` misbehaves for a resource with `bad: true`.

One kind per failure mode (`hang`, `spin`, `raise`, `exit`, `balloon`, `terminal`, `gil`), each loaded with
BOSUN_KINDS from its own module (`tests.kinds.hang`, ...). A resource with `bad: false` of the same
kind is well behaved: it goes Ready at once.
"""
from __future__ import annotations

import os
import re
import time

import msgspec
from msgspec.structs import replace

from actors.controller import Controller, register
from actors.decisions import Context, Decision
from actors.failures import TerminalError
from core.events import Event, SpecApplied, StatusUpdated
from core.kinds import KindInfo
from core.names import Ref


class FaultySpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    bad: bool = False
    note: str = ""


class Faulty(msgspec.Struct, frozen=True):
    ref: Ref
    spec: FaultySpec | None = None
    generation: int = 0
    status: StatusUpdated | None = None


def _evolve(s: Faulty, e: Event) -> Faulty:
    if isinstance(e, SpecApplied):
        return replace(s, spec=msgspec.convert(e.spec, FaultySpec), generation=e.generation)
    if isinstance(e, StatusUpdated):
        return replace(s, status=e)
    return s


def _misbehave(mode: str) -> None:
    if mode == "hang":
        while True:
            time.sleep(0.05)
    elif mode == "spin":
        while True:
            pass
    elif mode == "raise":
        raise RuntimeError("boom: this reconciler has a bug")
    elif mode == "terminal":
        raise TerminalError("this spec can never work")
    elif mode == "exit":
        os._exit(3)
    elif mode == "gil":  # catastrophic backtracking: one C call that never releases the interpreter lock
        re.match(r"(a+)+$", "a" * 64 + "b")
    elif mode == "balloon":
        hoard = []
        while True:
            hoard.append(b"x" * (16 * 2**20))  # touched pages: resident memory grows


def define(name: str, mode: str) -> None:
    def decide(s: Faulty, now: float, ctx: Context) -> Decision:
        if s.spec is None:
            return Decision()
        if s.spec.bad:
            _misbehave(mode)
        ready = StatusUpdated(observed_generation=s.generation, phase="Ready")
        return Decision(events=() if s.status == ready else (ready,))

    register(Controller(info=KindInfo(name=name, plural=f"{name.lower()}s", spec_type=FaultySpec,
                                      controller=name.lower()),
                        state_type=Faulty, initial=lambda ref: Faulty(ref=ref), evolve=_evolve, decide=decide,
                        status_of=lambda s: s.status))
