"""Environment-wide time travel: every resource of a kind as of a stream sequence (or an instant).

Folds the kind's spec and ctl slices (the only ones that change an API object) from sequence 1 with
projections' pure reducer, so "as of N" agrees with what the projector showed at N. Only the slices
the reducer reads are fetched, each as one direct-get scan, merged by sequence.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import heapq
from typing import Any

from actors.controller import DEFAULT, Registry
from core.kinds import KindInfo
from core.log import Log, StoredMessage

Key = tuple[str, str, str]


def parse_time(text: str) -> float:
    """RFC 3339 (`2024-05-01T12:00:00Z`, offsets allowed) as epoch seconds; ValueError when malformed."""
    stamp = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if stamp.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone (add Z or an offset)")
    return stamp.timestamp()


def _filters(info: KindInfo, namespace: str | None, name: str | None = None) -> list[str]:
    base = f"bosun.ev.{info.key}.{namespace or '*'}.{name or '*'}"
    return [f"{base}.spec", f"{base}.ctl.*"]


async def _scan(log: Log, subject: str, up_to: int) -> list[StoredMessage]:
    async with contextlib.aclosing(log.read(subject, up_to_seq=up_to)) as messages:
        return [m async for m in messages]


async def rows_at(log: Log, kinds: list[KindInfo], seq: int | None = None, namespace: str | None = None,
                  at_time: float | None = None, also: int | None = None,
                  name: str | None = None, registry: Registry = DEFAULT) -> tuple[int, dict[Key, Any], dict[Key, Any]]:
    """(seq reached, rows as of it, rows as of `also`) for `kinds` (optionally one namespace).

    With `at_time`, the fold stops before the first message written after that instant. `also` (a
    smaller seq) snapshots the rows on the way, so a diff of two points costs one scan.
    """
    from projections.reducer import decode, fold

    up_to = seq if seq is not None else await log.last_seq()
    filters = [f for info in kinds for f in _filters(info, namespace, name)]
    lists = await asyncio.gather(*(_scan(log, f, up_to) for f in filters))
    rows: dict[Key, Any] = {}
    early: dict[Key, Any] | None = None
    reached = 0
    for m in heapq.merge(*lists, key=lambda m: m.seq):
        if at_time is not None and m.time > at_time:
            break
        if also is not None and early is None and m.seq > also:
            early = dict(rows)
        key = _key(m.subject)
        row = rows.get(key)
        new = fold(row, m, decode(m, registry), registry)
        if new is None:
            rows.pop(key, None)
        elif new is not row:
            rows[key] = new
        reached = m.seq
    if early is None:
        early = dict(rows)
    return (up_to if at_time is None else reached), rows, early


def _key(subject: str) -> Key:
    parts = subject.split(".", 5)
    return (parts[2], parts[3], parts[4])


async def objects_at(log: Log, info: KindInfo, seq: int | None, namespace: str | None = None,
                     at_time: float | None = None, name: str | None = None,
                     registry: Registry = DEFAULT) -> list[dict[str, Any]]:
    """API objects of `info` as of `seq` (or `at_time`), ordered by (namespace, name) like a live list."""
    from projections.reducer import to_api

    _, rows, _ = await rows_at(log, [info], seq, namespace, at_time, name=name, registry=registry)
    return [to_api(rows[k], registry) for k in sorted(rows)]


def manifest(obj: dict[str, Any]) -> dict[str, Any]:
    """The applyable manifest of an API object: kind, name, namespace, labels and spec."""
    meta = obj.get("metadata", {})
    out_meta: dict[str, Any] = {"name": meta.get("name")}
    if meta.get("namespace"):
        out_meta["namespace"] = meta["namespace"]
    if meta.get("labels"):
        out_meta["labels"] = meta["labels"]
    return {"kind": obj.get("kind"), "metadata": out_meta, "spec": obj.get("spec", {})}


async def diff_between(log: Log, kinds: list[KindInfo], start: int, end: int,
                       namespace: str | None = None, registry: Registry = DEFAULT) -> list[dict[str, Any]]:
    """Resources that changed in (start, end]: created, deleted or modified, with spec/status field diffs."""
    from gateway.http.diff import changes
    from projections.reducer import to_api

    _, after, before = await rows_at(log, kinds, end, namespace, also=start, registry=registry)
    out: list[dict[str, Any]] = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old is new or (old is not None and new is not None and old.last_seq == new.last_seq
                          and old.resource_version == new.resource_version):
            continue
        a = to_api(old, registry) if old is not None else None
        b = to_api(new, registry) if new is not None else None
        action = "created" if a is None else "deleted" if b is None else "modified"
        found = changes(_diffable(a), _diffable(b))
        if action == "modified" and not found:
            continue
        out.append({"kind": (b or a or {}).get("kind"), "namespace": key[1], "name": key[2], "action": action,
                    "diff": [{"path": c.path, "from": c.from_, "to": c.to} for c in found]})
    return out


def _diffable(obj: dict[str, Any] | None) -> dict[str, Any]:
    if obj is None:
        return {}
    meta = obj.get("metadata", {})
    return {"metadata": {k: meta.get(k) for k in ("labels", "generation", "deletionRequested") if k in meta},
            "spec": obj.get("spec", {}), "status": obj.get("status", {})}
