"""Which live resources a set no longer has: `apply --prune -l SELECTOR` deletes them, `diff --prune` shows them.

Pure. A resource is pruned when it matches the selector (the caller lists only those), is not being
deleted already, and no document of the set names it. Keys are (kind singular, namespace, name); the
namespace of a cluster-scoped kind is `_cluster`, as the API objects have none.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

CLUSTER = "_cluster"
Key = tuple[str, str, str]


def key_of(obj: dict[str, Any]) -> Key:
    """An API object's key (its `kind` is the kind's name: lowercase is its singular)."""
    meta = obj.get("metadata") or {}
    return str(obj.get("kind", "")).lower(), str(meta.get("namespace") or CLUSTER), str(meta.get("name", ""))


def wanted_key(singular: str, namespaced: bool, namespace: str, name: str) -> Key:
    return singular, namespace if namespaced else CLUSTER, name


def prunable(live: Iterable[dict[str, Any]], wanted: set[Key]) -> list[Key]:
    """Live objects the set does not name (and not already being deleted), in a stable order."""
    return sorted({key_of(o) for o in live
                   if key_of(o) not in wanted and not (o.get("metadata") or {}).get("deletionRequested")})


def shown(key: Key) -> str:
    kind, namespace, name = key
    return f"{kind}/{name}" + ("" if namespace == CLUSTER else f" ({namespace})")
