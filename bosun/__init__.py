"""Bosun's public API: `import bosun` is the only import a script or a kind author needs.

    from bosun import Client                              # a script: the Python client (docs/client.md)
    from bosun import Kind, Resource, Decision, Usage     # a kind author (docs/kinds.md)

The client speaks HTTP only (an import contract). A kind is one `Kind` object: its spec type, its own state,
two pure functions (`evolve`, `decide`) over the runtime's `Resource` envelope, and hooks (`usage`, `view`,
`validate`). Bosun finds it through the entry-point group `bosun.kinds` of an installed distribution, or a
module named in BOSUN_KINDS. `bosun.testing` runs a kind in memory: by hand (given events, when decide, then
a Decision) or against the simulated data plane.

Each name is loaded on first use (the module's `__getattr__`), so `from bosun import Client` loads the client
alone, never the actor model the kind author's names come from; the imports below say where each name lives
(type checkers and the import contracts read them).
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from actors.capacity import PROTOCOL as CAPACITY_PROTOCOL
    from actors.capacity import (
        CapacityAnswered,
        CapacityGranted,
        CapacityRefused,
        CapacityRequested,
        PoolView,
        answers_for,
        pool_in,
    )
    from actors.capacity import request as capacity_request
    from actors.claims import Claim, ClaimRetrying, Waiting
    from actors.decisions import Context, Decision, Message, Order, backoff
    from actors.failures import TerminalError
    from actors.kind import Companion, Kind, Resource
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
    from core.events import Condition, DeletionRequested, Event, FinalizerRemoved, SpecApplied, StatusUpdated
    from core.kinds import Column, FieldError
    from core.names import Ref
    from core.replicas import (
        LoadObserved,
        ReplicaLost,
        ReplicaReady,
        ReplicaStarted,
        ReplicaStopped,
        StartReplica,
        StopReplica,
    )
    from core.usage import Supply, Usage

_CLIENT = {"bosun.client": ("AsyncClient", "Client"),
           "bosun.errors": ("BosunError", "Conflict", "Forbidden", "Invalid", "NotFound", "Unauthorized",
                            "Unavailable", "Unreachable", "WaitFailed", "WaitTimeout")}
_KIND_API = {
    "actors.capacity": ("CapacityAnswered", "CapacityGranted", "CapacityRefused", "CapacityRequested", "PoolView",
                        "answers_for", "pool_in"),
    "actors.claims": ("Claim", "ClaimRetrying", "Waiting"),
    "actors.decisions": ("Context", "Decision", "Message", "Order", "backoff"),
    "actors.failures": ("TerminalError",),
    "actors.kind": ("Companion", "Kind", "Resource"),
    "core.events": ("Condition", "DeletionRequested", "Event", "FinalizerRemoved", "SpecApplied", "StatusUpdated"),
    "core.kinds": ("Column", "FieldError"),
    "core.names": ("Ref",),
    "core.replicas": ("LoadObserved", "ReplicaLost", "ReplicaReady", "ReplicaStarted", "ReplicaStopped",
                      "StartReplica", "StopReplica"),
    "core.usage": ("Supply", "Usage"),
}
_WHERE: dict[str, tuple[str, str]] = {
    **{name: (module, name) for table in (_CLIENT, _KIND_API) for module, names in table.items() for name in names},
    "CAPACITY_PROTOCOL": ("actors.capacity", "PROTOCOL"),
    "capacity_request": ("actors.capacity", "request"),
}
__all__ = [
    "CAPACITY_PROTOCOL",
    "AsyncClient",
    "BosunError",
    "CapacityAnswered",
    "CapacityGranted",
    "CapacityRefused",
    "CapacityRequested",
    "Claim",
    "ClaimRetrying",
    "Client",
    "Column",
    "Companion",
    "Condition",
    "Conflict",
    "Context",
    "Decision",
    "DeletionRequested",
    "Event",
    "FieldError",
    "FinalizerRemoved",
    "Forbidden",
    "Invalid",
    "Kind",
    "LoadObserved",
    "Message",
    "NotFound",
    "Order",
    "PoolView",
    "Ref",
    "ReplicaLost",
    "ReplicaReady",
    "ReplicaStarted",
    "ReplicaStopped",
    "Resource",
    "SpecApplied",
    "StartReplica",
    "StatusUpdated",
    "StopReplica",
    "Supply",
    "TerminalError",
    "Unauthorized",
    "Unavailable",
    "Unreachable",
    "Usage",
    "WaitFailed",
    "WaitTimeout",
    "Waiting",
    "answers_for",
    "backoff",
    "capacity_request",
    "pool_in",
]
"""Every name `bosun` offers (`_WHERE` says where each lives)."""

if not TYPE_CHECKING:  # type checkers see the imports above; an unknown name stays an error for them

    def __getattr__(name: str) -> Any:
        """Load `name` from its module on first use (then it is a plain attribute of this module)."""
        where = _WHERE.get(name)
        if where is None:
            raise AttributeError(f"module 'bosun' has no attribute {name!r}")
        value = getattr(importlib.import_module(where[0]), where[1])
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
