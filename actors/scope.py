"""A controller host that runs only some kinds: its registry and the name of its scope.

Why: one kind's reconciler must not be able to stall another's, so `bosun up` runs each set of kinds in
its own supervised process (`bosun controller --kinds ...`). Such a host keeps every kind's API facts
(it decodes everything it consumes) but only the chosen kinds' actors, and its consumer, leases,
checkpoints and quarantine records live under its own scope so hosts of different kinds never compete.
"""
from __future__ import annotations

from collections.abc import Iterable

from actors.controller import Registry


def only(registry: Registry, kinds: Iterable[str]) -> Registry:
    """A registry with every kind of `registry` but actors only for `kinds` (resolved by any name)."""
    keep: set[str] = set()
    for name in kinds:
        info = registry.resolve(name)
        if info is None:
            raise ValueError(f"unknown kind {name!r}")
        keep.add(info.key)
    out = Registry()
    for info in registry.kinds():
        out.add_kind(info)
    for ctrl in registry.controllers():
        if ctrl.info.key in keep:
            out.add(ctrl)
    return out


def scope_of(kinds: Iterable[str]) -> str:
    """The scope name of a host running `kinds` ("" = all kinds, the keys of older versions)."""
    return "-".join(sorted(k.lower() for k in kinds))
