"""ModelDeployment's state: what the actor folds from its log (pure data, no behaviour)."""
from __future__ import annotations

from typing import Literal

import msgspec

from actors.placement import Slot
from core.replicas import Launch
from core.scale import ScaleSet

ReplicaPhase = Literal["requested", "starting", "ready"]
"""Ordered to start, started by the driver, serving."""
Phase = Literal["Pending", "Progressing", "Ready", "Deleting"]
"""A deployment's status phase (the runtime may also publish "Degraded" when decide fails)."""


class Replica(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    pool: str
    model: str
    gpus: int
    phase: ReplicaPhase = "requested"
    stopping: bool = False
    driver: str = "sim"
    """The data-plane driver running it (where its stop goes)."""
    launch: Launch | None = None
    """What a `process` replica runs (None for the sim driver)."""
    error: str = ""
    """The driver's latest start failure (it retries with backoff); cleared once the replica is ready."""


class Outstanding(msgspec.Struct, frozen=True):
    request_id: int
    gpus: int


class Deployment(msgspec.Struct, frozen=True, kw_only=True):
    """The deployment's own fields (its lifecycle is the runtime's: `actors.kind.Resource`)."""

    replicas: dict[str, Replica] = {}
    next_replica: int = 1
    grants: dict[str, int] = {}
    outstanding: dict[str, Outstanding] = {}
    last_request: int = 0
    unschedulable_since: float = 0.0
    lost: tuple[tuple[str, str], ...] = ()
    """(replica, reason) lost since the last ReplicaReplaced narrative."""
    narrated_target: int = 0
    placement_failed: bool = False
    scale: ScaleSet | None = None
    """The latest scale input (a scaler's ScaleSet): followed while the spec has autoscaling bounds."""
    slots: dict[str, tuple[Slot, ...]] = {}
    """`node` pools: pool -> the slots (node, devices) it granted us, one per replica, started or about to be."""
    draining: dict[str, tuple[str, ...]] = {}
    """`node` pools: pool -> its nodes being drained (`PoolNodesDraining`): replicas there are moved off,
    make-before-break."""
    ended: tuple[str, ...] = ()
    """Replicas that held a slot and have ended (stopped, lost): never started again; their slots are released
    by the next request to their pool."""
