"""Deliberately broken builds for the checkers to catch — only in tests, only when asked.

A test puts this directory first on PYTHONPATH and names faults in BOSUN_TEST_FAULTS (comma-separated);
every Python process it starts (`bosun up` and each component) then imports this module at start-up
(Python's `sitecustomize` hook) and patches the REAL functions before any kind registers them. Nothing
here exists in the installed package; without the variable this module does nothing.

- `pool-capacity`: the GpuPool actor's capacity check sees an empty pool (every grant it made before is
  forgotten when it decides), so it grants whatever fits the pool on its own — over-allocation.
- `start-twice`: the ModelDeployment actor orders every replica start twice, under two different keys
  (so JetStream's dedup keeps both) — the driver answers the second "exists" and counts one start.
"""
from __future__ import annotations

import dataclasses
import importlib
import os
from collections.abc import Callable
from typing import Any

FAULTS = {f.strip() for f in os.environ.get("BOSUN_TEST_FAULTS", "").split(",") if f.strip()}
Decide = Callable[[Any, float, Any], Any]


def _patch(kind: str, wrap: Callable[[Decide], Decide]) -> None:
    """Replace `actors.<kind>.model.decide` by `wrap(decide)`, in the module and in the registered
    controller (importing the kind's package registers it with the function it had)."""
    from actors.controller import register

    model = importlib.import_module(f"actors.{kind}.model")
    actor = importlib.import_module(f"actors.{kind}.actor")
    model.decide = wrap(model.decide)
    register(dataclasses.replace(actor.CONTROLLER, decide=model.decide))


def _pool_capacity(real: Decide) -> Decide:
    from immutables import Map
    from msgspec.structs import replace

    def decide(state: Any, now: float, ctx: Any) -> Any:
        return real(replace(state, allocations=Map(), allocated=0), now, ctx)

    return decide


def _start_twice(real: Decide) -> Decide:
    from msgspec.structs import replace

    from actors.decisions import Order
    from core.replicas import StartReplica

    def decide(state: Any, now: float, ctx: Any) -> Any:
        decision = real(state, now, ctx)
        again = tuple(Order(o.driver, o.command, o.key + "/again") for o in decision.commands
                      if isinstance(o.command, StartReplica))
        return replace(decision, commands=(*decision.commands, *again)) if again else decision

    return decide


_PATCHES = {"pool-capacity": ("gpupool", _pool_capacity), "start-twice": ("modeldeployment", _start_twice)}
for _name in sorted(FAULTS):
    _patch(*_PATCHES[_name])
