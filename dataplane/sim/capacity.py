"""Whether a replica fits its pool: the data plane's own last line of defence against over-allocation.

The pool actor already never grants more than capacity; the simulator still refuses on its own, so a
bug upstream shows up as a visible `ReplicaLost` instead of a silently over-committed pool.
"""
from __future__ import annotations

import msgspec


class PoolState(msgspec.Struct, frozen=True, kw_only=True):
    key: str  # "<namespace>/<name>"
    capacity: int
    used: int
    retired: bool = False

    @property
    def free(self) -> int:
        return max(0, self.capacity - self.used)


def refusal(pool_key: str, pool: PoolState | None, gpus: int) -> str | None:
    """Why a replica of `gpus` GPU cannot start in the pool, or None when it fits."""
    if pool is None:
        return f"unknown pool {pool_key}"
    if pool.retired:
        return f"pool {pool_key} is retired"
    if gpus < 0 or pool.used + gpus > pool.capacity:
        return f"insufficient capacity in pool {pool_key} (needs {gpus} GPU, {pool.free} of {pool.capacity} free)"
    return None
