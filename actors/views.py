"""The view board: facts resources publish for other actors (a pool's free capacity), and the Context
every `decide` is handed.

Pure (no I/O). A resource's view is recomputed after each fold; the Context is rebuilt only when a view
actually changed, so the common fold (a deployment's own event) costs one comparison.
"""
from __future__ import annotations

from actors.cells import Cell
from actors.decisions import Context, PoolView
from actors.partitions import partition_of_token


class ViewBoard:
    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self.views: dict[str, PoolView] = {}
        self.context = Context()

    def publish(self, cell: Cell) -> None:
        view = cell.controller.view(cell.state)
        token = cell.ref.token
        if view is None:
            if self.views.pop(token, None) is not None:
                self._rebuild()
        elif self.views.get(token) != view:
            self.views[token] = view
            self._rebuild()

    def drop(self, partitions: set[int]) -> None:
        """Forget the views of resources we no longer own: their new owner publishes them."""
        lost = [t for t in self.views if partition_of_token(t, self.partitions) in partitions]
        for token in lost:
            del self.views[token]
        if lost:
            self._rebuild()

    def _rebuild(self) -> None:
        self.context = Context(pools=tuple(self.views.values()))
