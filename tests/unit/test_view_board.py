"""The view board keeps each kind's views as one tuple until a view of that kind changes, and a decision's
recorded Context is encoded again only when the views it read changed: a pool's view moves with every answer,
and a thousand Node views must not be copied, compared and recorded again for it."""
from __future__ import annotations

from typing import Any

from actors.capacity import PoolView
from actors.cells import Cell
from actors.decisions import Context, Reading, decode_context
from actors.effects import DecisionWriter
from actors.views import ViewBoard
from core.names import Ref
from core.nodes import NodeView
from tests.conftest import REGISTRY


class _Ctrl:
    def __init__(self, view: Any) -> None:
        self.view = lambda _state: view


def _publish(board: ViewBoard, kind: str, name: str, view: Any) -> None:
    ref = Ref(kind, "infra" if kind == "gpupool" else "_cluster", name)
    cell = Cell(ref, REGISTRY.controller_for(kind))  # type: ignore[arg-type]
    cell.controller = _Ctrl(view)  # type: ignore[assignment]
    board.publish(cell)


def _pool(allocated: int) -> PoolView:
    return PoolView(ref=Ref("gpupool", "infra", "p"), region="r", gpu="g", capacity=8, allocated=allocated)


def test_a_kinds_views_keep_their_tuple_while_another_kind_changes() -> None:
    board = ViewBoard(partitions=4)
    for i in range(3):
        _publish(board, "node", f"n{i}", NodeView(name=f"n{i}", ready=True))
    _publish(board, "gpupool", "p", _pool(0))
    nodes = board.context.of("node")
    _publish(board, "gpupool", "p", _pool(1))
    assert board.context.of("node") is nodes and board.context.of("gpupool") == (_pool(1),)
    _publish(board, "node", "n1", NodeView(name="n1", ready=False))
    assert board.context.of("node") is not nodes and len(board.context.of("node")) == 3
    _publish(board, "gpupool", "p", None)
    assert board.context.of("gpupool") == () and "gpupool" not in board.context.views


def test_a_recorded_context_follows_the_views_it_read() -> None:
    writer = DecisionWriter(None, {})  # type: ignore[arg-type]  # no I/O: only the header's encoding
    board = ViewBoard(partitions=4)
    _publish(board, "node", "n0", NodeView(name="n0", ready=True))
    _publish(board, "gpupool", "p", _pool(0))
    types = {"gpupool": PoolView, "node": NodeView}

    def recorded() -> Context:
        reading = Reading.of_board(board.context)
        reading.of("gpupool")
        return decode_context(writer._context_json(reading), types)

    assert recorded().views == {"gpupool": (_pool(0),)}
    _publish(board, "node", "n0", NodeView(name="n0", ready=False))  # not read: the same header
    assert recorded().views == {"gpupool": (_pool(0),)}
    _publish(board, "gpupool", "p", _pool(2))
    assert recorded().views == {"gpupool": (_pool(2),)}
