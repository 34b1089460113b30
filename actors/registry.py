"""`load()`: the process's one registry, built at start from the shipped kinds, the kind modules named in
BOSUN_KINDS and the `bosun.kinds` entry points of installed distributions.

The one place kind modules are imported. A kind module exposes `Kind` and `Companion` objects (`actors.kind`)
as module globals, or lists them in `KINDS` (needed when it also imports another module's kinds). An entry
point of the group `bosun.kinds` names such a module, or one object (`pkg.mod:NOTEBOOK`), or a sequence:

    [project.entry-points."bosun.kinds"]
    notebook = "mykinds.notebook"

Components call `load()` once and hand the result down.
"""
from __future__ import annotations

import importlib
import os
import types
from collections.abc import Iterable
from importlib import metadata
from typing import Any

from actors.controller import DEFAULT, Registry
from actors.kind import Companion, Kind
from core.kinds import KindsError

SHIPPED = ("actors.governance.kinds", "actors.gpupool.kind", "actors.modeldeployment.kind",
           "actors.autoscaler.kind", "actors.node.kind")
"""The kinds that come with Bosun (companions after the kind they accompany)."""
ENTRY_POINTS = "bosun.kinds"
AnyKind = Kind[Any, Any] | Companion[Any, Any]


def extra_modules() -> list[str]:
    """BOSUN_KINDS: comma-separated import paths of more kind modules (`module` or `module:attribute`)."""
    return [m.strip() for m in os.environ.get("BOSUN_KINDS", "").split(",") if m.strip()]


def installed() -> list[str]:
    """The `bosun.kinds` entry points of installed distributions, as `entry point name=value` sources."""
    return [f"{ep.name}={ep.value}" for ep in sorted(metadata.entry_points(group=ENTRY_POINTS), key=_ep_key)]


def _ep_key(ep: metadata.EntryPoint) -> tuple[str, str]:
    return ep.name, ep.value


def sources(modules: Iterable[str] | None = None) -> list[str]:
    """Every source of kinds beyond the shipped ones: `modules` (default: BOSUN_KINDS), then entry points."""
    return [*(extra_modules() if modules is None else modules), *installed()]


def kinds_of(source: str) -> list[AnyKind]:
    """The kinds a source declares: `module`, `module:attribute`, or an entry point's `name=module[:attr]`."""
    name, _, target = source.rpartition("=")
    module_name, _, attribute = target.partition(":")
    where = f"entry point {name!r} ({target})" if name else f"kind module {target!r}"
    try:
        found: Any = importlib.import_module(module_name)
        for part in filter(None, attribute.split(".")):
            found = getattr(found, part)
    except Exception as e:
        raise KindsError(f"cannot load {where}: {type(e).__name__}: {e}") from e
    out = _collect(found)
    if not out:
        raise KindsError(f"{where} declares no kind (no Kind or Companion objects, no KINDS)")
    return out


def _collect(found: Any) -> list[AnyKind]:
    if isinstance(found, Kind | Companion):
        return [found]
    if isinstance(found, types.ModuleType):
        listed = getattr(found, "KINDS", None)
        return _collect(listed) if listed is not None else [v for v in vars(found).values()
                                                              if isinstance(v, Kind | Companion)]
    if isinstance(found, list | tuple):
        return [k for item in found for k in _collect(item)]
    return []


def build(kinds: Iterable[AnyKind], registry: Registry | None = None) -> Registry:
    """A registry of `kinds` (kinds first, then companions): a test's own, or more in the default one."""
    registry = Registry() if registry is None else registry
    ordered = sorted(kinds, key=lambda k: isinstance(k, Companion))
    for kind in ordered:
        kind.add_to(registry)
    return registry


_loaded: set[str] = set()
"""Sources already added to the process's registry."""
_asked: set[tuple[str, ...]] = set()
"""Module lists `load` was called with (entry points are looked up once per list, not on every call)."""


def load(modules: Iterable[str] | None = None) -> Registry:
    """The process's registry: the shipped kinds, `modules` (default: BOSUN_KINDS) and the installed entry
    points, each source added once. Raises KindsError (one line) when a source cannot be loaded."""
    asked = tuple(extra_modules() if modules is None else modules)
    if asked in _asked:
        return DEFAULT
    todo = [s for s in (*SHIPPED, *sources(asked)) if s not in _loaded]
    kinds = [k for s in todo for k in kinds_of(s)]
    build(kinds, DEFAULT)
    _loaded.update(todo)
    _asked.add(asked)
    return DEFAULT
