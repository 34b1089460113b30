"""What a controller host keeps of partitions it does not own: the views of publishers (pools).

Why: a deployment's decide reads the pools' views (its `Context`), and with partitions shared among
hosts the pool may live on another host. So every host folds every publisher's events into a view-only
cell — it never decides (only the owner does), is never snapshotted (only the owner writes), and
survives the loss of its partition (the next owner decides; this host still needs the view).
"""
from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator

from actors.cells import Cell
from actors.controller import Registry
from actors.partitions import partition_of_token
from core.names import Ref


def publishes(ref: Ref, registry: Registry) -> bool:
    ctrl = registry.controller_for(ref.kind)
    return ctrl is not None and ctrl.publishes_view


def hosts(ref: Ref, owns: Callable[[Ref], bool], registry: Registry) -> bool:
    """Does this host keep a cell for `ref`: its own resource, or any publisher (view-only)."""
    return owns(ref) or publishes(ref, registry)


@contextlib.contextmanager
def keeping_views(cells: dict[str, Cell], lost: set[int], partitions: int, registry: Registry) -> Iterator[list[Cell]]:
    """Set the publisher cells of `lost` partitions aside while the block drops those partitions, then
    put them back (queues intact): the list is filled once the block ends, for re-publishing their views."""
    kept: list[Cell] = []
    aside = {t: c for t, c in cells.items()
             if partition_of_token(t, partitions) in lost and publishes(c.ref, registry)}
    for token in aside:
        del cells[token]
    try:
        yield kept
    finally:
        cells.update(aside)
        kept.extend(aside.values())


async def activate_publishers(registry: Registry, matching: Callable[[str], Awaitable[list[str]]],
                              cell_of: Callable[[str], Awaitable[Cell]]) -> None:
    """Resources whose facts others read (pools) are loaded eagerly so every decide sees them — all of
    them, whichever host owns them: a view-only cell folds but never decides (`hosts`)."""
    for ctrl in registry.controllers():
        if not ctrl.publishes_view:
            continue
        for key in await matching(f"{ctrl.info.key}.>"):
            found = registry.actor_of_key(key)  # the kind's own actors (not its companions')
            if found is not None and found[1] is ctrl:
                await cell_of(key)
