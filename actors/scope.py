"""A controller host that runs only some kinds: its registry and the name of its scope.

Why: one kind's reconciler must not be able to stall another's, so `bosun up` runs each set of kinds in
its own supervised process (`bosun controller --kinds ...`). Such a host keeps every kind's API facts
(it decodes everything it consumes) but only the chosen kinds' actors, and its consumer, leases,
checkpoints and quarantine records live under its own scope so hosts of different kinds never compete.
"""
from __future__ import annotations

from collections.abc import Iterable

from actors.controller import Registry


def only(registry: Registry, kinds: Iterable[str], *, exclude: bool = False) -> Registry:
    """A registry with every kind of `registry` but actors only for `kinds` (resolved by any name), or,
    with `exclude`, for every kind but those. The publishers among the others (pools, Quotas) are kept as
    viewers: their views are in every decide's Context, whichever scope decides them."""
    named = set(_keys(registry, kinds))
    keep = {c.info.key for c in registry.controllers()} - named if exclude else named
    out = Registry()
    for info in registry.kinds():
        out.add_kind(info)
    for ctrl in registry.controllers():
        if ctrl.info.key in keep:
            out.add(ctrl)
            for companion in registry.companions(ctrl.info.key):  # e.g. the autoscaler goes with its kind
                out.add_companion(companion)
        elif ctrl.publishes_view:
            out.add_viewer(ctrl)
    return out


def _keys(registry: Registry, kinds: Iterable[str]) -> list[str]:
    keys = []
    for name in kinds:
        info = registry.resolve(name)
        if info is None:
            raise ValueError(f"unknown kind {name!r}")
        keys.append(info.key)
    return keys


def groups(sources: Iterable[str]) -> list[tuple[str, ...]]:
    """The kinds with an actor each source of kinds declares (a BOSUN_KINDS module, an installed entry
    point): one controller process each. Raises `actors.registry.KindsError` for a source that cannot load.

    The shipped kinds stay together in the main controller (a ModelDeployment reads the pools' views,
    which live in the memory of the host that runs the pools)."""
    from actors.kind import Kind
    from actors.registry import kinds_of

    out: list[tuple[str, ...]] = []
    for source in sources:
        hosted = tuple(sorted({k.info.key for k in kinds_of(source) if isinstance(k, Kind) and k.compiled}))
        if hosted:
            out.append(hosted)
    return out


def scope_of(kinds: Iterable[str]) -> str:
    """The scope name of a host running `kinds` ("" = all kinds, the keys of older versions)."""
    return "-".join(sorted(k.lower() for k in kinds))
