"""A kind as its author writes it: one `Kind` object, and the `Resource` envelope the runtime keeps for it.

The runtime owns every resource's lifecycle (its ref, typed spec, generation, deletion, finalizers, last
status, what it reported to its Quotas); a kind's own state holds only its own fields. A kind is two pure
functions over the envelope:

    evolve(r: Resource[Spec, State], event) -> State        # fold; r already holds the event's lifecycle facts
    decide(r: Resource[Spec, State], now, ctx) -> Decision  # runs once r has a spec, until r is gone

`Kind.compiled` is the `actors.controller.Controller` the runtime consumes, built from it. The compiled
controller decodes each spec once, resets the kind's state for a new incarnation, never appends a status
equal to the last one (whatever `decide` returns), and reports fixed usage to the namespace's Quotas.
A `Companion` is a second controller of an existing kind (the autoscaler of ModelDeployment).
"""
from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from dataclasses import replace as with_changes
from functools import cached_property
from typing import Any, ClassVar, Generic, TypeVar, cast

import msgspec
from msgspec.structs import replace

from actors import quotas
from actors.controller import Controller, Registry
from actors.decisions import Context, Decision, Order
from core.events import Condition, DeletionRequested, Event, FinalizerRemoved, SpecApplied, StatusUpdated
from core.kinds import Column, FieldError, KindInfo
from core.names import Ref
from core.replicas import Command
from core.usage import Supply, Usage

SpecT = TypeVar("SpecT", bound=msgspec.Struct)
StateT = TypeVar("StateT", bound=msgspec.Struct)
Legacy = Callable[[dict[str, Any]], dict[str, Any]]


class Resource(msgspec.Struct, Generic[SpecT, StateT], frozen=True, kw_only=True, omit_defaults=True):
    """One resource as the runtime keeps it: its lifecycle, and the kind's own `state`."""

    ref: Ref
    state: StateT
    applied: SpecT | None = None
    """The latest spec, decoded once as the kind's spec type; None until the first (see `spec`)."""
    generation: int = 0
    deleting: bool = False
    finalizers: tuple[str, ...] = ()
    """The kind's finalizers not yet removed in this incarnation."""
    status: StatusUpdated | None = None
    """The last status published on the resource (by its controller, or the runtime's failure status)."""
    reported: quotas.Asked = quotas.Asked()
    """What the resource told its namespace's Quotas it uses (`actors.quotas.reports`)."""

    finalizers_of_kind: ClassVar[tuple[str, ...]] = ()
    legacy: ClassVar[Legacy | None] = None

    @property
    def spec(self) -> SpecT:
        """The latest spec: `decide` runs only once there is one (`evolve` and `view` may see `applied` None)."""
        if self.applied is None:
            raise AttributeError(f"{self.ref} has no spec yet")
        return self.applied

    @property
    def gone(self) -> bool:
        """Deletion is complete: every finalizer is removed (at once for a kind without finalizers)."""
        return self.deleting and not self.finalizers

    def __getattr__(self, name: str) -> Any:
        """Read-through to the kind's own fields (`r.allocations`), for tools that read any resource."""
        if name.startswith("_") or name == "state":
            raise AttributeError(name)
        return getattr(self.state, name)

    def status_update(self, phase: str, *conditions: Condition, fields: Mapping[str, Any] | None = None
                      ) -> StatusUpdated:
        """A status at this resource's generation (append it always: an unchanged one is dropped)."""
        return StatusUpdated(observed_generation=self.generation, phase=phase, conditions=conditions,
                             fields=dict(fields or {}))

    def order(self, driver: str, command: Command, key: str) -> Order:
        """A command for `driver`, its dedup key under this resource (`<token>/<key>`: unique per logical
        command, so a retry after a crash appends nothing twice)."""
        return Order(driver, command, f"{self.ref.token}/{key}")

    def release(self) -> tuple[FinalizerRemoved, ...]:
        """The events that end a deletion: every finalizer still held, removed."""
        return tuple(FinalizerRemoved(finalizer=f, generation=self.generation) for f in self.finalizers)

    @classmethod
    def shown(cls, built: dict[str, Any]) -> dict[str, Any]:
        """Plain data of a Resource as people read it (`bosun replay`): lifecycle, then the kind's fields."""
        return {"ref": built["ref"], "spec": built.get("applied"), "generation": built.get("generation", 0),
                "deleting": built.get("deleting", False), "finalizers": built.get("finalizers", []),
                "status": built.get("status"), **built["state"]}

    @classmethod
    def upgrade(cls, old: dict[str, Any]) -> dict[str, Any]:
        """A snapshot of the state a kind kept before the envelope (lifecycle fields inline), as an envelope."""
        old = dict(cls.legacy(old) if cls.legacy is not None else old)
        env: dict[str, Any] = {k: old.pop(k) for k in ("ref", "generation", "deleting", "status", "reported")
                               if k in old}
        env["applied"] = old.pop("spec", None)
        env["finalizers"] = [] if old.pop("finalized", False) else list(cls.finalizers_of_kind)
        env["state"] = old
        return env


def _keep(r: Resource[Any, StateT], _event: Event) -> StateT:
    return r.state


def _no_checks(_spec: Any) -> list[FieldError]:
    return []


@dataclass(frozen=True)
class Kind(Generic[SpecT, StateT]):
    """Everything about one kind: its API facts, its actor (when it has `decide`) and its hooks."""

    name: str
    """E.g. "ModelDeployment": its key (lowercase) names it in subjects, its plural in paths."""
    spec: type[SpecT]
    state: type[StateT] | None = None
    """The kind's own state (every field defaulted); None with no `decide`: a policy kind, no actor."""
    evolve: Callable[[Resource[SpecT, StateT], Event], StateT] = _keep
    decide: Callable[[Resource[SpecT, StateT], float, Context], Decision] | None = None
    events: tuple[type[Event], ...] = ()
    """Its own event types: ctl narrative, inbox protocols it speaks."""
    finalizers: tuple[str, ...] = ()
    """Held from creation until `decide` releases them (`Resource.release`): deletion waits for it."""
    governance: bool = False
    """Identities, policy, limits or shared capacity: RBAC's `kinds: ["*"]` never covers it (`KindInfo`)."""
    exec_fields: tuple[str, ...] = ()
    """Spec fields (API names) that decide what code a resource runs: setting or changing any of them needs
    the RBAC verb `exec` on top of `apply` (ModelDeployment's `command` and `env`)."""
    usage: Callable[[SpecT], Usage | None] | None = None
    """What one resource may consume: Quotas charge it at admission and in their ledger; cost and what-if
    price it."""
    supply: Callable[[SpecT], Supply | None] | None = None
    """What one resource offers (GPUs at a price): what usage is priced at."""
    view: Callable[[Resource[SpecT, StateT]], msgspec.Struct | None] | None = None
    """Facts a resource publishes for other actors' Context (e.g. a pool's free GPUs)."""
    view_type: type[msgspec.Struct] | None = None
    validate: Callable[[SpecT], list[FieldError]] = _no_checks
    plural: str = ""
    """Default: the name, lowercase, plus "s"."""
    controller: str = ""
    """The ctl slice its actor writes (`ctl.<controller>`); default: the plural."""
    short_names: tuple[str, ...] = ()
    columns: tuple[Column, ...] = ()
    cluster_scoped: bool = False
    reborn: Callable[[StateT], StateT] | None = None
    """What a re-created resource keeps of its last incarnation (default: nothing)."""
    behaviour: int = 1
    """The version of what `decide` writes. Bump it when `decide` writes differently for the same state and
    Context, and keep the older output for `ctx.behaviour` below it: each decision records the behaviour it ran
    with, so `replay --check` holds histories recorded before the change against the output they had."""
    legacy: Legacy | None = field(default=None, repr=False)
    """Maps a snapshot written before the envelope existed onto `Resource.upgrade`'s input (renames)."""

    @cached_property
    def info(self) -> KindInfo:
        plural = self.plural or f"{self.name.lower()}s"
        return KindInfo(name=self.name, plural=plural, spec_type=self.spec,
                        events=self.events, validate=self.validate,
                        controller=(self.controller or plural) if self.decide else None,
                        finalizers=self.finalizers, cluster_scoped=self.cluster_scoped,
                        short_names=self.short_names, columns=self.columns, usage=self.usage, supply=self.supply,
                        governance=self.governance, exec_fields=self.exec_fields)

    @cached_property
    def resource_type(self) -> type[Resource[SpecT, StateT]]:
        """The envelope of this kind, a concrete Struct (what snapshots decode as)."""
        return _resource_type(self.name, self.spec, self.state, self.finalizers, self.legacy)

    @cached_property
    def compiled(self) -> Controller[Any] | None:
        """The controller the runtime runs for this kind (None for a kind without an actor)."""
        if self.decide is None or self.state is None:
            return None
        return _compile(self, self.decide, self.state, self.evolve, self.resource_type, primary=True)

    def add_to(self, registry: Registry) -> KindInfo:
        ctrl = self.compiled
        return registry.add_kind(self.info) if ctrl is None else registry.add(ctrl).info


@dataclass(frozen=True)
class Companion(Generic[SpecT, StateT]):
    """A second controller of an existing kind: its own actor per resource, writing only `ctl.<name>`,
    seeing every message of the resource. Its `decide` runs until the resource is gone (also before its
    spec, so a companion keeps what it needs of the spec in its own state)."""

    name: str
    of: Kind[SpecT, Any]
    state: type[StateT]
    decide: Callable[[Resource[SpecT, StateT], float, Context], Decision]
    evolve: Callable[[Resource[SpecT, StateT], Event], StateT] = _keep
    events: tuple[type[Event], ...] = ()
    """The event types it writes: they join the kind's own when it is added."""
    wants: Callable[[Event], bool] | None = None
    """The event that makes a resource need this actor (until then none is created)."""
    behaviour: int = 1
    """As `Kind.behaviour`, for this companion's own `decide`."""
    legacy: Legacy | None = field(default=None, repr=False)

    @cached_property
    def compiled(self) -> Controller[Any]:
        rtype = _resource_type(f"{self.of.name}{self.name.title()}", self.of.spec, self.state, self.of.finalizers,
                               self.legacy)
        return with_changes(_compile(self.of, self.decide, self.state, self.evolve, rtype, primary=False),
                            companion=self.name, wants=self.wants, events=self.events, behaviour=self.behaviour)

    def add_to(self, registry: Registry) -> KindInfo:
        return registry.add_companion(self.compiled).info


def _resource_type(name: str, spec: type[Any], state: type[Any] | None, finalizers: tuple[str, ...],
                   legacy: Legacy | None) -> type[Resource[Any, Any]]:
    def body(ns: dict[str, Any]) -> None:
        ns.update(finalizers_of_kind=finalizers, legacy=staticmethod(legacy) if legacy else None,
                  __module__=__name__)

    base = cast(Any, Resource)[spec, state or msgspec.Struct]
    return types.new_class(f"{name}Resource", (base,), {"frozen": True, "kw_only": True, "omit_defaults": True},
                           body)


def _compile(kind: Kind[Any, Any], decide: Callable[[Any, float, Context], Decision], state: type[Any],
             evolve: Callable[[Any, Event], Any], rtype: type[Resource[Any, Any]], *, primary: bool
             ) -> Controller[Any]:
    """The Controller of one actor of `kind`: the envelope's fold and decide around the author's."""
    spec_type, finalizers = kind.spec, kind.finalizers
    reborn = kind.reborn if primary else None
    usage = kind.usage if primary else None

    def initial(ref: Ref) -> Resource[Any, Any]:
        return rtype(ref=ref, state=state(), finalizers=finalizers)

    def fold(r: Resource[Any, Any], event: Event) -> Resource[Any, Any]:
        match event:
            case SpecApplied():
                if event.created and r.gone:  # a new incarnation (events before the first spec are kept)
                    r = rtype(ref=r.ref, state=reborn(r.state) if reborn else state())
                r = replace(r, applied=msgspec.convert(event.spec, spec_type), generation=event.generation,
                            deleting=False, finalizers=finalizers)
            case DeletionRequested():
                r = replace(r, deleting=True)
            case FinalizerRemoved(finalizer=f) if f in r.finalizers:
                r = replace(r, finalizers=tuple(x for x in r.finalizers if x != f))
            case StatusUpdated():
                r = replace(r, status=event)
            case quotas.QuotaRequested(fixed=True) if primary:
                r = replace(r, reported=quotas.fold_report(r.reported, r.ref.token, event))
        own = evolve(r, event)
        return r if own is r.state else replace(r, state=own)

    def decide_step(r: Resource[Any, Any], now: float, ctx: Context) -> Decision:
        if r.gone:
            return _NOTHING
        if primary and r.applied is None:
            # Deleted before any of its specs could be folded (one stored with a poison value): its `decide`
            # never ran, so nothing was started to undo; the runtime ends the deletion.
            return Decision(events=r.release()) if r.deleting and r.finalizers else _NOTHING
        d = decide(r, now, ctx)
        events = _changed_statuses(r.status, d.events)
        reports = quotas.reports(r.ref, usage(r.spec), r.deleting, r.reported, ctx) if usage else ()
        if events is d.events and not reports:
            return d
        return Decision(events=events, messages=(*d.messages, *reports), commands=d.commands, wake_at=d.wake_at)

    def status_of(r: Resource[Any, Any]) -> StatusUpdated | None:
        return r.status if primary else None

    view = kind.view if primary else None
    return Controller(info=kind.info, state_type=rtype, initial=initial, evolve=fold, decide=decide_step,
                      status_of=status_of, view=view or _no_view, view_type=kind.view_type if primary else None,
                      publishes_view=primary and view is not None, behaviour=kind.behaviour if primary else 1)


_NOTHING = Decision()


def _no_view(_r: Any) -> None:
    return None


def _changed_statuses(last: StatusUpdated | None, events: tuple[Event, ...]) -> tuple[Event, ...]:
    """`events` without any status equal to the one before it: an unchanged status is never appended."""
    kept: list[Event] | None = None
    for i, e in enumerate(events):
        if isinstance(e, StatusUpdated):
            if e == last:
                kept = kept if kept is not None else list(events[:i])
                continue
            last = e
        if kept is not None:
            kept.append(e)
    return events if kept is None else tuple(kept)
