"""Which partition a resource belongs to: the unit a host leases, checkpoints and drops (pure)."""
from __future__ import annotations

import zlib

from core.names import Ref


def partition_of(ref: Ref, partitions: int) -> int:
    return zlib.crc32(ref.token.encode()) % partitions


def partition_of_token(token: str, partitions: int) -> int:
    """The same, from a resource token (`kind.namespace.name`) or an actor key without parsing it.

    A companion actor's key (`<token>.<companion>`, see `Cell.key`) is in its resource's partition.
    """
    return zlib.crc32(resource_token(token).encode()) % partitions


def resource_token(key: str) -> str:
    """The resource token of an actor key: the key itself, without a companion's `.<name>` suffix."""
    if key.count(".") <= 2:
        return key
    return ".".join(key.split(".", 3)[:3])
