"""A kind's reconciler as the runtime consumes it (two pure functions plus declarations, docs/design.md,
"Actors"), and the registry of kinds a process runs with.

Kind authors never build a `Controller`: they write a `Kind` (`actors.kind`, exported by `bosun`), which
compiles into one. `actors.registry.load()` fills the process's one `Registry` (`DEFAULT`: shipped kinds,
BOSUN_KINDS, the `bosun.kinds` entry points) and every component is handed it at start. A test may build
its own `Registry()` and pass `registry=` instead.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

import msgspec

from actors.decisions import Context, Decision
from core.events import Event, StatusUpdated
from core.kinds import KindInfo
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
    view: Callable[[S], msgspec.Struct | None] = lambda _s: None
    """Facts this resource publishes for other actors' Context (e.g. a pool's free capacity)."""
    view_type: type[msgspec.Struct] | None = None
    """The type `view` returns: replay decodes the views recorded with each decision as this type."""
    publishes_view: bool = False
    """True when `view` may return facts: such resources are loaded eagerly at start."""
    companion: str = ""
    """Set for a second controller of an existing kind (e.g. "autoscaler" for ModelDeployment): its own
    actor per resource, writing only `ctl.<companion>`, seeing every message of the resource."""
    wants: Callable[[Event], bool] | None = None
    """Companions only: the event that makes a resource need this actor (until then none is created, so
    resources that do not use the companion cost nothing)."""
    events: tuple[type[Event], ...] = ()
    """Companions only: the event types it writes on its ctl slice. They join the kind's own (`KindInfo.events`)
    when the companion is registered, so the kind's module need not know its companions."""
    behaviour: int = 1
    """The output its `decide` writes today (`Kind.behaviour`): handed to it in the Context, recorded with each
    decision."""

    @property
    def name(self) -> str:
        if self.companion:
            return self.companion
        assert self.info.controller, self.info.name
        return self.info.controller


class Registry:
    """Every kind a process knows: its API facts (`KindInfo`) and, when it has an actor, its Controller.

    Built once at start (`actors.registry.load`) and given to the host, the projector, the gateway and
    the CLI: the one table through which they decode and resolve kinds.
    """

    def __init__(self) -> None:
        self._controllers: dict[str, Controller[Any]] = {}
        self._companions: dict[str, dict[str, Controller[Any]]] = {}
        """Kind key -> companion name -> its controller (a second actor per resource, e.g. the autoscaler)."""
        self._kinds: dict[str, KindInfo] = {}
        self._aliases: dict[str, KindInfo] = {}
        self._viewers: set[str] = set()
        """Kind keys whose actors this registry's host only folds for their views (`add_viewer`)."""
        self._actors: dict[str, list[tuple[str, Controller[Any]]]] = {}
        """Kind key -> (cell key suffix, controller) of its actors: `actors_for` runs for every delivery."""

    def add(self, controller: Controller[Any]) -> Controller[Any]:
        self.add_kind(controller.info)
        self._controllers[controller.info.key] = controller
        self._actors.clear()
        return controller

    def add_viewer(self, controller: Controller[Any]) -> Controller[Any]:
        """A publisher (pools, Quotas) whose actors another host decides: this one folds them for their views
        only (its `decide` Contexts need them), never decides, snapshots or owns them."""
        self._viewers.add(controller.info.key)
        return self.add(controller)

    def decides(self, kind_key: str) -> bool:
        """True for kinds whose actors this registry's host decides (hosted, and not only viewed)."""
        return kind_key in self._controllers and kind_key not in self._viewers

    def add_companion(self, controller: Controller[Any]) -> Controller[Any]:
        """Add a controller to a registered kind without touching the kind's own controller.

        The companion's event types are added to the kind's (a new `KindInfo`, entered in place of the old
        one, shared by the kind's controller and all its companions): its narrative decodes wherever the
        kind's does.
        """
        key = controller.info.key
        primary = self._controllers.get(key)
        assert controller.companion and primary is not None, key
        extra = tuple(e for e in controller.events if e not in primary.info.events)
        if extra:
            info = replace(primary.info, events=primary.info.events + extra)
            self.add(replace(primary, info=info))
            companions = self._companions.get(key, {})
            self._companions[key] = {name: replace(c, info=info) for name, c in companions.items()}
        added = replace(controller, info=self._controllers[key].info)
        self._companions.setdefault(key, {})[controller.companion] = added
        self._actors.clear()
        return added

    def add_kind(self, info: KindInfo) -> KindInfo:
        self._kinds[info.key] = info
        for alias in (info.key, info.plural.lower(), *info.short_names):
            self._aliases[alias] = info
        return info

    def controller_for(self, kind_key: str) -> Controller[Any] | None:
        return self._controllers.get(kind_key)

    def controllers(self) -> list[Controller[Any]]:
        return list(self._controllers.values())

    def companions(self, kind_key: str) -> list[Controller[Any]]:
        return list(self._companions.get(kind_key, {}).values())

    def actors_for(self, ref: Ref) -> list[tuple[str, Controller[Any]]]:
        """(cell key, controller) of every actor of one resource: the kind's controller, then its companions.

        The kind's own actor is keyed by the resource token (as always); a companion's by `<token>.<name>`.
        """
        actors = self._actors.get(ref.kind)
        if actors is None:
            primary = self._controllers.get(ref.kind)
            actors = [] if primary is None else [("", primary), *((f".{name}", c) for name, c in
                                                                 self._companions.get(ref.kind, {}).items())]
            self._actors[ref.kind] = actors
        token = ref.token
        return [(token + suffix, c) for suffix, c in actors]

    def actor_of_key(self, key: str) -> tuple[Ref, Controller[Any]] | None:
        """The resource and controller of a cell key (see `actors_for`); None for an unknown one."""
        kind, namespace, name, *rest = key.split(".")
        ref = Ref(kind, namespace, name)
        ctrl = self._companions.get(kind, {}).get(rest[0]) if rest else self._controllers.get(kind)
        return None if ctrl is None else (ref, ctrl)

    def hosted(self, kind_key: str) -> bool:
        """True for kinds that have an actor (the others are policy, read by admission)."""
        return kind_key in self._controllers

    def kind(self, kind_key: str) -> KindInfo:
        return self._kinds[kind_key]

    def resolve(self, name: str) -> KindInfo | None:
        """Case-insensitive, singular or plural or short name."""
        return self._aliases.get(name.lower())

    def kinds(self) -> list[KindInfo]:
        return list(self._kinds.values())

    def consumers(self) -> list[KindInfo]:
        """Kinds that declare a usage: what Quotas govern, cost and what-if price."""
        return [k for k in self._kinds.values() if k.usage is not None]

    def suppliers(self) -> list[KindInfo]:
        """Kinds that declare a supply: what usage is priced at."""
        return [k for k in self._kinds.values() if k.supply is not None]

    def view_types(self) -> dict[str, type[msgspec.Struct]]:
        """Kind key -> type of the views its resources publish (for decoding recorded Contexts)."""
        return {k: c.view_type for k, c in self._controllers.items() if c.view_type is not None}


DEFAULT = Registry()
"""The process's registry: what `actors.registry.load()` fills and returns."""
