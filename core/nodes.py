"""Nodes: the machines a `bosun agent` runs on (pure data: names, subjects, the agent's observations).

One agent per machine joins the plane as its node's own principal, `node-<NAME>` (bound to the built-in
role `node`). Everything the node may touch is named here, so its NATS permissions are a few subjects:

- `bosun.node.<NAME>.obs`: its observations (joined, status report, left), which the gateway decodes and
  appends on its Node's `obs` slice, `bosun.ev.node._cluster.<NAME>.obs`, under message ids of its own
  choosing (a node never writes the log: it could not forge headers or another writer's dedup ids);
- `bosun.node.<NAME>.beat`: its heartbeat, which the gateway writes to the node's KV lease
  `$KV.bosun-nodes.<NAME>` (one key, overwritten every beat: liveness is never a log event per beat).

Its commands (`StartOnNode`, `StopReplica` of the replicas a pool made of nodes placed there) are written under a
driver token of its own, `bosun.cmd.node-<NAME>.<kind>.<ns>.<name>` (`driver`), and read through one durable
pull consumer, `node-<NAME>` on the BOSUN stream, which the gateway creates with that fixed filter when the node
joins (`commands`, `consumer`): the node may only pull from it and ack, never create or change a consumer.
"""
from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from core.events import Event
from core.names import CLUSTER_NS, Ref
from core.numbers import NonNegative
from core.replicas import (
    LoadObserved,
    ReplicaLost,
    ReplicaReady,
    ReplicaStarted,
    ReplicaStartFailed,
    ReplicaStopped,
)

KIND = "node"
"""The Node kind's subject token (`actors.node.kind`)."""
BUCKET = "bosun-nodes"
"""Heartbeat leases: key = node name, value = `Heartbeat` (JSON)."""
ROLE = "node"
"""The built-in role a node principal is bound to (`gateway.admission.policy.BUILTIN_ROLES`)."""
PRINCIPAL_PREFIX = "node-"
MAX_NAME = 63 - len(PRINCIPAL_PREFIX)
"""A node's name leaves room for its principal's prefix (principal names are DNS labels)."""
REFUSED_EXIT = 3
"""An agent's exit status when its node's token is refused: the node was removed (`bosun node remove`) or joined
again (a new token), and running it again with the same join file cannot help; or no gateway answered NATS's
auth callout, and a restart heals. `bosun up` asks the gateway which before it restarts its own node's agent."""
HEARTBEAT_INTERVAL = 2.0
REPORT_INTERVAL = 60.0
"""The agent records its status in the log when it changes, and at least this often (the HEARTBEAT column
shows the last recorded beat); liveness itself is the KV lease, beaten every `HEARTBEAT_INTERVAL`."""

NodeName = Annotated[str, Meta(min_length=1, max_length=MAX_NAME, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
LabelKey = Annotated[str, Meta(min_length=1, max_length=63, pattern=r"^[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?$")]
LabelValue = Annotated[str, Meta(max_length=63, pattern=r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")]
Labels = Annotated[dict[LabelKey, LabelValue], Meta(max_length=64)]
DeviceId = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][-A-Za-z0-9_:]*$")]


SIM_PREFIX = "sim-"
"""Simulated nodes (`bosun up --sim-nodes N`) are `sim-0001` ... : served by one component, not by agents."""


def sim_names(count: int) -> tuple[str, ...]:
    """The names of `count` simulated nodes, numbered from 1 with at least four digits (they sort)."""
    width = max(4, len(str(count)))
    return tuple(f"{SIM_PREFIX}{i:0{width}d}" for i in range(1, count + 1))


def ref(name: str) -> Ref:
    return Ref(KIND, CLUSTER_NS, name)


def principal(name: str) -> str:
    """The principal a node's agent connects as."""
    return f"{PRINCIPAL_PREFIX}{name}"


def node_of(principal_name: str) -> str | None:
    """The node a principal is the agent of (None: not a node's principal name)."""
    if not principal_name.startswith(PRINCIPAL_PREFIX):
        return None
    return principal_name[len(PRINCIPAL_PREFIX):] or None


def driver(name: str) -> str:
    """The driver token of a node's commands: `bosun.cmd.node-<NAME>.<kind>.<ns>.<name>`."""
    return f"node-{name}"


def consumer(name: str) -> str:
    """The durable pull consumer holding node `name`'s commands (the gateway creates it at the node's join)."""
    return f"node-{name}"


def commands(name: str) -> str:
    """The filter of that consumer: every command for the node's driver token."""
    return f"bosun.cmd.{driver(name)}.>"


def obs_subject(name: str) -> str:
    return f"bosun.ev.{KIND}.{CLUSTER_NS}.{name}.obs"


DOOR = "bosun.node.*.*"
"""What the gateway's door listens to: every node's reports and beats (each node may publish only its own)."""
REPORT, BEAT = "obs", "beat"


def door_subjects(name: str) -> str:
    return f"bosun.node.{name}.*"


def report_subject(name: str) -> str:
    return f"bosun.node.{name}.{REPORT}"


def beat_subject(name: str) -> str:
    return f"bosun.node.{name}.{BEAT}"


class Device(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    """One GPU of a node: its id (what `CUDA_VISIBLE_DEVICES` names), and what NVML says about it."""

    id: DeviceId
    uuid: Annotated[str, Meta(max_length=128)] = ""
    model: Annotated[str, Meta(max_length=128)] = ""
    memory_mib: Annotated[int, Meta(ge=0)] = 0


class NodeObservation(Event, frozen=True):
    """What a node's agent says about its machine; appended on the Node's `obs` slice."""


class NodeJoined(NodeObservation, frozen=True, tag="node.joined"):
    """The agent started (or restarted): its labels and devices as of now; `epoch` grows at every start."""

    labels: Labels = msgspec.field(default_factory=dict)
    devices: Annotated[tuple[Device, ...], Meta(max_length=1024)] = ()
    host: Annotated[str, Meta(max_length=253)] = ""
    pid: Annotated[int, Meta(ge=0)] = 0
    epoch: Annotated[int, Meta(ge=0)] = 0
    at: NonNegative = 0.0
    note: Annotated[str, Meta(max_length=512)] = ""
    """Why it has no GPUs, when `--gpus auto` found none."""

    def summary(self) -> str:
        gpus = f"{len(self.devices)} GPU" + ("" if not self.note else f" ({self.note})")
        return f"node joined from {self.host or '?'} (pid {self.pid}, epoch {self.epoch}): {gpus}"


class NodeReported(NodeObservation, frozen=True, tag="node.reported"):
    """The agent's periodic status: what it runs now (and that it is alive, as of `at`)."""

    replicas: Annotated[int, Meta(ge=0)] = 0
    allocated: Annotated[tuple[DeviceId, ...], Meta(max_length=1024)] = ()
    epoch: Annotated[int, Meta(ge=0)] = 0
    at: NonNegative = 0.0
    fenced: Annotated[int, Meta(ge=0)] = 0
    """Replicas the agent stopped on its own since its previous report, cut off from the plane past the time the
    plane replaces them (`dataplane.agent.cutoff`)."""
    cut_off_seconds: NonNegative = 0.0
    """How long it had heard nothing from the plane when it stopped them."""

    def summary(self) -> str:
        fenced = (f"; cut off from the plane for {self.cut_off_seconds:.0f}s, it stopped {self.fenced} replica(s) "
                  "on its own (replaced elsewhere)") if self.fenced else ""
        return f"node reports {self.replicas} replica(s), {len(self.allocated)} GPU in use{fenced}"


class NodeLeft(NodeObservation, frozen=True, tag="node.left"):
    """The agent stopped on purpose (SIGTERM): the node is NotReady until it joins again."""

    epoch: Annotated[int, Meta(ge=0)] = 0
    at: NonNegative = 0.0

    def summary(self) -> str:
        return "node left (agent stopped)"


OBSERVATIONS: tuple[type[NodeObservation], ...] = (NodeJoined, NodeReported, NodeLeft)
MAX_LISTED = 50
"""Evicted replicas named in a Node's timeline (the rest are counted)."""
LIFECYCLE = "lifecycle"
"""The node lifecycle controller's ctl slice (`actors.node.lifecycle`): its verdicts on the heartbeat lease."""


class NodeHeartbeatLost(Event, frozen=True, tag="node.heartbeat-lost"):
    """No heartbeat for longer than the node timeout: the node is NotReady until beats resume."""

    timeout: NonNegative
    last_beat: NonNegative = 0.0
    """The agent's own time of its last beat (as it said it)."""

    def summary(self) -> str:
        return f"node not ready: no heartbeat for {self.timeout:g}s"


class NodeHeartbeatResumed(Event, frozen=True, tag="node.heartbeat-resumed"):
    def summary(self) -> str:
        return "node heartbeat resumed"


class NodeReplicasEvicted(Event, frozen=True, tag="node.replicas-evicted"):
    """The node stayed NotReady longer than the eviction timeout: each replica assigned to it was declared lost
    (`ReplicaLost`, reason NodeLost, on its resource's `obs` slice: its deployment replaces it elsewhere) and
    its agent was told to stop them (`EvictReplicas`, at stream sequence `fence`). The node is Ready again only
    from a beat whose `fence` reaches it: once its agent has stopped them."""

    fence: Annotated[int, Meta(ge=0)]
    count: Annotated[int, Meta(ge=0)] = 0
    replicas: Annotated[tuple[str, ...], Meta(max_length=MAX_LISTED)] = ()
    """The first `MAX_LISTED` of them, `<namespace>/<name>/<replica>`."""
    timeout: NonNegative = 0.0
    """The eviction timeout."""

    def summary(self) -> str:
        listed = ", ".join(self.replicas) + (f" and {self.count - len(self.replicas)} more"
                                             if self.count > len(self.replicas) else "")
        return (f"node lost for {self.timeout:g}s past its node timeout: {self.count} replica(s) evicted"
                + (f" ({listed})" if listed else ""))


VERDICTS: tuple[type[Event], ...] = (NodeHeartbeatLost, NodeHeartbeatResumed, NodeReplicasEvicted)


class Heartbeat(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """The value of a node's heartbeat key."""

    at: NonNegative
    epoch: int = 0
    pid: int = 0
    fence: Annotated[int, Meta(ge=0)] = 0
    """The stream sequence of the last eviction (`EvictReplicas`) the agent has carried out, or below which its
    command consumer holds nothing for it: a node evicted at a higher one is not Ready from this beat."""


def parse_labels(text: str) -> dict[str, str]:
    """`k=v,k2=v2` -> a dict; raises ValueError naming the bad item."""
    out: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"expected k=v, got {item!r}")
        out[key.strip()] = value.strip()
    msgspec.convert(out, Labels)
    return out


class JoinFile(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """What `bosun node join NAME` prints and `bosun agent --join FILE` reads: where the plane is, and the
    node's own credential (a secret: keep the file 0600)."""

    node: NodeName
    nats: list[str]
    """NATS seed URLs (no password: the agent connects with `token`)."""
    token: str
    inbox_prefix: str = ""
    node_timeout: Annotated[float, Meta(ge=0)] | None = None
    """The plane's node timeout when the file was made (`bosun up --node-timeout`); None: an older file."""
    eviction_timeout: Annotated[float, Meta(ge=0)] | None = None
    """The plane's eviction timeout: with `node_timeout`, how long a cut-off agent waits before it stops its
    replicas on its own (`dataplane.agent.cutoff`)."""


class NodeView(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What a pool (and a deployment) may read of a Node (published by the Node actor): whether it takes
    replicas, its labels (the agent's with the spec's over them), its device ids and whether it is draining."""

    name: str
    ready: bool = False
    schedulable: bool = True
    labels: dict[str, str] = {}
    devices: tuple[str, ...] = ()
    draining: bool = False
    """`bosun drain`: every replica on the node is to be replaced elsewhere, then stopped (never schedulable)."""


REPLICA_OBSERVATIONS = (ReplicaStarted, ReplicaReady, ReplicaStopped, ReplicaLost, ReplicaStartFailed, LoadObserved)


class ReplicaReport(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="node.replica-report",
                    rename="camel"):
    """What the agent's runner observed of a replica it runs (sent on the node's own `obs` door subject). The
    gateway appends `event` on `target`'s `obs` slice only when that replica was assigned to this node (a
    `StartOnNode` on `bosun.cmd.node-<NAME>.<target>`), under `node/<NAME>/<id>`: a node can neither report
    another node's replicas nor set anyone else's dedup id."""

    target: Annotated[str, Meta(max_length=200, pattern=r"^[a-z0-9-]+\.[a-z0-9_-]+\.[a-z0-9-]+$")]
    """The resource's token, `<kind>.<namespace>.<name>`."""
    id: Annotated[str, Meta(min_length=1, max_length=400, pattern=r"^[^\s*>]+$")]
    """The runner's own dedup id of the observation (`obs/<token>/<replica>/<what>/<n>`)."""
    event: ReplicaStarted | ReplicaReady | ReplicaStopped | ReplicaLost | ReplicaStartFailed | LoadObserved
    at: NonNegative = 0.0
