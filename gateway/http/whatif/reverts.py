"""`bosun revert <seq>`: put back every resource changed since a sequence, as a forward change.

The environment as of `seq` and as of now come from one fold of the spec and ctl slices
(`gateway.http.envtravel.rows_at`, the same fold as `get -A --at`); every resource whose manifest differs
is re-applied as it was at `seq`, every resource created since is deleted. Nothing is rewritten: the
result is new intents through normal admission (audited, authorized, quota-checked).
"""
from __future__ import annotations

from typing import Any

import msgspec

from analysis.whatif.registry import registry
from core.log import Log
from core.names import Ref
from gateway.http.envtravel import manifest, rows_at


class Change(msgspec.Struct, frozen=True, omit_defaults=True):
    kind: str
    namespace: str
    name: str
    action: str
    """apply (restore the manifest it had at `seq`) | delete (it did not exist at `seq`)"""
    manifest: dict[str, Any] | None = None


async def changes_since(log: Log, seq: int) -> tuple[int, list[Change]]:
    """(sequence now, the changes that restore the environment as of `seq`)."""
    from projections.reducer import to_api

    kinds = registry()
    upto, now, then = await rows_at(log, kinds.kinds(), None, also=seq, registry=kinds)
    out: list[Change] = []
    for key in sorted(set(now) | set(then)):
        old = _live(then.get(key), to_api)
        new = _live(now.get(key), to_api)
        if old == new:
            continue
        kind = kinds.kind(key[0]).name
        if old is None:
            out.append(Change(kind, key[1], key[2], "delete"))
        else:
            out.append(Change(kind, key[1], key[2], "apply", old))
    return upto, out


def _live(row: Any, to_api: Any) -> dict[str, Any] | None:
    """The applyable manifest of a row, or None when it is absent or being deleted."""
    if row is None:
        return None
    obj = to_api(row)
    if obj["metadata"].get("deletionRequested"):
        return None
    return manifest(obj)


def ref_of(change: Change) -> Ref:
    info = registry().resolve(change.kind)
    assert info is not None, change.kind
    return Ref(info.key, change.namespace, change.name)
