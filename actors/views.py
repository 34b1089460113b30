"""The view board: facts resources publish for other actors (a pool's free capacity), and the Context
every `decide` is handed.

Pure (no I/O). Views are kept by kind, then resource; a resource's view is recomputed after each fold
and the Context rebuilt only when a view actually changed, so the common fold costs one comparison.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from actors.cells import Cell
from actors.decisions import Context
from actors.partitions import partition_of_token


class ViewBoard:
    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self.views: dict[str, dict[str, Any]] = {}
        """Kind key -> actor key (`Cell.key`: the resource token, or a companion's) -> its published view."""
        self.kinds: dict[str, tuple[Any, ...]] = {}
        """Kind key -> its views as the Context holds them: rebuilt only when a view of that kind changed, so a
        kind's tuple keeps its identity while another kind's views move (a pool's view changes with every
        answer; a thousand Node views must not be copied, re-read and re-recorded for it)."""
        self.context = Context()

    def publish(self, cell: Cell) -> None:
        view = cell.controller.view(cell.state)
        kind, token = cell.ref.kind, cell.key
        if view is None:
            published = self.views.get(kind)
            if published is not None and published.pop(token, None) is not None:
                self._rebuild((kind,))
            return
        published = self.views.setdefault(kind, {})
        if published.get(token) != view:
            published[token] = view
            self._rebuild((kind,))

    def drop(self, partitions: set[int]) -> None:
        """Forget the views of resources we no longer own: their new owner publishes them."""
        changed = []
        for kind, published in self.views.items():
            lost = [t for t in published if partition_of_token(t, self.partitions) in partitions]
            for token in lost:
                del published[token]
            if lost:
                changed.append(kind)
        if changed:
            self._rebuild(changed)

    def _rebuild(self, kinds: Iterable[str]) -> None:
        for kind in kinds:
            published = self.views.get(kind)
            if published:
                self.kinds[kind] = tuple(published.values())
            else:
                self.kinds.pop(kind, None)
        self.context = Context(views=dict(self.kinds))
