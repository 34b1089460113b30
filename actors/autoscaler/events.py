"""The autoscaler's narrative: each recommendation it made and why (its stabilization memory, too)."""
from __future__ import annotations

from core.events import Event
from core.numbers import Finite, NonNegative


class ScaleRecommended(Event, frozen=True, tag="autoscaler.recommended"):
    load: NonNegative
    """Requests per second the deployment served (the latest LoadObserved)."""
    raw: int
    """ceil(load / targetLoadPerReplica) within [min, max]: what this load alone asks for."""
    wanted: int
    """ceil(load / targetLoadPerReplica), unbounded."""
    replicas: int
    """The stabilized recommendation written as the deployment's scale input."""
    at: Finite
    """Decision time: the stabilization windows look back from it."""
    reason: str = ""

    def summary(self) -> str:
        return f"autoscaler: load {self.load:g} rps -> {self.raw} wanted, recommends {self.replicas} ({self.reason})"


EVENTS: tuple[type[Event], ...] = (ScaleRecommended,)
