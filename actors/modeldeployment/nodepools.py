"""A deployment on pools made of nodes (`GpuPool.spec.driver: node`), pure: the pool's ledger grants each
replica a slot (a node and its device ids) before it is started, so a deployment asks for slots by replica
id (absolute: the ids it lists keep or get a slot, the others are released) and starts each granted slot once.

Draining (`bosun drain node/NAME`): the pool tells each deployment holding a slot on a draining node
(`PoolNodesDraining`); its replicas there count as stale, so the deployment surges a replacement elsewhere
and stops the old one only once enough fresh ones are ready (`model._plan_scale_down`): make-before-break.
"""
from __future__ import annotations

from collections.abc import Iterable

from msgspec import UNSET
from msgspec.structs import replace

from actors.capacity import POOL_KIND, PoolNodesDraining, PoolView, SlotsGranted, SlotsRequested
from actors.decisions import Context, Message, Order
from actors.modeldeployment.events import ReplicaDrained
from actors.modeldeployment.spec import ModelDeploymentSpec
from actors.modeldeployment.state import Deployment
from actors.placement import Slot, among, fit, narrow
from core.events import Event
from core.names import Ref
from core.nodes import KIND as NODE_KIND
from core.replicas import ReplicaLost, StopReplica


def index(replica_id: str) -> int:
    tail = replica_id.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def reserved(event: SlotsRequested) -> int:
    """The next replica index free after the ids a slot request reserved."""
    return max((index(x) + 1 for x in event.replicas), default=0)


def granted(state: Deployment, answer: SlotsGranted) -> Deployment:
    """The slots a pool granted replace those we held there; ended replicas no longer held are forgotten, and so
    are the pool's draining nodes once we hold no slot there (the pool tells only holders when a drain ends)."""
    slots = {k: v for k, v in state.slots.items() if k != answer.pool}
    if answer.slots:
        slots[answer.pool] = answer.slots
    held = {s.replica for v in slots.values() for s in v}
    draining = state.draining
    off = draining.get(answer.pool, ())
    if off and not any(s.node in off for s in answer.slots):  # moved off: forget, or the node stays shunned
        draining = {k: v for k, v in draining.items() if k != answer.pool}
    return replace(state, slots=slots, ended=tuple(x for x in state.ended if x in held), draining=draining)


def ended(state: Deployment, rid: str) -> Deployment:
    """A replica that held a slot ended (stopped, lost): its slot is never started again, and is released."""
    if rid in state.ended or not any(s.replica == rid for v in state.slots.values() for s in v):
        return state
    return replace(state, ended=(*state.ended, rid))


def lost_unstarted(state: Deployment, event: ReplicaLost) -> Deployment:
    """A slot lost before its replica was started: its node was evicted between the pool's grant and our start
    (the lifecycle controller declares lost every slot the ledger holds on the node, started or not). It ends
    like a lost replica: never started there, released by our next request to the pool, and counted as lost so
    its replacement elsewhere is narrated. Only a report naming the slot's own node counts (a `NodeLost` names
    it; a driver's report is about a replica it was asked to start, which this is not)."""
    rid = event.replica
    slot = next((s for held in state.slots.values() for s in held if s.replica == rid), None)
    if slot is None or not event.node or event.node != slot.node or rid in state.ended:
        return state
    return replace(ended(state, rid), lost=(*state.lost, (rid, event.reason)))


def unstarted(state: Deployment, pool: str) -> list[Slot]:
    """Slots a pool granted whose replica has not been started yet (nor has ended), off draining nodes."""
    off = state.draining.get(pool, ())
    return [s for s in state.slots.get(pool, ()) if s.replica not in state.replicas and s.replica not in state.ended
            and s.node not in off]


def kept(state: Deployment, pool: str) -> list[str]:
    """The replicas whose slots a new request to `pool` keeps: every one not ended, but for slots never started
    on a draining node (released: never started there)."""
    off = state.draining.get(pool, ())
    return [s.replica for s in state.slots.get(pool, ()) if s.replica not in state.ended
            and (s.replica in state.replicas or s.node not in off)]


def draining(state: Deployment, token: str, event: PoolNodesDraining) -> Deployment:
    """Fold a pool's announcement of its draining nodes (sent to us: we hold a slot on one of them)."""
    if token not in event.requesters:
        return state
    nodes = {k: v for k, v in state.draining.items() if k != event.pool}
    if event.nodes:
        nodes[event.pool] = event.nodes
    return replace(state, draining=nodes)


def on_draining(state: Deployment) -> dict[str, str]:
    """Replica -> node, for each replica (stopping or not) whose slot is on a node being drained."""
    if not state.draining:
        return {}
    return {s.replica: s.node for pool, off in state.draining.items() for s in state.slots.get(pool, ())
            if s.node in off and s.replica in state.replicas}


def drained(state: Deployment, commands: Iterable[Order], ready: int) -> list[Event]:
    """The story of a decision stopping replicas on draining nodes: each is replaced (`ready` serve elsewhere)."""
    moving = on_draining(state)
    return [ReplicaDrained(replica=o.command.replica, node=moving[o.command.replica], ready=ready)
            for o in commands if isinstance(o.command, StopReplica) and o.command.replica in moving
            and not state.replicas[o.command.replica].stopping]


def live(state: Deployment, pool: str) -> list[str]:
    """The replicas whose slots a release keeps: those running (or ordered to start)."""
    return [s.replica for s in state.slots.get(pool, ()) if s.replica in state.replicas]


def room(state: Deployment, pool: PoolView, key: str, spec: ModelDeploymentSpec, ctx: Context) -> tuple[int, str]:
    """How many more replicas the pool's nodes fit for us (what its view says; its ledger decides), and
    when none, which constraint binds (`placement.nodeSelector`, `maxPerNode`, free GPUs)."""
    mine: dict[str, int] = {}
    for s in state.slots.get(key, ()):
        if s.replica not in state.ended:
            mine[s.node] = mine.get(s.node, 0) + 1
    selector = spec.placement.node_selector
    # The Node views (their labels) only for a selector: a decision records every kind it read, and a thousand
    # nodes' views made each deployment's decision header ~14 KB compressed (and the burst 1.2x a sim pool's).
    nodes, why = narrow(pool.nodes, ctx.of(NODE_KIND) if selector else (), selector)
    if why:
        return 0, why
    n, why = fit(nodes, mine, spec.gpus_per_replica, spec.placement.max_per_node or 0)
    return n, among(why, selector)


def request(requester: Ref, pool: str, replicas: list[str], spec: ModelDeploymentSpec, request_id: int) -> Message:
    """Ask a node pool for a slot for each of `replicas`, placed as the spec's `placement` says."""
    namespace, name = pool.split("/")
    g = spec.gpus_per_replica
    event = SlotsRequested(request_id=request_id, requester=requester.token, pool=pool, gpus=len(replicas) * g,
                           replicas=tuple(replicas), per_replica=g, spread=spec.placement.spread,
                           max_per_node=spec.placement.max_per_node or 0,
                           node_selector=dict(spec.placement.node_selector) or UNSET)
    return Message(Ref(POOL_KIND, namespace, name), event, f"{requester.token}/capacity/{request_id}")
