"""Bosun's public API for kind authors and scripts: the only import they need.

    from bosun import Kind, Resource, Decision, Usage

A kind is one `Kind` object: its spec type, its own state, two pure functions (`evolve`, `decide`) over
the runtime's `Resource` envelope, and hooks (`usage`, `view`, `validate`). Bosun finds it through the
entry-point group `bosun.kinds` of an installed distribution, or a module named in BOSUN_KINDS.
`bosun.testing` runs a kind in memory: by hand (given events, when decide, then a Decision) or against the
simulated data plane. See docs/kinds.md.
"""
from actors.capacity import (
    PROTOCOL as CAPACITY_PROTOCOL,
)
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
from core.events import (
    Condition,
    DeletionRequested,
    Event,
    FinalizerRemoved,
    SpecApplied,
    StatusUpdated,
)
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

__all__ = [
    "CAPACITY_PROTOCOL",
    "CapacityAnswered",
    "CapacityGranted",
    "CapacityRefused",
    "CapacityRequested",
    "Claim",
    "ClaimRetrying",
    "Column",
    "Companion",
    "Condition",
    "Context",
    "Decision",
    "DeletionRequested",
    "Event",
    "FieldError",
    "FinalizerRemoved",
    "Kind",
    "LoadObserved",
    "Message",
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
    "Usage",
    "Waiting",
    "answers_for",
    "backoff",
    "capacity_request",
    "pool_in",
]
