"""The peer's domain model for `bench peer`: an `eventsourcing` aggregate shaped like a ModelDeployment.

A module of its own so `python -m bench` imports `eventsourcing` only when the peer scenario runs
(the library resolves these classes by topic, `bench._peer_model:Deployment`).
"""
from __future__ import annotations

from typing import Any

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event


class Deployment(Aggregate):
    @event("Applied")
    def __init__(self, name: str, spec: dict[str, Any]) -> None:
        self.name, self.spec, self.generation = name, spec, 1
        self.phase: str | None = None
        self.conditions: list[dict[str, str]] = []
        self.fields: dict[str, Any] = {}

    @event("StatusUpdated")
    def update_status(self, observed_generation: int, phase: str, conditions: list[dict[str, str]],
                      fields: dict[str, Any]) -> None:
        self.phase, self.conditions, self.fields = phase, conditions, fields


class Fleet(Application[Any]):
    """No snapshotting, no aggregate cache (the defaults): `repository.get` folds every stored event."""
