"""Deliberately broken builds for the checkers to catch — only in tests, only when asked.

A test puts this directory first on PYTHONPATH and names faults in BOSUN_TEST_FAULTS (comma-separated);
every Python process it starts (`bosun up` and each component) then imports this module at start-up
(Python's `sitecustomize` hook) and patches the REAL functions before any kind is declared with them. Nothing
here exists in the installed package; without the variable this module does nothing.

- `pool-capacity`: the GpuPool actor judges requests against an unbounded capacity (its capacity check is
  off), and the view it publishes shows the pool empty (so every deployment keeps asking). The commands it
  sends the data plane keep the real capacity: the sim refuses what does not fit, as it would.
- `start-twice`: the ModelDeployment actor orders every replica start twice, under two different keys
  (so JetStream's dedup keeps both) — the driver answers the second "exists" and counts one start.
"""
from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from typing import Any

FAULTS = {f.strip() for f in os.environ.get("BOSUN_TEST_FAULTS", "").split(",") if f.strip()}
Decide = Callable[[Any, float, Any], Any]


def _patch(kind: str, wrap: Callable[[Any], Decide], wrap_view: Callable[[Any], Any] | None = None) -> None:
    """Replace `actors.<kind>.model.decide` (and `view`) by their wrapped selves before the kind's
    declaration (`actors.<kind>.kind`, imported later by the registry) takes them."""
    model = importlib.import_module(f"actors.{kind}.model")
    assert f"actors.{kind}.kind" not in sys.modules, "a fault must be patched in before the kind is declared"
    model.decide = wrap(model.decide)
    if wrap_view is not None:
        model.view = wrap_view(model.view)


def _pool_capacity(real: Decide) -> Decide:
    from msgspec.structs import replace

    from core.replicas import EnsurePool

    def decide(r: Any, now: float, ctx: Any) -> Any:
        if r.applied is None:
            return real(r, now, ctx)
        decision = real(replace(r, applied=replace(r.applied, capacity=1_000_000)), now, ctx)
        honest = tuple(replace(o, command=replace(o.command, capacity=r.applied.gpus))
                       if isinstance(o.command, EnsurePool) else o for o in decision.commands)
        return replace(decision, commands=honest)

    return decide


def _pool_looks_empty(real: Callable[[Any], Any]) -> Callable[[Any], Any]:
    from msgspec.structs import replace

    def view(state: Any) -> Any:
        shown = real(state)
        return None if shown is None else replace(shown, allocated=0)

    return view


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


_PATCHES: dict[str, tuple[str, Callable[[Any], Decide], Callable[[Any], Any] | None]] = {
    "pool-capacity": ("gpupool", _pool_capacity, _pool_looks_empty),
    "start-twice": ("modeldeployment", _start_twice, None),
}
for _name in sorted(FAULTS):
    _patch(*_PATCHES[_name])
