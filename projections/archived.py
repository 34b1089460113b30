"""A resource's history across the archive and the read model, as one timeline (`GET .../history`).

Once part of the log is archived, the read model keeps its timeline only above its `timeline_floor`
(`Writer.snapshot` prunes what the archive holds). The items at or below it are made from the log itself
(`Log.read`, archive and stream as one sequence space) with the very functions the projector writes them
with (`projections.timeline.written`), so a page is the same whichever side it came from, and one continue
token walks across both.
"""
from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import AsyncIterator, Sequence
from typing import Any

import msgspec

from core import subjects
from core.log import Log, StoredMessage, Unavailable
from core.names import Ref
from projections import pages, reducer, timeline
from projections.readmodel import Page, ReadModel

_decode = msgspec.json.Decoder()
FLOOR_TRIES = 5


async def history(reads: ReadModel, log: Log, kind: str, namespace: str, name: str, limit: int = 100,
                  continue_token: str | None = None, since_seq: int | None = None,
                  types: Sequence[str] | None = None, tail: bool = False) -> Page:
    """`ReadModel.history`, with the archived part of the timeline read from the log.

    The read model may prune its timeline further while a page is being made (a projection snapshot):
    a page made across a floor that moved is made again, so no item falls between the two sources."""
    floor = await reads.timeline_floor()
    for _ in range(FLOOR_TRIES):
        page = await _page(reads, log, kind, namespace, name, limit, continue_token, since_seq, types, tail, floor)
        moved = await reads.timeline_floor()
        if moved == floor:
            return page
        floor = moved
    raise Unavailable("the read model's timeline kept moving under the history read; try again")


async def _page(reads: ReadModel, log: Log, kind: str, namespace: str, name: str, limit: int,
                continue_token: str | None, since_seq: int | None, types: Sequence[str] | None, tail: bool,
                floor: int) -> Page:
    since = since_seq or 0
    if floor <= since:
        return await reads.history(kind, namespace, name, limit, continue_token, since_seq, types, tail)
    info = reads.registry.resolve(kind)
    key = info.key if info is not None else kind.lower()
    query = pages.fingerprint("history", key, namespace, name, since_seq, ",".join(types or ()))
    cursor = pages.decode_history(continue_token, query, tail) if continue_token else None
    limit = max(1, limit)
    ref = Ref(key, namespace, name)
    if not tail:
        return await _forward(reads, log, ref, limit, cursor.seq if cursor else since, floor, since_seq, types, query)
    return await _backward(reads, log, ref, limit, cursor, floor, since, since_seq, types, query, continue_token)


async def _forward(reads: ReadModel, log: Log, ref: Ref, limit: int, after: int, floor: int,
                   since_seq: int | None, types: Sequence[str] | None, query: str) -> Page:
    if after >= floor:
        token = pages.encode(pages.HistoryCursor(query, after, False)) if after else None
        return await reads.history(ref.kind, ref.namespace, ref.name, limit, token, since_seq, types, False)
    items: list[dict[str, Any]] = []
    async for item in _items(reads, log, ref, after, floor, types):
        items.append(item)
        if len(items) > limit:
            return items[:limit], pages.encode(pages.HistoryCursor(query, items[limit - 1]["seq"], False))
    rest, more = await reads.history(ref.kind, ref.namespace, ref.name, max(1, limit - len(items)),
                                     pages.encode(pages.HistoryCursor(query, floor, False)), since_seq, types, False)
    if len(items) == limit:
        return items, pages.encode(pages.HistoryCursor(query, items[-1]["seq"], False)) if rest else None
    return items + rest, more


async def _backward(reads: ReadModel, log: Log, ref: Ref, limit: int, cursor: pages.HistoryCursor | None,
                    floor: int, since: int, since_seq: int | None, types: Sequence[str] | None, query: str,
                    token: str | None) -> Page:
    before = cursor.seq if cursor else None
    newer: list[dict[str, Any]] = []
    if before is None or before > floor + 1:
        newer, more = await reads.history(ref.kind, ref.namespace, ref.name, limit, token, since_seq, types, True)
        if more is not None or len(newer) >= limit:
            return newer, more
    wanted = limit - len(newer)
    upper = floor if before is None else min(floor, before - 1)
    older: deque[dict[str, Any]] = deque(maxlen=wanted + 1)
    async for item in _items(reads, log, ref, since, upper, types):
        older.append(item)
    more_token = None
    if len(older) > wanted:
        older.popleft()
        more_token = pages.encode(pages.HistoryCursor(query, older[0]["seq"], True))
    return [*older, *newer], more_token


async def _items(reads: ReadModel, log: Log, ref: Ref, after: int, through: int,
                 types: Sequence[str] | None) -> AsyncIterator[dict[str, Any]]:
    """Timeline items of `ref` in `after+1..through`, from the log, in stream order."""
    found: list[StoredMessage] = []
    for subject in (subjects.resource_events(ref), f"bosun.cmd.*.{ref.token}"):
        async with contextlib.aclosing(log.read(subject, after + 1, up_to_seq=through)) as messages:
            found.extend([m async for m in messages])
    found.sort(key=lambda m: m.seq)
    wanted = set(types) if types else None
    for m in found:
        try:
            parsed = subjects.parse(m.subject)
        except ValueError:
            continue
        entry = timeline.written(m, reducer.decode_parsed(m, parsed, reads.registry), parsed)
        if wanted is None or entry.type in wanted:
            yield _decode.decode(entry.item)
