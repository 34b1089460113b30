"""Node's pure core: fold what the agent observed into the node's status.

The agent is the only writer of its Node's `obs` slice (its NATS permissions say so). Its observations say
who joined (labels, devices, an epoch that grows at every start), what it runs (periodic reports) and that
it left. The phase is Ready between a join and a leave, unless the node lifecycle controller
(`actors.node.lifecycle`, its own ctl slice) found its heartbeat lease late (NotReady after `--node-timeout`)
and has not seen it beat again since.
"""
from __future__ import annotations

from typing import Any

import msgspec
from msgspec.structs import replace

from actors.decisions import Context, Decision
from actors.kind import Resource
from actors.node.spec import NodeSpec
from core.events import Condition, Event
from core.nodes import (
    Device,
    NodeHeartbeatLost,
    NodeHeartbeatResumed,
    NodeJoined,
    NodeLeft,
    NodeReplicasEvicted,
    NodeReported,
    NodeView,
)

CONTROLLER_NAME = "nodes"


class Node(msgspec.Struct, frozen=True, kw_only=True):
    joined: bool = False
    left: bool = False
    epoch: int = 0
    labels: dict[str, str] = {}
    """The agent's own labels (GPU discovery's among them)."""
    devices: tuple[Device, ...] = ()
    note: str = ""
    host: str = ""
    pid: int = 0
    replicas: int = 0
    allocated: tuple[str, ...] = ()
    heartbeat: float = 0.0
    """When the agent last said it was alive, in the log (join, report, leave)."""
    lost: float = 0.0
    """The node timeout after which the lifecycle controller found its heartbeat late; 0: not lost."""
    evicted: int = 0
    """Replicas the lifecycle controller evicted in this loss (`--eviction-timeout`); 0 once it beats again."""
    fence: int = 0
    """That eviction's fence: the node is Ready again only from a beat that reaches it."""


Live = Resource[NodeSpec, Node]


def evolve(r: Live, event: Event) -> Node:
    state = r.state
    match event:
        case NodeJoined() if event.epoch >= state.epoch:
            return replace(state, joined=True, left=False, epoch=event.epoch, labels=dict(event.labels),
                           devices=event.devices, note=event.note, host=event.host, pid=event.pid,
                           heartbeat=max(state.heartbeat, event.at))
        case NodeReported() if event.epoch >= state.epoch:
            return replace(state, replicas=event.replicas, allocated=event.allocated,
                           heartbeat=max(state.heartbeat, event.at))
        case NodeLeft() if event.epoch >= state.epoch:
            return replace(state, left=True, heartbeat=max(state.heartbeat, event.at))
        case NodeHeartbeatLost(timeout=timeout):
            return replace(state, lost=max(timeout, 1e-9), evicted=0, fence=0)
        case NodeReplicasEvicted(fence=fence, count=count):
            return replace(state, lost=state.lost or 1e-9, evicted=count, fence=fence)
        case NodeHeartbeatResumed():
            return replace(state, lost=0.0, evicted=0, fence=0)
        case _:
            return state


def labels(spec: NodeSpec, state: Node) -> dict[str, str]:
    """What a `nodeSelector` matches: the agent's labels, the spec's over them."""
    return {**state.labels, **spec.labels}


def ready(state: Node) -> bool:
    return state.joined and not state.left and not state.lost


def schedulable(spec: NodeSpec) -> bool:
    """New replicas may go there: neither cordoned nor draining."""
    return not (spec.unschedulable or spec.drain)


def fields(spec: NodeSpec, state: Node) -> dict[str, Any]:
    """The status fields `bosun get nodes` and the dashboard show."""
    drain = {"drain": {"phase": drain_phase(state), "replicasLeft": state.replicas}} if spec.drain else {}
    return {"schedulable": schedulable(spec), "labels": labels(spec, state),
            "devices": [msgspec.to_builtins(d) for d in state.devices], "totalGpus": len(state.devices),
            "allocatedGpus": len(state.allocated), "replicas": state.replicas, "heartbeatTime": state.heartbeat,
            "epoch": state.epoch, "host": state.host, **({"note": state.note} if state.note else {}),
            **({"evictedReplicas": state.evicted} if state.lost and state.fence else {}), **drain}


def drain_phase(state: Node) -> str:
    """`Drained` once the agent reports no replica left on the machine, else `Draining`."""
    return "Drained" if state.replicas == 0 else "Draining"


def drained(spec: NodeSpec, state: Node) -> Condition | None:
    """The `Drained` condition of a node being drained (`spec.drain`): how many replicas are left."""
    if not spec.drain:
        return None
    if state.replicas == 0:
        return Condition(type="Drained", status="True", reason="Drained",
                         message="no replica runs on the node; it stays cordoned (bosun uncordon node/NAME)")
    return Condition(type="Drained", status="False", reason="Draining",
                     message=f"{state.replicas} replica(s) left: each is replaced elsewhere, then stopped")


def decide(r: Live, now: float, ctx: Context) -> Decision:
    state = r.state
    if not state.joined:
        cond = Condition(type="Ready", status="False", reason="NeverJoined",
                         message="no agent has joined as this node yet (bosun agent --node NAME)")
    elif state.left:
        cond = Condition(type="Ready", status="False", reason="AgentStopped", message="the agent stopped")
    elif state.lost and state.fence:
        cond = Condition(type="Ready", status="False", reason="HeartbeatLost",
                         message=f"no heartbeat past the eviction timeout: its {state.evicted} replica(s) were "
                                 "evicted (replaced elsewhere); Ready again once its agent has stopped them")
    elif state.lost:
        cond = Condition(type="Ready", status="False", reason="HeartbeatLost",
                         message=f"no heartbeat for more than {state.lost:g}s (node timeout)")
    else:
        cond = Condition(type="Ready", status="True", reason="AgentReady",
                         message=f"agent on {state.host or '?'} (epoch {state.epoch}), {len(state.devices)} GPU")
    phase = "Ready" if ready(state) else "NotReady"
    conds = (cond,) if (drain := drained(r.spec, state)) is None else (cond, drain)
    return Decision(events=(r.status_update(phase, *conds, fields=fields(r.spec, state)),))


def view(r: Live) -> NodeView | None:
    """Published for the pools made of nodes (`GpuPool.spec.driver: node`)."""
    spec = r.applied
    if spec is None or r.gone or not r.state.joined:
        return None
    return NodeView(name=r.ref.name, ready=ready(r.state) and not r.deleting, schedulable=schedulable(spec),
                    labels=labels(spec, r.state), devices=tuple(d.id for d in r.state.devices), draining=spec.drain)
