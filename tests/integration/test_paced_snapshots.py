"""The periodic flush's snapshots are paced (`actors.persistence.PACE`) and stop when the host may no longer
write (its leases may lapse): a paced save takes longer, and a stale owner's snapshot must never overwrite the
next owner's. What is not put stays dirty (saved by the next flush, or by the next owner from the log)."""
from __future__ import annotations

from actors.cells import Cell
from actors.persistence import PACED_WINDOW, Persistence
from core import log as corelog
from core.names import Ref
from tests.conftest import REGISTRY


def _dirty(n: int) -> list[Cell]:
    cells = []
    for i in range(n):
        ref = Ref("modeldeployment", "paced", f"d{i}")
        cell = Cell(ref, REGISTRY.controller_for(ref.kind))  # type: ignore[arg-type]
        cell.version = 1  # folded something since its last snapshot
        cells.append(cell)
    return cells


async def _stored(persistence: Persistence, cells: list[Cell]) -> int:
    return sum([await persistence.load(c.key) is not None for c in cells])


async def test_a_paced_save_puts_every_window(log: corelog.Log) -> None:
    persistence = Persistence(log)
    await persistence.open()
    cells = _dirty(3 * PACED_WINDOW + 5)
    await persistence.save(cells, paced=True)
    assert not any(c.dirty for c in cells) and await _stored(persistence, cells) == len(cells)


async def test_a_save_stops_once_the_host_may_not_write(log: corelog.Log) -> None:
    persistence = Persistence(log)
    await persistence.open()
    cells = _dirty(3 * PACED_WINDOW)
    asked: list[int] = []

    def allowed() -> bool:  # the leases lapse after the first window
        asked.append(1)
        return len(asked) == 1

    await persistence.save(cells, paced=True, allowed=allowed)
    assert [c.dirty for c in cells] == [False] * PACED_WINDOW + [True] * (2 * PACED_WINDOW)
    assert await _stored(persistence, cells) == PACED_WINDOW
