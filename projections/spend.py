"""Spend over time (pure): the GPUs in use, the spend rate and the accumulated cost at evenly spaced instants.

Built from the same replica lifetimes as the cost projection (`replica_usage`: GPUs, price per GPU-hour,
start and stop stream times), by one sweep over the starts and stops in time order, so a long history of
many replicas costs O(n log n), not replicas x points.
"""
from __future__ import annotations

from collections.abc import Iterable

import msgspec

Lifetime = tuple[int, float, float, float | None]
"""(GPUs, price per GPU-hour, started at, stopped at or None while running), times in epoch seconds."""
MAX_POINTS = 500


class Point(msgspec.Struct, frozen=True, rename="camel"):
    at: float
    gpus: int
    cost_per_hour: float
    cost: float
    """Accumulated since the first replica started (within the rows given)."""


def series(lifetimes: Iterable[Lifetime], since: float | None, until: float, points: int) -> list[Point]:
    """`points` samples from `since` (default: the first start) to `until`; empty when nothing ever ran."""
    changes: list[tuple[float, int, float]] = []
    for gpus, price, started, stopped in lifetimes:
        changes.append((started, gpus, gpus * price))
        if stopped is not None:
            changes.append((stopped, -gpus, -gpus * price))
    if not changes:
        return []
    changes.sort(key=lambda c: c[0])
    start = changes[0][0] if since is None else since
    if start >= until:
        start = until - 1.0
    n = max(2, min(MAX_POINTS, points))
    step = (until - start) / (n - 1)
    out: list[Point] = []
    gpus, rate, cost, clock, i = 0, 0.0, 0.0, changes[0][0], 0
    for k in range(n):
        at = until if k == n - 1 else start + k * step
        while i < len(changes) and changes[i][0] <= at:
            cost += rate * (changes[i][0] - clock) / 3600
            clock = changes[i][0]
            gpus += changes[i][1]
            rate += changes[i][2]
            i += 1
        out.append(Point(at=at, gpus=gpus, cost_per_hour=max(0.0, rate),
                         cost=cost + rate * max(0.0, at - clock) / 3600))
    return out
