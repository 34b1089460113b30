"""What a pure `decide` returns, and the context it may read: the runtime does all the I/O."""
from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Mapping
from typing import Any

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


class Context(msgspec.Struct, frozen=True, omit_defaults=True):
    """Read-only facts about other resources, handed to `decide` by the runtime: the views resources
    publish (`Controller.view`), by kind key. Recorded with each decision (`Bosun-Context`) so replay
    hands today's `decide` exactly what the live one read."""

    views: dict[str, tuple[Any, ...]] = {}
    behaviour: int = 1
    """Which output of the kind's `decide` this decision is (`Kind.behaviour`, recorded with it): a kind that
    changes what it writes bumps its behaviour and keeps writing the older output when asked for it, so
    `replay --check` holds every history recorded before against today's code."""

    def of(self, kind: str) -> tuple[Any, ...]:
        """The views published by resources of `kind` (a kind key, e.g. "gpupool")."""
        return self.views.get(kind, ())


class Reading(Context, frozen=True):
    """The Context handed to one `decide`, noting which kinds it read (`of`): only those are recorded with the
    decision. A Node's decision reads nothing, a deployment's only the pools': recording every view of every
    kind made each decision carry the whole fleet (past ~500 nodes a header over NATS's 64 KB: refused)."""

    read: set[str] = msgspec.field(default_factory=set)
    board: Context = msgspec.field(default_factory=Context)
    """The board's Context these views are (the writer encodes a board once, whoever reads it)."""

    @classmethod
    def of_board(cls, board: Context, behaviour: int = 1) -> Reading:
        return cls(views=board.views, behaviour=behaviour, board=board)

    def of(self, kind: str) -> tuple[Any, ...]:
        self.read.add(kind)
        return self.views.get(kind, ())

    def recorded(self) -> Context:
        """What `decide` read: replaying it with this Context reads the same (a deterministic decide)."""
        return Context(views={k: v for k, v in self.views.items() if k in self.read}, behaviour=self.behaviour)


COMPRESSED = "z:"
"""A recorded Context over `COMPRESS_OVER` bytes is `z:` + base64 of its zlib-compressed JSON (a pool of a
thousand nodes reads a thousand Node views)."""
COMPRESS_OVER = 8192


def encode_recorded(raw: bytes) -> str:
    """The header value of a recorded Context's JSON."""
    if len(raw) <= COMPRESS_OVER:
        return raw.decode()
    return COMPRESSED + base64.b64encode(zlib.compress(raw, 6)).decode()


def _plain(raw: str | bytes) -> str | bytes:
    text = raw.decode() if isinstance(raw, bytes) and raw.startswith(COMPRESSED.encode()) else raw
    if isinstance(text, str) and text.startswith(COMPRESSED):
        return zlib.decompress(base64.b64decode(text[len(COMPRESSED):]))
    return raw


class _Recorded(msgspec.Struct, frozen=True):
    views: dict[str, list[msgspec.Raw]] = {}
    pools: list[msgspec.Raw] = []
    """Before views were keyed by kind, the recorded Context held only GpuPool views, as `pools`."""
    behaviour: int = 1


_recorded = msgspec.json.Decoder(_Recorded)


def decode_context(raw: str | bytes, view_types: Mapping[str, type[Any]], default: type[Any] = dict) -> Context:
    """A recorded Context, each kind's views decoded as that kind's view type (`default` for others)."""
    rec = _recorded.decode(_plain(raw))
    views = {**({"gpupool": rec.pools} if rec.pools else {}), **rec.views}
    return Context(views={kind: tuple(msgspec.json.decode(v, type=view_types.get(kind, default)) for v in vs)
                          for kind, vs in views.items()}, behaviour=rec.behaviour)


def backoff(attempt: int, seed: str, base: float = 0.5, cap: float = 30.0) -> float:
    """Exponential backoff with full jitter, deterministic in (seed, attempt) so replays agree. The exponent
    stops at 64: past it the ceiling is the cap anyway, and 2^1024 overflows a float (a deployment Pending for
    half an hour made its requeue raise)."""
    ceiling = min(cap, base * 2 ** min(max(0, attempt - 1), 64))
    digest = hashlib.blake2b(f"{seed}/{attempt}".encode(), digest_size=8).digest()
    return float(ceiling * (int.from_bytes(digest, "big") / 2**64))
