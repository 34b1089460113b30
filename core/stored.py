"""What the log hands out and what it raises, without the JetStream client.

Pure modules (the projection reducer, the timeline) and the append observer type against these;
`core.log` re-exports them, so `from core.log import StoredMessage` keeps working.
"""
from __future__ import annotations

import msgspec


class Conflict(Exception):
    """The subject moved on since the writer looked: someone else wrote first (409)."""


class Unavailable(Exception):
    """The log could not be reached (503)."""


class StoredMessage(msgspec.Struct, frozen=True):
    seq: int
    subject: str
    headers: dict[str, str]
    data: bytes
    time: float
    """Writer's event time (Bosun-Time), falling back to the server's timestamp."""


class Appended(msgspec.Struct, frozen=True):
    seq: int
    duplicate: bool
