"""Which partition a resource belongs to: the unit a host leases, checkpoints and drops (pure).

The rule is nats-server's own `partition(n, kind, namespace, name)` (FNV-1a, 32 bits, over the tokens
concatenated): the partition-mapped copy of the log (`core.partitioned`) stores each message under the
partition a host computes here, so a host can read exactly its partitions' subjects.
"""
from __future__ import annotations

import functools

from core.names import Ref


def partition_of(ref: Ref, partitions: int) -> int:
    return _hashed(ref.token, partitions)


def partition_of_token(token: str, partitions: int) -> int:
    """The same, from a resource token (`kind.namespace.name`) or an actor key without parsing it.

    A companion actor's key (`<token>.<companion>`, see `Cell.key`) is in its resource's partition.
    """
    return _hashed(resource_token(token), partitions)


def resource_token(key: str) -> str:
    """The resource token of an actor key: the key itself, without a companion's `.<name>` suffix."""
    if key.count(".") <= 2:
        return key
    return ".".join(key.split(".", 3)[:3])


@functools.lru_cache(maxsize=16384)
def _hashed(token: str, partitions: int) -> int:
    h = 0x811C9DC5
    for byte in token.replace(".", "").encode():
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h % partitions
