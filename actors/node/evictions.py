"""Evicting a lost node's replicas, pure: which replicas the ledgers hold on it, and what is written for them.

The pools made of nodes are the single writers of their ledgers (`actors.gpupool.model.Pool.slots`): a slot is
a replica's assignment to a node and its devices. A node NotReady past the eviction timeout loses every one:
- its agent gets one `EvictReplicas` (on the Node's own command subject, which its consumer reads) naming them;
- each replica's resource gets `ReplicaLost` (reason NodeLost) on its `obs` slice, where its deployment folds
  what drivers observe, so it replaces the replica elsewhere and its next slot request releases the old slot;
- the Node's `ctl.lifecycle` gets `NodeReplicasEvicted`, whose `fence` is the command's stream sequence.
Every message id derives from the node and the sequence of the verdict that found it lost: two controller
hosts, or one restarted mid-way, write each of them once.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from actors.placement import Slot
from core import nodes, subjects
from core.names import Ref
from core.replicas import NODE_LOST, Evicted, EvictReplicas, ReplicaLost


def assigned(ledgers: Iterable[tuple[str, Mapping[str, Sequence[Slot]]]], node: str) -> tuple[Evicted, ...]:
    """Every replica holding a slot on `node` in these ledgers ((pool key, requester token -> its slots)),
    in a stable order."""
    out = {Evicted(target=requester, replica=s.replica, pool=pool)
           for pool, slots in ledgers for requester, held in slots.items() for s in held if s.node == node}
    return tuple(sorted(out, key=lambda e: (e.target, e.replica, e.pool)))


def command(node: str, replicas: tuple[Evicted, ...]) -> tuple[str, EvictReplicas]:
    """The agent's order, on the Node's own command subject (`bosun.cmd.node-<NAME>.node._cluster.<NAME>`)."""
    return subjects.cmd(nodes.driver(node), nodes.ref(node)), EvictReplicas(node=node, replicas=replicas)


def command_id(node: str, lost_seq: int) -> str:
    return f"lifecycle/{node}/{lost_seq}/evict"


def lost(node: str, lost_seq: int, replica: Evicted, waited: float) -> tuple[str, ReplicaLost, str]:
    """(subject, event, message id) declaring one replica lost with its node."""
    event = ReplicaLost(replica=replica.replica, pool=replica.pool, reason=NODE_LOST, node=node,
                        message=f"node {node} NotReady past the eviction timeout ({waited:g}s without a heartbeat)")
    msg_id = f"lifecycle/{node}/{lost_seq}/{replica.target}/{replica.replica}"
    return subjects.obs(Ref.parse(replica.target)), event, msg_id


def listed(replicas: tuple[Evicted, ...]) -> tuple[str, ...]:
    """The replicas the Node's timeline names (`<namespace>/<name>/<replica>`)."""
    out = []
    for e in replicas[:nodes.MAX_LISTED]:
        ref = Ref.parse(e.target)
        out.append(f"{ref.namespace}/{ref.name}/{e.replica}")
    return tuple(out)


def marker(fence: int, replicas: tuple[Evicted, ...], eviction: float) -> nodes.NodeReplicasEvicted:
    return nodes.NodeReplicasEvicted(fence=fence, count=len(replicas), replicas=listed(replicas), timeout=eviction)
