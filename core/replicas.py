"""The data-plane protocol: commands actors send to drivers and observations drivers report back.

It lives in core because both sides speak it: actors emit the commands, drivers append the observations.
Every command is idempotent at the driver (keyed by replica id), so a redelivery is a no-op.
"""
from __future__ import annotations

from core.events import Event


class Command(Event, frozen=True):
    """A request for actuation; kept in the log on `bosun.cmd.<driver>.<kind>.<ns>.<name>`."""


class StartReplica(Command, frozen=True, tag="replica.start"):
    replica: str
    pool: str  # the GpuPool's name (namespace-qualified: "<ns>/<name>")
    gpus: int
    model: str
    generation: int

    def summary(self) -> str:
        return f"start {self.replica} on {self.pool} ({self.gpus} GPU, {self.model})"


class StopReplica(Command, frozen=True, tag="replica.stop"):
    replica: str
    pool: str

    def summary(self) -> str:
        return f"stop {self.replica} on {self.pool}"


class EnsurePool(Command, frozen=True, tag="pool.ensure"):
    region: str
    gpu: str
    capacity: int
    generation: int

    def summary(self) -> str:
        return f"ensure pool {self.gpu} in {self.region}, capacity {self.capacity}"


class RetirePool(Command, frozen=True, tag="pool.retire"):
    def summary(self) -> str:
        return "retire pool"


class Observation(Event, frozen=True):
    """What a driver saw; appended on the resource's `obs` slice."""


class ReplicaStarted(Observation, frozen=True, tag="replica.started"):
    replica: str
    pool: str

    def summary(self) -> str:
        return f"{self.replica} starting on {self.pool}"


class ReplicaReady(Observation, frozen=True, tag="replica.ready"):
    replica: str
    pool: str

    def summary(self) -> str:
        return f"{self.replica} ready on {self.pool}"


class ReplicaStopped(Observation, frozen=True, tag="replica.stopped"):
    replica: str
    pool: str

    def summary(self) -> str:
        return f"{self.replica} stopped"


class ReplicaLost(Observation, frozen=True, tag="replica.lost"):
    """The replica vanished (or never came up) without Bosun asking: drift, or a failed start."""

    replica: str
    pool: str
    reason: str

    def summary(self) -> str:
        return f"{self.replica} lost: {self.reason}"


class PoolReady(Observation, frozen=True, tag="pool.ready"):
    capacity: int
    generation: int

    def summary(self) -> str:
        return f"pool ready, capacity {self.capacity}"


class PoolRetired(Observation, frozen=True, tag="pool.retired"):
    def summary(self) -> str:
        return "pool retired"


COMMANDS: tuple[type[Command], ...] = (StartReplica, StopReplica, EnsurePool, RetirePool)
OBSERVATIONS: tuple[type[Observation], ...] = (ReplicaStarted, ReplicaReady, ReplicaStopped, ReplicaLost,
                                                PoolReady, PoolRetired)
