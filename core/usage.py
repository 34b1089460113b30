"""What a resource consumes and what a resource supplies, as its kind declares them (pure).

A kind's `usage(spec)` hook says what one resource may consume at most (GPUs on replicas, and where they
are priced); a kind's `supply(spec)` hook says what one resource offers (GPUs of a type in a region, at a
price). Admission charges Quotas with the first, prices it with the second, and so do the quota ledger,
cost and what-if: none of them names a kind, so a new kind is governed the moment it declares its usage.
"""
from __future__ import annotations

from collections.abc import Iterable

import msgspec


class Usage(msgspec.Struct, frozen=True, kw_only=True):
    """The most one resource may consume: `replicas` x `gpus_per_replica` GPUs, priced where they run."""

    replicas: int = 1
    gpus_per_replica: int = 0
    pool: str = ""
    """The pool its GPUs come from (`<namespace>/<name>`) when the spec names one: priced at its price."""
    region: str = ""
    gpu: str = ""
    """Else the GPUs' region and type: priced at the dearest pool that matches, so placement cannot pass a
    budget."""
    elastic: bool = False
    """A scaler asks the namespace's Quotas at run time for what it really runs (the autoscaler): the
    runtime then reports nothing fixed to their ledgers (admission still charges this ceiling)."""

    @property
    def gpus(self) -> int:
        return self.replicas * self.gpus_per_replica


class Supply(msgspec.Struct, frozen=True, kw_only=True):
    """What one resource offers: GPUs of a type in a region, at a price per GPU-hour (a GpuPool)."""

    region: str
    gpu: str
    price_per_gpu_hour: float = 0.0
    namespaces: tuple[str, ...] = ("*",)
    """The namespaces it serves besides its own (`*`: every one): it prices only their usage (a pool a
    namespace may not use cannot price that namespace's quota)."""


def admits(own: str, listed: Iterable[str], namespace: str) -> bool:
    """Whether a supplier in namespace `own` that lists `listed` serves workloads of `namespace`."""
    listed = tuple(listed)
    return namespace == own or namespace in listed or "*" in listed


class Prices(msgspec.Struct, frozen=True):
    """GPU prices by pool (`<namespace>/<name>`) and by (region, gpu): the dearest offer of each type."""

    by_pool: dict[str, float] = {}
    by_type: dict[tuple[str, str], float] = {}

    @classmethod
    def of(cls, offers: Iterable[tuple[str, Supply]], namespace: str | None = None) -> Prices:
        """Prices from (pool key, supply) pairs: for workloads of `namespace`, only the offers serving it
        (None: every offer)."""
        by_pool: dict[str, float] = {}
        by_type: dict[tuple[str, str], float] = {}
        for pool, s in offers:
            if namespace is not None and not admits(pool.partition("/")[0], s.namespaces, namespace):
                continue
            by_pool[pool] = s.price_per_gpu_hour
            key = (s.region, s.gpu)
            by_type[key] = max(by_type.get(key, 0.0), s.price_per_gpu_hour)
        return cls(by_pool, by_type)

    def per_gpu_hour(self, usage: Usage) -> float:
        if usage.pool:
            return self.by_pool.get(usage.pool, 0.0)
        return self.by_type.get((usage.region, usage.gpu), 0.0)

    def cost_per_hour(self, usage: Usage) -> float:
        return usage.gpus * self.per_gpu_hour(usage)
