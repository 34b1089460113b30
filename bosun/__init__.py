"""`import bosun`: the Python client of a Bosun plane (docs/client.md).

    from bosun import Client
"""
from bosun.client import AsyncClient, Client
from bosun.errors import (
    BosunError,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    Unauthorized,
    Unavailable,
    Unreachable,
    WaitFailed,
    WaitTimeout,
)

__all__ = [
    "AsyncClient",
    "BosunError",
    "Client",
    "Conflict",
    "Forbidden",
    "Invalid",
    "NotFound",
    "Unauthorized",
    "Unavailable",
    "Unreachable",
    "WaitFailed",
    "WaitTimeout",
]
