"""GpuPool's pure core: fold allocation requests in log order, grant or refuse each exactly once.

Requests carry absolute targets; a grant replaces the requester's allocation, so a repeated request is
harmless. Shrinking a request is always granted (that is how capacity is released).
"""
from __future__ import annotations

import msgspec
from immutables import Map
from msgspec.structs import replace

from actors import placement
from actors.capacity import (
    Answer,
    CapacityAnswered,
    CapacityGranted,
    CapacityRefused,
    CapacityRequested,
    PoolNodesDraining,
    PoolView,
    SlotsGranted,
    SlotsRequested,
    pool_key,
)
from actors.decisions import Context, Decision, Order
from actors.gpupool.spec import GpuPoolSpec
from actors.kind import Resource
from actors.placement import NodeCap, NodeFree, PoolNodesChanged, Slot
from core.events import Condition, Event, SpecApplied, StatusUpdated
from core.nodes import KIND as NODE_KIND
from core.nodes import NodeView
from core.replicas import EnsureDevices, EnsurePool, PoolReady, PoolRetired, RetirePool
from core.usage import admits

CONTROLLER_NAME = "pools"
FINALIZER = "pools.bosun.dev/allocations"
DRIVER = "sim"
MAX_ANSWERS = 256
"""Answers per CapacityAnswered event (bounds its size and its Bosun-Notify header)."""
NODE_RECHECK = 1.0
NODE_BATCH = 4 * MAX_ANSWERS
"""A node pool answers at most this many requests per decision (four `CapacityAnswered`), and decides again at
once for the rest: placing on a thousand nodes costs more per request than a sim pool's count, and a burst's
10,000 requests in one decision ran past the step budget on a loaded box (the pool was quarantined)."""
"""A `node` pool looks at its nodes' views this often (a view changing wakes no actor by itself)."""


class Request(msgspec.Struct, frozen=True):
    request_id: int
    requester: str
    gpus: int
    slots: SlotsRequested | None = None
    """A request to a `node` pool: which replicas want slots, and how to place them."""


class Pool(msgspec.Struct, frozen=True, kw_only=True):
    allocations: Map[str, int] = Map()
    """Requester -> GPUs granted. Persistent maps: one pool answers every deployment in its region, and a
    fold must not copy thousands of entries (a dict copy per grant made a 10,000-deployment burst
    quadratic on the pool's one mailbox)."""
    allocated: int = 0
    """Sum of `allocations`, kept by `evolve`."""
    pending: tuple[Request, ...] = ()
    answered: Map[str, int] = Map()
    """Requester -> highest request id answered: a redelivered request is never answered twice."""
    asked: Map[str, int] = Map()
    """Requester -> highest request id queued in `pending` (a redelivered request is not queued twice)."""
    ensured_generation: int = 0
    ready_generation: int = 0
    retire_ordered: bool = False
    retired: bool = False
    nodes: tuple[NodeCap, ...] = ()
    """A `node` pool: the nodes it places on now (`PoolNodesChanged`); its capacity is their GPUs."""
    slots: Map[str, tuple[Slot, ...]] = Map()
    """A `node` pool: requester -> the slots (node, device ids) it holds. The single writer of devices: no
    device is in two slots."""
    draining: tuple[str, ...] = ()
    """A `node` pool: its nodes being drained, as last announced (`PoolNodesDraining`)."""


Live = Resource[GpuPoolSpec, Pool]


def evolve(r: Live, event: Event) -> Pool:
    state = r.state
    match event:
        case SpecApplied():
            return replace(state, retire_ordered=False, retired=False)
        case CapacityRequested(request_id=rid, requester=who, gpus=gpus):
            if rid <= max(state.answered.get(who, 0), state.asked.get(who, 0)):
                return state  # answered already, or queued: a redelivery
            ask = event if isinstance(event, SlotsRequested) else None
            return replace(state, pending=(*state.pending, Request(rid, who, gpus, ask)),
                           asked=state.asked.set(who, rid))
        case PoolNodesChanged(nodes=nodes):
            return replace(state, nodes=nodes)
        case PoolNodesDraining(nodes=draining):
            return replace(state, draining=draining)
        case CapacityAnswered(answers=answers):
            return _answer(state, answers)
        case CapacityGranted() | CapacityRefused():
            return _answer(state, (event,))
        case EnsurePool(generation=g):
            return replace(state, ensured_generation=max(state.ensured_generation, g))
        case PoolReady(generation=g):
            return replace(state, ready_generation=max(state.ready_generation, g))
        case RetirePool():
            return replace(state, retire_ordered=True)
        case PoolRetired():
            return replace(state, retired=True)
        case _:
            return state


def _answer(state: Pool, answers: tuple[Answer, ...]) -> Pool:
    """Fold a batch of answers in one pass: the pending queue is filtered once, not once per answer."""
    with state.allocations.mutate() as allocations, state.answered.mutate() as answered, \
            state.slots.mutate() as slots:
        allocated = state.allocated
        done: set[tuple[str, int]] = set()
        for a in answers:
            done.add((a.requester, a.request_id))
            answered[a.requester] = max(a.request_id, answered.get(a.requester, 0))
            if isinstance(a, SlotsGranted):
                if a.slots:
                    slots[a.requester] = a.slots
                elif a.requester in slots:
                    del slots[a.requester]
            if isinstance(a, CapacityGranted):
                held = allocations.get(a.requester, 0)
                if a.gpus:
                    allocations[a.requester] = a.gpus
                elif held:
                    del allocations[a.requester]
                allocated += a.gpus - held
        new_allocations, new_answered, new_slots = allocations.finish(), answered.finish(), slots.finish()
    pending = tuple(p for p in state.pending if (p.requester, p.request_id) not in done)
    return replace(state, allocations=new_allocations, allocated=allocated, answered=new_answered, pending=pending,
                   slots=new_slots)


def decide(r: Live, now: float, ctx: Context) -> Decision:
    if r.spec.driver == "node":
        return _decide_nodes(r, now, ctx)
    state, spec = r.state, r.spec
    events: list[Event] = []
    commands: list[Order] = []
    me = pool_key(r.ref.namespace, r.ref.name)
    ready = state.ready_generation >= r.generation
    allocations = state.allocations
    allocated = state.allocated
    answers: list[Answer] = []
    for req in state.pending:
        held = allocations.get(req.requester, 0)
        others = allocated - held
        tenant = _namespace_of(req.requester)
        barred = req.gpus > held and not admits(r.ref.namespace, spec.admitted, tenant)
        if not barred and (req.gpus <= held or (ready and not r.deleting and others + req.gpus <= spec.gpus)):
            allocations = allocations.set(req.requester, req.gpus)
            allocated = others + req.gpus
            answers.append(CapacityGranted(request_id=req.request_id, requester=req.requester, pool=me,
                                          gpus=req.gpus))
        elif not barred and not ready and not r.deleting:
            break  # answer once the data plane has the pool; requests stay queued in order
        else:
            why = "pool is being deleted" if r.deleting else (
                f"does not admit namespace {tenant} (spec.namespaces)" if barred else
                f"needs {req.gpus - held} more GPU, {max(0, spec.gpus - others - held)} free")
            answers.append(CapacityRefused(request_id=req.request_id, requester=req.requester, pool=me,
                                          gpus=req.gpus, available=max(0, spec.gpus - others), reason=why))
    for i in range(0, len(answers), MAX_ANSWERS):
        events.append(CapacityAnswered(pool=me, answers=tuple(answers[i:i + MAX_ANSWERS])))
    if r.deleting:
        if allocated == 0 and not state.retire_ordered:
            commands.append(Order(spec.driver, RetirePool(), f"{r.ref.token}/retire/{r.generation}"))
        if state.retired and allocated == 0:
            events.extend(r.release())
    elif state.ensured_generation < r.generation:
        commands.append(Order(spec.driver, _ensure(spec, r.generation), f"{r.ref.token}/ensure/{r.generation}"))
    events.append(_status(r, spec, allocated, ready))
    return Decision(events=tuple(events), commands=tuple(commands))


def _decide_nodes(r: Live, now: float, ctx: Context) -> Decision:
    """A pool made of nodes: its capacity is its nodes' GPUs (no driver provisions it), and every grant
    places each replica on a node with devices of its own (`placement.place`, on the ledger's own slots)."""
    state, spec = r.state, r.spec
    events: list[Event] = []
    me = pool_key(r.ref.namespace, r.ref.name)
    views = ctx.of(NODE_KIND)
    nodes = _eligible(r.ref.token, views, spec.node_selector, state.nodes)
    if nodes is not state.nodes:
        events.append(PoolNodesChanged(nodes=nodes))
    capacity = sum(len(n.devices) for n in nodes)
    allocations, allocated, slots = state.allocations, state.allocated, state.slots
    answers: list[Answer] = []
    free: placement.Free | None = None  # made at the first request for slots, kept through the batch
    for req in state.pending[:NODE_BATCH]:
        held = allocations.get(req.requester, 0)
        tenant = _namespace_of(req.requester)
        barred = req.gpus > held and not admits(r.ref.namespace, spec.admitted, tenant)
        why = "pool is being deleted" if r.deleting and req.gpus > held else (
            f"does not admit namespace {tenant} (spec.namespaces)" if barred else "")
        ask = req.slots
        if not why and ask is None and req.gpus > held:
            why = "a node pool places replicas on nodes: ask it for slots"
        granted: tuple[Slot, ...] = ()
        mine = slots.get(req.requester, ())
        if not why and ask is not None:
            if free is None:
                free = placement.Free(nodes, [s for held_slots in slots.values() for s in held_slots])
            granted, why = _place(free, nodes, views, mine, ask)
        elif not why and free is not None:
            free.release(mine)  # no slots asked: whatever it held is let go below
        if why:
            answers.append(CapacityRefused(request_id=req.request_id, requester=req.requester, pool=me,
                                          gpus=req.gpus, available=max(0, capacity - allocated + held), reason=why))
            continue
        allocations = allocations.set(req.requester, req.gpus) if req.gpus else allocations.delete(req.requester) \
            if req.requester in allocations else allocations
        allocated += req.gpus - held
        if granted:
            slots = slots.set(req.requester, granted)
        elif req.requester in slots:
            slots = slots.delete(req.requester)
        answers.append(SlotsGranted(request_id=req.request_id, requester=req.requester, pool=me, gpus=req.gpus,
                                    slots=granted))
    for i in range(0, len(answers), MAX_ANSWERS):
        events.append(CapacityAnswered(pool=me, answers=tuple(answers[i:i + MAX_ANSWERS])))
    events.extend(_draining(state, me, views, spec, slots))
    if r.deleting and allocated == 0:
        events.extend(r.release())
    events.append(_node_status(r, nodes, capacity, allocated, slots))
    more = len(state.pending) > NODE_BATCH
    return Decision(events=tuple(events), wake_at=now if more else None if r.deleting else now + NODE_RECHECK)


def _place(free: placement.Free, nodes: tuple[NodeCap, ...], views: tuple[NodeView, ...], mine: tuple[Slot, ...],
           ask: SlotsRequested) -> tuple[tuple[Slot, ...], str]:
    """The slots a request for slots ends with (those it keeps, then new ones), or why it is refused (then
    `free` is as before it)."""
    wanted = set(ask.replicas)
    kept = tuple(s for s in mine if s.replica in wanted)
    have = {s.replica for s in kept}
    released = [s for s in mine if s.replica not in wanted]
    picked, why = placement.narrow(nodes, views, ask.selector)
    if why:
        return kept, why
    free.release(released)
    new, why = free.place(kept, [x for x in ask.replicas if x not in have], ask.per_replica, ask.spread,
                          ask.max_per_node, among=picked if ask.selector else None)
    why = placement.among(why, ask.selector)
    if why:
        free.hold(released)  # refused: the requester keeps what it held
    return (*kept, *new), why


def _draining(state: Pool, me: str, views: tuple[NodeView, ...], spec: GpuPoolSpec,
              slots: Map[str, tuple[Slot, ...]]) -> list[PoolNodesDraining]:
    """Announce the pool's draining nodes when they change, to every requester holding a slot on a node that
    starts or stops draining (each then moves its replicas off make-before-break, or stops moving them)."""
    draining = tuple(sorted(v.name for v in views if v.draining and placement.selects(v.labels, spec.node_selector)))
    if draining == state.draining:
        return []
    changed = set(draining) | set(state.draining)
    told = sorted(who for who, held in slots.items() if any(s.node in changed for s in held))
    return [PoolNodesDraining(pool=me, nodes=draining, requesters=tuple(told[i:i + MAX_ANSWERS]))
            for i in range(0, max(1, len(told)), MAX_ANSWERS)]


def _node_status(r: Live, nodes: tuple[NodeCap, ...], capacity: int, allocated: int,
                 slots: Map[str, tuple[Slot, ...]]) -> StatusUpdated:
    per_node: dict[str, int] = {n.name: 0 for n in nodes}
    for held in slots.values():
        for s in held:
            per_node[s.node] = per_node.get(s.node, 0) + 1
    fields = {"capacity": capacity, "allocatedGpus": allocated, "freeGpus": max(0, capacity - allocated),
              "nodes": len(nodes), "replicasByNode": per_node}
    if r.deleting:
        phase, cond = "Deleting", Condition(type="Ready", status="False", reason="Deleting",
                                            message=f"waiting for {allocated} allocated GPU to be released")
    elif not nodes:
        phase, cond = "Progressing", Condition(type="Ready", status="False", reason="NoNodes",
                                               message="no Ready, schedulable node matches spec.nodeSelector")
    else:
        phase, cond = "Ready", Condition(type="Ready", status="True", reason="NodesReady",
                                         message=f"{max(0, capacity - allocated)} of {capacity} GPU free on "
                                                 f"{len(nodes)} node(s)")
    return r.status_update(phase, cond, fields=fields)


def _namespace_of(requester: str) -> str:
    """The namespace of a requester (a ref token, `<kind>.<namespace>.<name>`): whatever kind asks, a pool
    grows only the allocations of the namespaces it admits (placement filters first; this is the backstop)."""
    parts = requester.split(".")
    return parts[1] if len(parts) == 3 else ""


def _ensure(spec: GpuPoolSpec, generation: int) -> EnsurePool:
    """What the pool's driver is told to provision: a process pool also gets its device ids."""
    if spec.driver == "process":
        return EnsureDevices(region=spec.region, gpu=spec.gpu, capacity=spec.gpus, generation=generation,
                             devices=spec.devices)
    return EnsurePool(region=spec.region, gpu=spec.gpu, capacity=spec.gpus, generation=generation)


def _status(r: Live, spec: GpuPoolSpec, allocated: int, ready: bool) -> StatusUpdated:
    fields = {"capacity": spec.gpus, "allocatedGpus": allocated, "freeGpus": max(0, spec.gpus - allocated)}
    if r.deleting:
        phase, cond = "Deleting", Condition(type="Ready", status="False", reason="Deleting",
                                            message=f"waiting for {allocated} allocated GPU to be released")
    elif ready:
        phase, cond = "Ready", Condition(type="Ready", status="True", reason="Provisioned",
                                         message=f"{spec.gpus - allocated} of {spec.gpus} GPU free")
    else:
        phase, cond = "Progressing", Condition(type="Ready", status="False", reason="Provisioning",
                                               message="waiting for the data plane to provision the pool")
    return r.status_update(phase, cond, fields=fields)


def view(r: Live) -> PoolView | None:
    spec = r.applied
    if spec is not None and spec.driver == "node" and not r.gone:
        capacity, frees = _frees(r.ref.token, r.state.nodes, r.state.slots)
        return PoolView(ref=r.ref, region=spec.region, gpu=spec.gpu, capacity=capacity, allocated=r.state.allocated,
                        deleting=r.deleting, driver=spec.driver, price_per_gpu_hour=spec.price_per_gpu_hour,
                        namespaces=spec.admitted, commands=spec.commands, nodes=frees)
    if spec is None or r.gone or r.state.ready_generation < 1:
        return None
    return PoolView(ref=r.ref, region=spec.region, gpu=spec.gpu, capacity=spec.gpus, allocated=r.state.allocated,
                    deleting=r.deleting, driver=spec.driver, price_per_gpu_hour=spec.price_per_gpu_hour,
                    namespaces=spec.admitted, commands=spec.commands)


_FREES: dict[str, tuple[tuple[NodeCap, ...], Map[str, tuple[Slot, ...]], tuple[int, tuple[NodeFree, ...]]]] = {}
"""Pool token -> the nodes and slots its last view was computed from, and that view's capacity and free GPUs
per node. The
view is asked after every fold, and a burst folds thousands of requests that change neither (a persistent map
keeps its identity until an answer changes it): recounting every slot on each fold was 60 % of the controller's
CPU in a burst of 10,000 over 1,000 nodes."""


def _frees(token: str, nodes: tuple[NodeCap, ...], slots: Map[str, tuple[Slot, ...]]
           ) -> tuple[int, tuple[NodeFree, ...]]:
    last = _FREES.get(token)
    if last is not None and last[0] is nodes and last[1] is slots:
        return last[2]
    found = (sum(len(n.devices) for n in nodes), placement.frees(nodes, (s for held in slots.values() for s in held)))
    _FREES[token] = (nodes, slots, found)
    return found


_ELIGIBLE: dict[str, tuple[tuple[NodeView, ...], dict[str, str], tuple[NodeCap, ...]]] = {}
"""Pool token -> the Node views and selector its nodes were last picked from, and those nodes: a pool decides
after every batch of requests, and the board keeps the Node views' tuple while no Node's view changes."""


def _eligible(token: str, views: tuple[NodeView, ...], selector: dict[str, str], held: tuple[NodeCap, ...]
              ) -> tuple[NodeCap, ...]:
    """The pool's nodes now; `held` itself (the same object) when they did not change."""
    last = _ELIGIBLE.get(token)
    if last is not None and last[0] is views and last[1] == selector:
        nodes = last[2]
    else:
        nodes = placement.eligible(views, selector)
    nodes = held if nodes is held or nodes == held else nodes
    _ELIGIBLE[token] = (views, selector, nodes)
    return nodes
