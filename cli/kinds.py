"""The kinds the CLI knows: discovered from the server (`GET /v1/kinds`), so a kind loaded into the plane
works from any shell, whatever its environment. `bosun api-resources` lists them.

The local registry is consulted only for what cannot travel as data (the `get` table's columns are
functions of the object), and as the fallback when no server answers (offline `replay` of a bundle).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from actors.controller import Registry
    from bosun.client import Client
    from core.kinds import Column, KindInfo


class Connects(Protocol):
    """What discovery needs of the CLI's settings (`cli.base.Settings`)."""

    def client(self, timeout: float = ...) -> Client: ...


@dataclass(frozen=True)
class ApiKind:
    """A kind as the server describes it (what `KindInfo` is to the server, minus its code)."""

    name: str
    key: str
    plural: str
    short_names: tuple[str, ...] = ()
    cluster_scoped: bool = False
    schema: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, entry: dict[str, Any]) -> ApiKind:
        return cls(entry["name"], entry["singular"], entry["plural"], tuple(entry.get("shortNames") or ()),
                   not entry.get("namespaced", True), entry.get("schema") or {})

    @classmethod
    def local(cls, info: KindInfo) -> ApiKind:
        return cls(info.name, info.key, info.plural, info.short_names, info.cluster_scoped)

    @property
    def columns(self) -> tuple[Column, ...]:
        """The `get` table's extra columns, when this CLI has the kind's code (shipped kinds do)."""
        from core.kinds import KindsError

        try:
            info = _local(self.key)
        except (ImportError, KindsError):  # this shell's BOSUN_KINDS is broken: the plane's kinds still list
            return ()
        return info.columns if info is not None and info.name == self.name else ()


_served: list[dict[str, Any]] | None = None


def served(settings: Connects) -> list[dict[str, Any]]:
    """`/v1/kinds` of this invocation's server (asked once per process)."""
    global _served
    if _served is None:
        with settings.client() as client:
            _served = client.kinds()
    return _served


def resolve(settings: Connects, name: str) -> ApiKind:
    """A kind by name, plural or short name: the server's, else (no server) this CLI's own."""
    from bosun.client import find_kind
    from bosun.errors import NotFound, Unreachable

    try:
        return ApiKind.of(find_kind(served(settings), name))
    except Unreachable:
        info = _local(name)
        if info is None:
            raise NotFound(404, "UnknownKind", f"unknown kind {name!r}") from None
        return ApiKind.local(info)


def _local(name: str) -> KindInfo | None:
    return registry().resolve(name)


@functools.cache
def registry() -> Registry:
    """This CLI's own kinds (shipped + BOSUN_KINDS), built on first use: `--help` never pays for it."""
    from actors.registry import load

    return load()
