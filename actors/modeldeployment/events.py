"""Narrative events of the deployment controller: the story of its decisions, kept forever."""
from __future__ import annotations

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
    reason: str
    since: Finite = 0.0
    """Decision time when placement first failed: the requeue wait grows from it."""

    def summary(self) -> str:
        return f"placement failed: {self.reason}"


class ReplicaReplaced(Event, frozen=True, tag="deployment.replica-replaced"):
    lost: str
    replacement: str
    reason: str

    def summary(self) -> str:
        return f"replaced {self.lost} with {self.replacement} ({self.reason})"


EVENTS: tuple[type[Event], ...] = (ScaleUpStarted, ScaleUpCompleted, ScaleDownStarted, PlacementFailed,
                                   ReplicaReplaced)
