"""The data-plane protocol: commands actors send to drivers and observations drivers report back.

It lives in core because both sides speak it: actors emit the commands, drivers append the observations.
Every command is idempotent at the driver (keyed by replica id), so a redelivery is a no-op.
"""
from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from core.events import Event
from core.numbers import NonNegative

Pid = Annotated[int, Meta(ge=0, le=2**31 - 1)]
"""A process id (pid_t is a signed 32-bit int); 0: none known."""
Port = Annotated[int, Meta(ge=0, le=65535)]
"""A TCP port; 0: none known."""


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


class Probe(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    """An HTTP GET against the replica's own port: 2xx means ready."""

    path: str
    period_seconds: NonNegative = 2.0
    failure_threshold: int = 3


class Launch(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    """How the process driver runs one replica. It travels with the command, so the driver never has to
    read specs and a redelivered command starts exactly what was decided."""

    command: tuple[str, ...]
    env: dict[str, str] = {}
    readiness: Probe | None = None
    startup_seconds: NonNegative = 1.0
    termination_grace_seconds: NonNegative = 10.0
    load_path: str = ""
    """GET path answering the replica's current load (a number); empty: the driver does not ask."""


class StartProcess(StartReplica, frozen=True, tag="replica.start-process"):
    """StartReplica for a `process` pool: the same replica identity plus what to run.

    A subtype (not new fields on StartReplica) keeps every sim command byte-identical to older ones,
    so recorded decisions still replay exactly.
    """

    launch: Launch

    def summary(self) -> str:
        return f"start {self.replica} on {self.pool} ({self.gpus} GPU, {self.model}): {' '.join(self.launch.command)}"


class StartOnNode(StartProcess, frozen=True, tag="replica.start-on-node"):
    """StartProcess for a `node` pool, sent to that node's agent (`bosun.cmd.node-<NAME>.…`): the node and
    the device ids the pool's ledger gave this replica alone (its `CUDA_VISIBLE_DEVICES`)."""

    node: Annotated[str, Meta(max_length=63)]
    devices: tuple[Annotated[str, Meta(max_length=64)], ...] = ()

    def summary(self) -> str:
        return (f"start {self.replica} on node {self.node} of {self.pool} (GPU {','.join(self.devices) or '-'},"
                f" {self.model}): {' '.join(self.launch.command)}")


class StopReplica(Command, frozen=True, tag="replica.stop"):
    replica: str
    pool: str

    def summary(self) -> str:
        return f"stop {self.replica} on {self.pool}"


NODE_LOST = "NodeLost"
"""The reason of a ReplicaLost for a replica whose node was NotReady longer than the eviction timeout."""


class Evicted(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """One replica taken off a lost node: its resource's token (`<kind>.<ns>.<name>`), id and pool."""

    target: Annotated[str, Meta(max_length=200)]
    replica: Annotated[str, Meta(max_length=253)]
    pool: Annotated[str, Meta(max_length=200)] = ""


class EvictReplicas(Command, frozen=True, tag="replica.evict"):
    """To a lost node's agent, from the node lifecycle controller (`bosun.cmd.node-<NAME>.node._cluster.<NAME>`):
    these replicas are no longer assigned to you (they were declared lost and replaced elsewhere): stop them
    now. The agent beats `fence` = this command's stream sequence only once they are gone, and the node is
    Ready again only from such a beat: never two serving copies once the agent has seen the log."""

    node: Annotated[str, Meta(max_length=63)]
    replicas: Annotated[tuple[Evicted, ...], Meta(max_length=20_000)] = ()

    def summary(self) -> str:
        return f"evict {len(self.replicas)} replica(s) from node {self.node}: stop them before beating Ready"


class EnsurePool(Command, frozen=True, tag="pool.ensure"):
    region: str
    gpu: str
    capacity: int
    generation: int

    def summary(self) -> str:
        return f"ensure pool {self.gpu} in {self.region}, capacity {self.capacity}"


class EnsureDevices(EnsurePool, frozen=True, tag="pool.ensure-devices"):
    """EnsurePool for a `process` pool: the host's device ids the driver hands out to replicas."""

    devices: tuple[str, ...] = ()


class RetirePool(Command, frozen=True, tag="pool.retire"):
    def summary(self) -> str:
        return "retire pool"


class Observation(Event, frozen=True):
    """What a driver saw; appended on the resource's `obs` slice."""


class ReplicaStarted(Observation, frozen=True, tag="replica.started", omit_defaults=True):
    """The replica's process (or simulated slot) exists. Where it runs rides along when the driver knows it,
    so `describe`, the dashboard and an operator's `kill -9` can find it; the defaults (what older events
    and the sim say) are left out of the encoding, so sim observations stay byte-identical."""

    replica: str
    pool: str
    node: Annotated[str, Meta(max_length=253)] = ""
    pid: Pid = 0
    port: Port = 0
    devices: tuple[Annotated[str, Meta(max_length=64)], ...] = ()

    def summary(self) -> str:
        where = ", ".join(part for part in (f"node {self.node}" if self.node else "",
                                            f"pid {self.pid}" if self.pid else "",
                                            f"port {self.port}" if self.port else "") if part)
        return f"{self.replica} starting on {self.pool}" + (f" ({where})" if where else "")


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


class ReplicaLost(Observation, frozen=True, tag="replica.lost", omit_defaults=True):
    """The replica vanished (or never came up) without Bosun asking: drift, or a failed start; or its node
    was lost (`reason` NodeLost, written by the node lifecycle controller). The defaults (what drivers say)
    are left out of the encoding, so their observations stay byte-identical."""

    replica: str
    pool: str
    reason: str
    node: Annotated[str, Meta(max_length=253)] = ""
    message: Annotated[str, Meta(max_length=500)] = ""
    """More than the reason (a lost node: which, and for how long)."""

    def summary(self) -> str:
        return f"{self.replica} lost: {self.reason}" + (f" ({self.message})" if self.message else "")


class ReplicaStartFailed(Observation, frozen=True, tag="replica.start-failed"):
    """The replica could not start (or exited before it was ready); the driver retries it after `retry_in`."""

    replica: str
    pool: str
    reason: str
    attempt: int
    retry_in: NonNegative

    def summary(self) -> str:
        return f"{self.replica} failed to start (attempt {self.attempt}, retry in {self.retry_in:g}s): {self.reason}"


class LoadObserved(Observation, frozen=True, tag="load.observed"):
    """Requests per second the deployment serves, summed over its replicas, as a driver measured it."""

    rps: NonNegative
    replicas: int = 0

    def summary(self) -> str:
        return f"load {self.rps:g} rps over {self.replicas} replica(s)"


class PoolReady(Observation, frozen=True, tag="pool.ready"):
    capacity: int
    generation: int

    def summary(self) -> str:
        return f"pool ready, capacity {self.capacity}"


class PoolRetired(Observation, frozen=True, tag="pool.retired"):
    def summary(self) -> str:
        return "pool retired"


COMMANDS: tuple[type[Command], ...] = (StartReplica, StopReplica, EnsurePool, RetirePool, StartProcess,
                                       EnsureDevices, StartOnNode, EvictReplicas)
OBSERVATIONS: tuple[type[Observation], ...] = (ReplicaStarted, ReplicaReady, ReplicaStopped, ReplicaLost,
                                                PoolReady, PoolRetired, ReplicaStartFailed, LoadObserved)
