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

from bosun import Context, Decision, Kind, Resource, TerminalError


class FaultySpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    bad: bool = False
    note: str = ""


class Faulty(msgspec.Struct, frozen=True):
    pass


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


def define(name: str, mode: str) -> Kind[FaultySpec, Faulty]:
    def decide(r: Resource[FaultySpec, Faulty], now: float, ctx: Context) -> Decision:
        if r.spec.bad:
            _misbehave(mode)
        return Decision(events=(r.status_update("Ready"),))

    return Kind(name=name, spec=FaultySpec, state=Faulty, decide=decide, controller=name.lower())
