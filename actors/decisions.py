"""What a pure `decide` returns, and the context it may read: the runtime does all the I/O."""
from __future__ import annotations

import hashlib

import msgspec

from core.events import Event
from core.names import Ref
from core.replicas import Command


class Message(msgspec.Struct, frozen=True):
    """An event for another resource's inbox (cross-resource coordination goes through the log)."""

    to: Ref
    event: Event
    key: str
    """Deterministic dedup key, unique per logical request (e.g. its request id)."""


class Order(msgspec.Struct, frozen=True):
    """A command for a driver; `key` makes a retry after a crash append nothing twice."""

    driver: str
    command: Command
    key: str


class Decision(msgspec.Struct, frozen=True):
    events: tuple[Event, ...] = ()
    """Appended to the actor's own ctl slice, in order."""
    messages: tuple[Message, ...] = ()
    commands: tuple[Order, ...] = ()
    wake_at: float | None = None
    """When to decide again even if nothing arrives (backoff, requeue); None = only on events."""

    @property
    def empty(self) -> bool:
        return not (self.events or self.messages or self.commands)


class PoolView(msgspec.Struct, frozen=True, kw_only=True):
    """What a deployment may read of a GpuPool: published by the pool actor, never written by others."""

    ref: Ref
    region: str
    gpu: str
    capacity: int
    allocated: int
    deleting: bool = False
    driver: str = "sim"
    """The data-plane driver that actuates the pool (where replica commands for it go)."""
    price_per_gpu_hour: float = 0.0

    @property
    def free(self) -> int:
        return max(0, self.capacity - self.allocated)


class Context(msgspec.Struct, frozen=True):
    """Read-only facts about other resources, handed to `decide` by the runtime."""

    pools: tuple[PoolView, ...] = ()


def backoff(attempt: int, seed: str, base: float = 0.5, cap: float = 30.0) -> float:
    """Exponential backoff with full jitter, deterministic in (seed, attempt) so replays agree."""
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    digest = hashlib.blake2b(f"{seed}/{attempt}".encode(), digest_size=8).digest()
    return ceiling * (int.from_bytes(digest, "big") / 2**64)
