"""What a replay or an incident bundle needs from the log: a resource's whole story and its neighbours'.

For each requested resource: every message of its event slices and its commands, plus the full
subjects of the resources its decisions read (the pools named in its `Bosun-Context`, the recipients
of its inbox messages), so every message routed to it is included and those neighbours replay too.
"""
from __future__ import annotations

import asyncio
import contextlib
import heapq
from collections.abc import AsyncIterator, Iterable

import msgspec

from actors.decisions import decode_context
from core import headers as H
from core import subjects
from core.log import Log, StoredMessage
from core.names import Ref

ALL = "bosun.>"


class _Viewed(msgspec.Struct):
    """Every published view names the resource it is about."""

    ref: Ref


async def read_all(log: Log, subject: str, up_to: int) -> list[StoredMessage]:
    async with contextlib.aclosing(log.read(subject, up_to_seq=up_to)) as messages:
        return [m async for m in messages]


async def merged(log: Log, filters: Iterable[str], up_to: int) -> list[StoredMessage]:
    """Messages on any of `filters` through `up_to`, in stream order, each once."""
    lists = await asyncio.gather(*(read_all(log, f, up_to) for f in filters))
    out: list[StoredMessage] = []
    last = 0
    for m in heapq.merge(*lists, key=lambda m: m.seq):
        if m.seq != last:
            out.append(m)
            last = m.seq
    return out


def resource_filters(ref: Ref) -> list[str]:
    return [subjects.resource_events(ref), f"bosun.cmd.*.{ref.token}"]


def neighbours(ref: Ref, messages: Iterable[StoredMessage]) -> set[Ref]:
    """Resources `ref`'s decisions read or wrote to: those whose views they read, and inbox recipients."""
    found: set[Ref] = set()
    contexts: set[str] = set()
    for m in messages:
        if m.headers.get(H.SENDER) == ref.token:
            with contextlib.suppress(ValueError):
                found.add(subjects.parse(m.subject).ref)
        ctx = m.headers.get(H.CONTEXT)
        if ctx and ctx not in contexts:
            contexts.add(ctx)
            with contextlib.suppress(msgspec.DecodeError):
                viewed = decode_context(ctx, {}, _Viewed).views.values()
                found.update(v.ref for views in viewed for v in views)
    found.discard(ref)
    return found


async def collect(log: Log, refs: Iterable[Ref], up_to: int | None = None) -> tuple[int, list[StoredMessage]]:
    """(last seq considered, messages) for `refs` and their neighbours, in stream order."""
    up_to = up_to if up_to is not None else await log.last_seq()
    wanted = list(dict.fromkeys(refs))
    own = await merged(log, [f for r in wanted for f in resource_filters(r)], up_to)
    extra = set().union(*(neighbours(r, own) for r in wanted)) - set(wanted) if wanted else set()
    if not extra:
        return up_to, own
    more = await merged(log, [f for r in sorted(extra) for f in resource_filters(r)], up_to)
    seen = {m.seq for m in own}
    return up_to, list(heapq.merge(own, [m for m in more if m.seq not in seen], key=lambda m: m.seq))


async def everything(log: Log, up_to: int | None = None) -> AsyncIterator[StoredMessage]:
    up_to = up_to if up_to is not None else await log.last_seq()
    async with contextlib.aclosing(log.read(ALL, up_to_seq=up_to)) as messages:
        async for m in messages:
            yield m
