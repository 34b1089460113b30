"""The timer queue: when each actor asked to decide again (its `wake_at`), earliest first.

Pure (no I/O, no clock: callers pass `now`). An actor may have several entries (each new wake-up
pushes one); stale ones are harmless because the host checks the cell's current `wake_at` when one
fires. Timers of passivated actors are kept, so they survive in the partition checkpoint. Entries are
keyed by actor key (`Cell.key`: the resource token, or `<token>.<companion>`), in the resource's partition.
"""
from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator

from actors.partitions import partition_of_token


class TimerQueue:
    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self._heap: list[tuple[float, str]] = []

    def push(self, when: float, token: str) -> None:
        heapq.heappush(self._heap, (when, token))

    def due(self, now: float) -> Iterator[str]:
        """Pop every entry due at `now`, earliest first."""
        while self._heap and self._heap[0][0] <= now:
            yield heapq.heappop(self._heap)[1]

    def next_due(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def tokens(self) -> list[str]:
        """Every actor with a timer (duplicates possible)."""
        return [token for _, token in self._heap]

    def entries(self) -> list[tuple[float, str]]:
        return list(self._heap)

    def by_partition(self, owned: Iterable[int],
                     keep: Callable[[str], bool] = lambda _t: True) -> dict[int, dict[str, float]]:
        """Per owned partition: token -> earliest wake-up, for the tokens `keep` accepts."""
        out: dict[int, dict[str, float]] = {p: {} for p in owned}
        for when, token in self._heap:
            if not keep(token):
                continue
            due = out.get(partition_of_token(token, self.partitions))
            if due is not None:
                due[token] = min(when, due.get(token, when))
        return out

    def drop(self, partitions: set[int]) -> None:
        """Forget the timers of partitions we no longer own (their new owner restores its own)."""
        kept = [e for e in self._heap if partition_of_token(e[1], self.partitions) not in partitions]
        if len(kept) != len(self._heap):
            heapq.heapify(kept)
            self._heap[:] = kept

    def __len__(self) -> int:
        return len(self._heap)
