"""A kind's reconciler as data: two pure functions plus declarations (DESIGN.md, "Actors").

Registering a Controller is all the runtime needs; tests can build their own registry.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Generic, TypeVar

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
    companion: str = ""
    """Set for a second controller of an existing kind (e.g. "autoscaler" for ModelDeployment): its own
    actor per resource, writing only `ctl.<companion>`, seeing every message of the resource."""
    wants: Callable[[Event], bool] | None = None
    """Companions only: the event that makes a resource need this actor (until then none is created, so
    resources that do not use the companion cost nothing)."""

    @property
    def name(self) -> str:
        if self.companion:
            return self.companion
        assert self.info.controller, self.info.name
        return self.info.controller


_CONTROLLERS: dict[str, Controller[Any]] = {}


def register(controller: Controller[Any]) -> Controller[Any]:
    register_kind(controller.info)
    _CONTROLLERS[controller.info.key] = controller
    return controller


_COMPANIONS: dict[str, dict[str, Controller[Any]]] = {}


def register_companion(controller: Controller[Any]) -> Controller[Any]:
    """Add a controller to a registered kind without touching the kind's own controller."""
    assert controller.companion and controller.info.key in _CONTROLLERS, controller.info.key
    _COMPANIONS.setdefault(controller.info.key, {})[controller.companion] = controller
    return controller


def controller_for(kind_key: str) -> Controller[Any] | None:
    return _CONTROLLERS.get(kind_key)


def actors_for(ref: Ref) -> list[tuple[str, Controller[Any]]]:
    """(cell key, controller) of every actor of one resource: the kind's controller, then its companions.

    The kind's own actor is keyed by the resource token (as always); a companion's by `<token>.<name>`.
    """
    primary = _CONTROLLERS.get(ref.kind)
    if primary is None:
        return []
    token = ref.token
    return [(token, primary), *((f"{token}.{name}", c) for name, c in _COMPANIONS.get(ref.kind, {}).items())]


def actor_of_key(key: str) -> tuple[Ref, Controller[Any]] | None:
    """The resource and controller of a cell key (see `actors_for`); None for an unknown one."""
    kind, namespace, name, *rest = key.split(".")
    ref = Ref(kind, namespace, name)
    ctrl = _COMPANIONS.get(kind, {}).get(rest[0]) if rest else _CONTROLLERS.get(kind)
    return None if ctrl is None else (ref, ctrl)


def controllers() -> list[Controller[Any]]:
    return list(_CONTROLLERS.values())
