"""The mailbox scheduler: one live cell per resource, its queue, and at most one drain task per cell.

Messages for a resource are queued on its cell; a cell's queue is drained by one task at a time
(ordered per resource), concurrently across resources up to `concurrency` drains. Cells are loaded
from their snapshot on first use, once even when several messages race for them. What a drain does
with each item (fold, decide, ack) is the host's business: it hands `drain` in.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection

from actors.cells import Cell
from actors.partitions import partition_of_token

TICK = object()
"""Mailbox item meaning "decide again" (a timer fired, or catch-up finished)."""

Load = Callable[[str], Awaitable[Cell]]
"""Loads the actor of a key (`Cell.key`: a resource token, or a companion's `<token>.<name>`)."""
Drain = Callable[[Cell], Awaitable[None]]


class Mailboxes:
    def __init__(self, load: Load, drain: Drain, *, partitions: int, concurrency: int) -> None:
        self._load = load
        self._drain = drain
        self.partitions = partitions
        self.slots = asyncio.Semaphore(concurrency)
        self.cells: dict[str, Cell] = {}
        """Actor key (`Cell.key`) -> live cell."""
        self.loading: dict[str, asyncio.Future[Cell]] = {}
        self.tasks: dict[asyncio.Task[None], str] = {}
        """Running drains and the actor key of each (a dropped cell's drain runs on until its decision is written)."""

    def known(self, key: str, snapshots: Collection[str] | None) -> bool:
        """Does this actor exist: a live or loading cell, or a snapshot (`snapshots` None: not known, so
        maybe). A companion starts only then, or when it wants the event (`actors.kernel.wanted`)."""
        return key in self.cells or key in self.loading or snapshots is None or key in snapshots

    async def cell_of(self, token: str) -> Cell:
        """The live cell with this actor key (a resource token, or a companion's `<token>.<name>`)."""
        cell = self.cells.get(token)
        if cell is not None:
            return cell
        if token in self.loading:
            return await self.loading[token]
        fut: asyncio.Future[Cell] = asyncio.get_running_loop().create_future()
        self.loading[token] = fut
        try:
            cell = await self._load(token)
            cell.idle_since = time.monotonic()
            self.cells[token] = cell
            fut.set_result(cell)
            return cell
        except BaseException as e:
            fut.set_exception(e)
            raise
        finally:
            del self.loading[token]

    def schedule(self, cell: Cell) -> None:
        if not cell.running:
            cell.running = True
            task = asyncio.create_task(self._run(cell))
            self.tasks[task] = cell.key
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.tasks.pop(task, None)

    def tick(self, cell: Cell) -> None:
        """Make the cell decide again (once, however many ticks are queued)."""
        if not any(item is TICK for item in cell.queue):
            cell.queue.append(TICK)
        self.schedule(cell)

    async def _run(self, cell: Cell) -> None:
        async with self.slots:
            try:
                await self._drain(cell)
            finally:
                cell.running = False
                cell.idle_since = time.monotonic()

    def forget(self, cell: Cell) -> bool:
        """Drop a cell from memory (passivation); False when it was replaced or dropped meanwhile."""
        if self.cells.get(cell.key) is not cell:
            return False
        del self.cells[cell.key]
        return True

    def drop(self, partitions: set[int]) -> list[int]:
        """Drop the cells of lost partitions with their queues; the sequences they will never fold."""
        dropped: list[int] = []
        for token, cell in list(self.cells.items()):
            if partition_of_token(token, self.partitions) in partitions:
                dropped += [item[0].seq for item in cell.queue if item is not TICK]
                cell.queue.clear()
                del self.cells[token]
        return dropped

    async def settle(self, timeout: float, partitions: set[int] | None = None) -> set[int]:
        """Wait (bounded) for running drains (of `partitions`' actors; all by default): a clean stop, or a
        hand-off, lets them finish their appends. The partitions of those still running."""
        tasks = [t for t, key in self.tasks.items()
                 if partitions is None or partition_of_token(key, self.partitions) in partitions]
        if not tasks:
            return set()
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        return {partition_of_token(self.tasks[t], self.partitions) for t in pending if t in self.tasks}

    def cancel(self) -> None:
        for task in list(self.tasks):
            task.cancel()
