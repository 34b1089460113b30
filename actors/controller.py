"""A kind's reconciler as data: two pure functions plus declarations (DESIGN.md, "Actors").

Registering a Controller is all the runtime needs; tests can build their own registry.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgspec

from actors.decisions import Context, Decision, PoolView
from core.events import Event, StatusUpdated
from core.kinds import KindInfo
from core.kinds import register as register_kind
from core.names import Ref

S = TypeVar("S", bound=msgspec.Struct)


@dataclass(frozen=True)
class Controller(Generic[S]):
    info: KindInfo
    state_type: type[S]
    initial: Callable[[Ref], S]
    evolve: Callable[[S, Event], S]
    decide: Callable[[S, float, Context], Decision]
    status_of: Callable[[S], StatusUpdated | None]
    """The last status this actor published (folded from its own StatusUpdated events)."""
    view: Callable[[S], PoolView | None] = lambda _s: None
    """Facts this resource publishes for other actors' Context (e.g. a pool's free capacity)."""
    publishes_view: bool = False
    """True when `view` may return facts: such resources are loaded eagerly at start."""
    finished: Callable[[S], bool] = lambda _s: False
    """True once the resource is gone (all finalizers removed): the runtime may forget it."""

    @property
    def name(self) -> str:
        assert self.info.controller, self.info.name
        return self.info.controller


_CONTROLLERS: dict[str, Controller[Any]] = {}


def register(controller: Controller[Any]) -> Controller[Any]:
    register_kind(controller.info)
    _CONTROLLERS[controller.info.key] = controller
    return controller


def controller_for(kind_key: str) -> Controller[Any] | None:
    return _CONTROLLERS.get(kind_key)


def controllers() -> list[Controller[Any]]:
    return list(_CONTROLLERS.values())
