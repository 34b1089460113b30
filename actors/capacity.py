"""The capacity protocol between ModelDeployments and GpuPools: requests on the pool's inbox, answers
on the pool's ctl slice. The pool is the single writer of its allocations, so capacity can never be
over-committed whatever the concurrency. Requests carry absolute targets, so they are idempotent.
"""
from __future__ import annotations

from core.events import Event


class CapacityRequested(Event, frozen=True, tag="capacity.requested"):
    request_id: int
    requester: str  # ref token of the deployment
    pool: str  # "<namespace>/<name>" of the pool
    gpus: int
    """Absolute target: how many GPUs the requester wants to hold in this pool after the answer."""

    def summary(self) -> str:
        return f"{self.requester} asks {self.pool} for {self.gpus} GPU (request {self.request_id})"


class CapacityGranted(Event, frozen=True, tag="capacity.granted"):
    request_id: int
    requester: str
    pool: str
    gpus: int

    def notify(self) -> str:
        return self.requester

    def summary(self) -> str:
        return f"granted {self.gpus} GPU to {self.requester} (request {self.request_id})"


class CapacityRefused(Event, frozen=True, tag="capacity.refused"):
    request_id: int
    requester: str
    pool: str
    gpus: int
    available: int
    reason: str

    def notify(self) -> str:
        return self.requester

    def summary(self) -> str:
        return f"refused {self.gpus} GPU to {self.requester}: {self.reason}"


PROTOCOL: tuple[type[Event], ...] = (CapacityRequested, CapacityGranted, CapacityRefused)


def pool_key(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"
