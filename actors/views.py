"""The view board: facts resources publish for other actors (a pool's free capacity), and the Context
every `decide` is handed.

Pure (no I/O). Views are kept by kind, then resource; a resource's view is recomputed after each fold
and the Context rebuilt only when a view actually changed, so the common fold costs one comparison.
"""
from __future__ import annotations

from typing import Any

from actors.cells import Cell
from actors.decisions import Context
from actors.partitions import partition_of_token


class ViewBoard:
    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self.views: dict[str, dict[str, Any]] = {}
        """Kind key -> actor key (`Cell.key`: the resource token, or a companion's) -> its published view."""
        self.context = Context()

    def publish(self, cell: Cell) -> None:
        view = cell.controller.view(cell.state)
        kind, token = cell.ref.kind, cell.key
        if view is None:
            published = self.views.get(kind)
            if published is not None and published.pop(token, None) is not None:
                self._rebuild()
            return
        published = self.views.setdefault(kind, {})
        if published.get(token) != view:
            published[token] = view
            self._rebuild()

    def drop(self, partitions: set[int]) -> None:
        """Forget the views of resources we no longer own: their new owner publishes them."""
        changed = False
        for published in self.views.values():
            lost = [t for t in published if partition_of_token(t, self.partitions) in partitions]
            for token in lost:
                del published[token]
            changed = changed or bool(lost)
        if changed:
            self._rebuild()

    def _rebuild(self) -> None:
        self.context = Context(views={kind: tuple(p.values()) for kind, p in self.views.items() if p})
