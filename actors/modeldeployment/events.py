"""Narrative events of the deployment controller: the story of its decisions, kept forever."""
from __future__ import annotations

from typing import Any, ClassVar

from core import codec
from core.events import Event
from core.numbers import Finite


class ScaleUpStarted(Event, frozen=True, tag="deployment.scale-up-started"):
    from_replicas: int
    to_replicas: int

    def summary(self) -> str:
        return f"scale-up started: {self.from_replicas} -> {self.to_replicas} replicas"


class ScaleUpCompleted(Event, frozen=True, tag="deployment.scale-up-completed"):
    replicas: int

    def summary(self) -> str:
        return f"scale-up completed: {self.replicas} replicas ready"


class ScaleDownStarted(Event, frozen=True, tag="deployment.scale-down-started"):
    from_replicas: int
    to_replicas: int

    def summary(self) -> str:
        return f"scale-down started: {self.from_replicas} -> {self.to_replicas} replicas"


class PlacementFailed(Event, frozen=True, tag="deployment.placement-failed"):
    """v2 (issue #26) adds `code`: why, as a stable word a dashboard or an alert can match on
    (`NoMatchingPool`, `InsufficientCapacity`). v1 bodies are upcast (`_placement_v1_to_v2`); a v1 reader
    (the previous release, during a rolling upgrade) reads v2 bodies as v1, ignoring `code`."""

    version: ClassVar[int] = 2
    reason: str
    since: Finite = 0.0
    """Decision time when placement first failed: the requeue wait grows from it."""
    code: str = ""

    def summary(self) -> str:
        return f"placement failed: {self.reason}"


NO_MATCHING_POOL = "no ready GpuPool matches"
NO_POOL_MAY_TAKE = "no ready GpuPool may take it"


def placement_code(reason: str) -> str:
    """The `code` of a placement failure's `reason` (the one place both the decision and the upcaster ask)."""
    return "NoMatchingPool" if reason.startswith((NO_MATCHING_POOL, NO_POOL_MAY_TAKE)) else "InsufficientCapacity"


@codec.upcaster("deployment.placement-failed", 1)
def _placement_v1_to_v2(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "code": placement_code(str(body.get("reason", "")))}


class ReplicaReplaced(Event, frozen=True, tag="deployment.replica-replaced"):
    lost: str
    replacement: str
    reason: str

    def summary(self) -> str:
        return f"replaced {self.lost} with {self.replacement} ({self.reason})"


class ReplicaDrained(Event, frozen=True, tag="deployment.replica-drained"):
    """A replica on a draining node is stopped: its replacement serves elsewhere (make-before-break)."""

    replica: str
    node: str
    ready: int = 0
    """Replicas ready elsewhere once it stops."""

    def summary(self) -> str:
        return f"stopping {self.replica} on draining node {self.node}: {self.ready} replica(s) ready elsewhere"


EVENTS: tuple[type[Event], ...] = (ScaleUpStarted, ScaleUpCompleted, ScaleDownStarted, PlacementFailed,
                                   ReplicaReplaced, ReplicaDrained)
