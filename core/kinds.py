"""What the API needs to know about each resource kind (`KindInfo`): names, spec type, events, hooks.

A kind is declared once (a `Kind`, `actors.kind`) and compiled into its `KindInfo` and controllers when it
is added to the process's `actors.controller.Registry`. There is no table here: the codec, the reducer,
admission and the CLI are handed the registry (or a `KindInfo` from it), so a new kind needs no edits
anywhere else.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from core.events import COMMON_EVENTS, Event
from core.replicas import COMMANDS, OBSERVATIONS
from core.usage import Supply, Usage


class KindsError(Exception):
    """A source of kinds (a BOSUN_KINDS module, a `bosun.kinds` entry point) that cannot be loaded: the
    message is one line naming it and why (`bosun` prints it and exits 2)."""


class FieldError(msgspec.Struct, frozen=True):
    """One validation failure, addressed by a JSON path such as `$.spec.replicas`."""

    field: str
    message: str


Validator = Callable[[Any], list[FieldError]]


def _no_checks(_spec: Any) -> list[FieldError]:
    return []


@dataclass(frozen=True)
class Column:
    """One column of `bosun get` for this kind: header and a function of the API object."""

    header: str
    value: Callable[[dict[str, Any]], object]


@dataclass(frozen=True)
class KindInfo:
    name: str  # "ModelDeployment"
    plural: str  # "modeldeployments"
    spec_type: type[msgspec.Struct]
    events: tuple[type[Event], ...] = ()
    """Kind-specific event types (ctl narrative, inbox protocol) besides the common ones."""
    validate: Validator = _no_checks
    controller: str | None = None
    """Name of the ctl slice its actor writes; None for kinds without an actor."""
    finalizers: tuple[str, ...] = ()
    cluster_scoped: bool = False
    short_names: tuple[str, ...] = ()
    columns: tuple[Column, ...] = ()
    usage: Callable[[Any], Usage | None] | None = None
    """What one resource of this kind may consume, from its typed spec (`core.usage`); None: nothing."""
    supply: Callable[[Any], Supply | None] | None = None
    """What one resource of this kind offers (GPUs at a price), from its typed spec; None: nothing."""
    governance: bool = False
    """Identities, policy, limits or shared capacity: a `*` among a Role's kinds never covers it (it must be
    named), and a namespaced one is written only under a rule covering every namespace (`gateway.admission.
    policy`): a namespace admin with `kinds: ["*"]` must not raise its own Quota or price a pool."""
    exec_fields: tuple[str, ...] = ()
    """Spec fields (API names) that decide what code the resource runs: setting or changing any of them
    needs the RBAC verb `exec` on top of `apply`."""
    decoder: msgspec.json.Decoder[Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        types = tuple(dict.fromkeys(COMMON_EVENTS + COMMANDS + OBSERVATIONS + self.events))
        object.__setattr__(self, "decoder", msgspec.json.Decoder(Event if not types else _union(types)))

    @property
    def key(self) -> str:
        """Canonical lowercase singular: the kind's token in subjects and keys."""
        return self.name.lower()

    def spec_of(self, spec: dict[str, Any]) -> Any:
        """A stored (normalized) spec as this kind's typed spec."""
        return msgspec.convert(spec, self.spec_type)

    def usage_of(self, spec: dict[str, Any] | None) -> Usage | None:
        """The usage of a stored spec (None: no spec, or the kind consumes nothing)."""
        return None if spec is None or self.usage is None else self.usage(self.spec_of(spec))

    def supply_of(self, spec: dict[str, Any] | None) -> Supply | None:
        return None if spec is None or self.supply is None else self.supply(self.spec_of(spec))


def _union(types: tuple[type[Event], ...]) -> Any:
    from typing import Union

    return Union[types]  # noqa: UP007 - built at runtime from a tuple
