"""The capacity protocol between ModelDeployments and GpuPools: requests on the pool's inbox, answers
on the pool's ctl slice. The pool is the single writer of its allocations, so capacity can never be
over-committed whatever the concurrency. Requests carry absolute targets, so they are idempotent.
"""
from __future__ import annotations

import msgspec
from msgspec import UNSET, UnsetType

from actors.decisions import Context, Message
from actors.placement import NodeFree, Slot, Spread
from core.events import Event
from core.names import Ref
from core.numbers import NonNegative
from core.usage import admits

POOL_KIND = "gpupool"
"""The kind whose views (`PoolView`) deployments read from their Context."""


class PoolView(msgspec.Struct, frozen=True, kw_only=True):
    """What a deployment may read of a GpuPool: published by the pool actor, never written by others."""

    ref: Ref
    region: str
    gpu: str
    capacity: int
    allocated: int
    deleting: bool = False
    driver: str = "sim"
    """The data-plane driver that actuates the pool (where replica commands for it go)."""
    price_per_gpu_hour: NonNegative = 0.0
    namespaces: tuple[str, ...] = ("*",)
    """The namespaces the pool admits besides its own (`spec.namespaces`; `*`: all). A pool's own view always
    says; the default only serves views built by hand (tests, what-if) and ones stored before it existed."""
    commands: tuple[str, ...] = ()
    """The executables the pool runs (`spec.commands`); empty: any."""
    nodes: tuple[NodeFree, ...] = ()
    """A `node` pool: its Ready, schedulable matching nodes and their free GPUs (a deployment's pre-check)."""

    @property
    def free(self) -> int:
        return max(0, self.capacity - self.allocated)

    def admits(self, namespace: str) -> bool:
        """Whether deployments of `namespace` may be placed here (a pool always admits its own namespace)."""
        return admits(self.ref.namespace, self.namespaces, namespace)


class CapacityRequested(Event, frozen=True, tag="capacity.requested"):
    request_id: int
    requester: str  # ref token of the deployment
    pool: str  # "<namespace>/<name>" of the pool
    gpus: int
    """Absolute target: how many GPUs the requester wants to hold in this pool after the answer."""

    def summary(self) -> str:
        return f"{self.requester} asks {self.pool} for {self.gpus} GPU (request {self.request_id})"


class SlotsRequested(CapacityRequested, frozen=True, tag="capacity.slots-requested"):
    """A request to a `node` pool: the replicas (absolute: every one that should hold a slot after the
    answer) each needing `per_replica` GPUs on one node; `gpus` is their sum. Slots of replicas no longer
    listed are released; those still listed keep theirs."""

    replicas: tuple[str, ...] = ()
    per_replica: int = 1
    spread: Spread = "node"
    max_per_node: int = 0
    node_selector: dict[str, str] | UnsetType = UNSET
    """The deployment's `placement.nodeSelector`: new slots only on the pool's nodes carrying these labels
    (unset, never written, when it has none: requests recorded before it existed read the same)."""

    @property
    def selector(self) -> dict[str, str]:
        return {} if isinstance(self.node_selector, UnsetType) else self.node_selector

    def summary(self) -> str:
        return f"{self.requester} asks {self.pool} for {len(self.replicas)} slot(s) of {self.per_replica} GPU"


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


class SlotsGranted(CapacityGranted, frozen=True, tag="capacity.slots-granted"):
    """A `node` pool's grant: every slot the requester now holds there (its node and device ids)."""

    slots: tuple[Slot, ...] = ()

    def summary(self) -> str:
        return f"granted {len(self.slots)} slot(s), {self.gpus} GPU, to {self.requester} (request {self.request_id})"


Answer = SlotsGranted | CapacityGranted | CapacityRefused


class PoolNodesDraining(Event, frozen=True, tag="pool.nodes-draining"):
    """A `node` pool's nodes being drained (`bosun drain`) changed: appended on the pool's ctl slice and
    sent to every requester holding a slot on one of them (or on one no longer draining). Each moves its
    replicas off those nodes make-before-break: a replacement is started and Ready elsewhere before the
    replica on the draining node is stopped."""

    pool: str
    nodes: tuple[str, ...] = ()
    """Every node of the pool being drained now (empty: none any more)."""
    requesters: tuple[str, ...] = ()

    def notify(self) -> str:
        return ",".join(self.requesters)

    def summary(self) -> str:
        told = f"{len(self.requesters)} deployment(s) with replicas there told"
        return f"draining node(s): {', '.join(self.nodes)}; {told}" if self.nodes else f"no node draining; {told}"


class CapacityAnswered(Event, frozen=True, tag="capacity.answered"):
    """Every answer of one pool decision, as one event notifying every requester in it.

    A pool is one actor serving a whole region: one append per decision instead of one per request keeps
    its fenced, sequential writes off the critical path when thousands of deployments ask at once.
    """

    pool: str
    answers: tuple[Answer, ...]

    def notify(self) -> str:
        return ",".join(dict.fromkeys(a.requester for a in self.answers))

    def summary(self) -> str:
        granted = sum(1 for a in self.answers if isinstance(a, CapacityGranted))
        refused = len(self.answers) - granted
        return f"answered {len(self.answers)} capacity request(s): {granted} granted, {refused} refused"


def answers_for(event: Event, requester: str) -> tuple[Answer, ...]:
    """The answers in `event` addressed to `requester`: a pool's batch, or a single (older) answer."""
    if isinstance(event, CapacityAnswered):
        return tuple(a for a in event.answers if a.requester == requester)
    if isinstance(event, (CapacityGranted, CapacityRefused)) and event.requester == requester:
        return (event,)
    return ()


PROTOCOL: tuple[type[Event], ...] = (CapacityRequested, CapacityGranted, CapacityRefused, CapacityAnswered,
                                     SlotsRequested, SlotsGranted, PoolNodesDraining)


def pool_key(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"


def request(requester: Ref, pool: str, gpus: int, request_id: int) -> Message:
    """Ask pool `<namespace>/<name>` for `gpus` GPUs in all (absolute: 0 gives everything back), on its inbox.

    Request ids grow per requester, across its incarnations: the pool answers each id once."""
    namespace, name = pool.split("/")
    event = CapacityRequested(request_id=request_id, requester=requester.token, pool=pool, gpus=gpus)
    return Message(Ref(POOL_KIND, namespace, name), event, f"{requester.token}/capacity/{request_id}")


def pool_in(ctx: Context, pool: str) -> PoolView | None:
    """The view pool `<namespace>/<name>` publishes (None until it is provisioned, and once it is gone)."""
    return next((p for p in ctx.of(POOL_KIND) if pool_key(p.ref.namespace, p.ref.name) == pool), None)
