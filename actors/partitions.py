"""Which partition a resource belongs to: the unit a host leases, checkpoints and drops (pure)."""
from __future__ import annotations

import zlib

from core.names import Ref


def partition_of(ref: Ref, partitions: int) -> int:
    return zlib.crc32(ref.token.encode()) % partitions


def partition_of_token(token: str, partitions: int) -> int:
    """The same, from a resource token (`kind.namespace.name`) without parsing it."""
    return zlib.crc32(token.encode()) % partitions
