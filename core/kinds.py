"""What the API needs to know about each resource kind (`KindInfo`), and the process-wide decoding table.

A kind is declared once (`actors/<kind>/`) and added to an `actors.controller.Registry`, which enters
its `KindInfo` here too: the codec, the reducer and admission decode and resolve by kind key through this
table, so a new kind needs no edits anywhere else.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from core.events import COMMON_EVENTS, Event
from core.replicas import COMMANDS, OBSERVATIONS


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


def _union(types: tuple[type[Event], ...]) -> Any:
    from typing import Union

    return Union[types]  # noqa: UP007 - built at runtime from a tuple


_KINDS: dict[str, KindInfo] = {}
_ALIASES: dict[str, KindInfo] = {}


def register(info: KindInfo) -> KindInfo:
    _KINDS[info.key] = info
    for alias in (info.key, info.plural.lower(), *info.short_names):
        _ALIASES[alias] = info
    return info


def resolve(name: str) -> KindInfo | None:
    """Case-insensitive, singular or plural or short name."""
    return _ALIASES.get(name.lower())


def get(key: str) -> KindInfo:
    return _KINDS[key]


def all_kinds() -> list[KindInfo]:
    return list(_KINDS.values())
