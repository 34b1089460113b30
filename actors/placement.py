"""Placement inside a pool made of nodes (`GpuPool.spec.driver: node`): pure, so the pool's ledger, the
deployment's pre-check and the tests all run the same rules.

A *slot* is one replica's place: a node and that node's device ids. The pool's ledger is the single writer
of slots, so a device is never in two slots; `place` only ever hands out devices no slot holds. A
deployment's `placement.spread` picks among the nodes that fit (`node`: fewest of its replicas on the node;
`zone`: fewest in the node's `zone` label, then on the node; `none`: pack the fullest node that fits), and
`placement.maxPerNode` caps its replicas per node, and `placement.nodeSelector` narrows the pool's nodes to
those carrying its labels (`narrow`). When nothing fits, the reason names the constraint.
"""
from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Annotated, Literal, Protocol, TypeVar

import msgspec
from msgspec import Meta

from core.events import Event
from core.nodes import DeviceId, NodeName, NodeView

Spread = Literal["node", "zone", "none"]
ZONE_LABEL = "zone"


class NodeCap(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A node the pool may place on now: Ready, schedulable, matching its `nodeSelector`."""

    name: NodeName
    devices: tuple[DeviceId, ...] = ()
    zone: str = ""


class Slot(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """One replica's place: its node and the device ids it alone may use there."""

    replica: Annotated[str, Meta(max_length=253)]
    node: NodeName
    devices: tuple[DeviceId, ...] = ()


class NodeFree(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What a deployment may read of one node of a pool (its `PoolView`): free devices, zone."""

    name: str
    free: int = 0
    zone: str = ""


def free_devices(nodes: Iterable[NodeCap], held: Iterable[Slot]) -> dict[str, list[str]]:
    """Node -> its devices no slot holds, in the node's own order."""
    used: dict[str, set[str]] = {}
    for s in held:
        used.setdefault(s.node, set()).update(s.devices)
    return {n.name: [d for d in n.devices if d not in used.get(n.name, ())] for n in nodes}


def frees(nodes: Iterable[NodeCap], held: Iterable[Slot]) -> tuple[NodeFree, ...]:
    nodes = tuple(nodes)
    free = free_devices(nodes, held)
    return tuple(NodeFree(name=n.name, free=len(free[n.name]), zone=n.zone) for n in nodes)


def fit(nodes: Iterable[NodeFree], mine: Mapping[str, int], per_replica: int, max_per_node: int = 0
        ) -> tuple[int, str]:
    """How many more replicas of `per_replica` GPUs fit, given the requester's own replicas per node
    (`mine`); when that is 0, why (the constraint that binds)."""
    nodes = tuple(nodes)
    rooms = _rooms_of(nodes)
    total, by_devices = rooms.total(per_replica, max_per_node)
    if max_per_node:
        for name, held in mine.items():
            free = rooms.free.get(name)
            if free is not None and held:
                room = free // per_replica
                total -= min(room, max_per_node) - min(room, max(0, max_per_node - held))
    if total:
        return total, ""
    return 0, why_not(nodes, per_replica, max_per_node, by_devices)


class _Rooms:
    """Totals over one pool view's nodes, kept while the view is (every deployment of a burst asks the same
    view: a scan of a thousand nodes per decision was the deployments' largest cost on a pool of nodes)."""

    def __init__(self, nodes: tuple[NodeFree, ...]) -> None:
        self.nodes = nodes
        self.free = {n.name: n.free for n in nodes}
        self.totals: dict[tuple[int, int], tuple[int, int]] = {}

    def total(self, per_replica: int, max_per_node: int) -> tuple[int, int]:
        """(replicas that fit when the requester has none anywhere, replicas the free devices alone fit)."""
        key = (per_replica, max_per_node)
        found = self.totals.get(key)
        if found is None:
            rooms = [f // per_replica for f in self.free.values()]
            found = self.totals[key] = (sum(min(r, max_per_node) for r in rooms) if max_per_node else sum(rooms),
                                        sum(rooms))
        return found


_ROOMS: list[_Rooms] = []
_ROOMS_KEPT = 8


def _rooms_of(nodes: tuple[NodeFree, ...]) -> _Rooms:
    for rooms in _ROOMS:
        if rooms.nodes is nodes:
            return rooms
    rooms = _Rooms(nodes)
    _ROOMS.insert(0, rooms)
    del _ROOMS[_ROOMS_KEPT:]
    return rooms


def why_not(nodes: tuple[NodeFree, ...], per_replica: int, max_per_node: int, by_devices: int) -> str:
    if not nodes:
        return "no Ready, schedulable node matches the pool's nodeSelector"
    if by_devices and max_per_node:
        return (f"placement.maxPerNode {max_per_node}: every node with {per_replica} free GPU already runs "
                f"{max_per_node} of its replicas")
    largest = max(n.free for n in nodes)
    return f"no node has {per_replica} free GPU (the most on one node: {largest})"


def place(nodes: Iterable[NodeCap], held: Iterable[Slot], mine: Iterable[Slot], replicas: Iterable[str],
          per_replica: int, spread: Spread = "node", max_per_node: int = 0) -> tuple[tuple[Slot, ...], str]:
    """Slots for `replicas` (new ones, none held yet), one at a time, or the reason the first that does not fit
    cannot. `held` are every slot of the pool (the requester's own among them), `mine` the requester's."""
    return Free(nodes, held).place(mine, replicas, per_replica, spread, max_per_node)


class Free:
    """A pool's free devices through one decision: made once from every slot, then kept as each request
    releases and takes slots (a pool of a thousand nodes answers thousands of requests in one decision: a
    recount of every slot per request, or a scan of every node per replica, made it quadratic).

    `spread: node`'s usual choice (a node with none of the requester's replicas, the most free GPUs, then the
    name) comes off a heap of (-free, name); the other cases scan the nodes. Same choices as a scan always."""

    def __init__(self, nodes: Iterable[NodeCap], held: Iterable[Slot]) -> None:
        self.nodes = tuple(nodes)
        self.order = {n.name: n.devices for n in self.nodes}
        self.zone = {n.name: n.zone for n in self.nodes}
        self.free = free_devices(self.nodes, held)
        self.heap = [(-len(self.free[n.name]), n.name) for n in self.nodes]
        heapq.heapify(self.heap)

    def release(self, slots: Iterable[Slot]) -> None:
        """Their devices are free again (in the node's own order)."""
        for s in slots:
            if s.node in self.free:
                back = set(self.free[s.node]) | set(s.devices)
                self._set(s.node, [d for d in self.order[s.node] if d in back])

    def hold(self, slots: Iterable[Slot]) -> None:
        """Their devices are taken again (undoing a `release`)."""
        for s in slots:
            if s.node in self.free:
                taken = set(s.devices)
                self._set(s.node, [d for d in self.free[s.node] if d not in taken])

    def _set(self, node: str, devices: list[str]) -> None:
        self.free[node] = devices
        heapq.heappush(self.heap, (-len(devices), node))

    def place(self, mine: Iterable[Slot], replicas: Iterable[str], per_replica: int, spread: Spread = "node",
              max_per_node: int = 0, among: tuple[NodeCap, ...] | None = None) -> tuple[tuple[Slot, ...], str]:
        """`place`, taking the devices it hands out (a refusal takes none: what it placed is released);
        `among`: only on these of the pool's nodes (a deployment's `placement.nodeSelector`)."""
        nodes, free = (self.nodes if among is None else among), self.free
        zone = self.zone if among is None else {n.name: n.zone for n in nodes}
        on_node = Counter(s.node for s in mine)
        in_zone = Counter(zone.get(s.node, "") for s in mine)
        placed: list[Slot] = []
        for rid in replicas:
            best = self._emptiest(on_node, per_replica) if spread == "node" and among is None else None
            if best is None:
                fits = [n for n in nodes if len(free[n.name]) >= per_replica
                        and (not max_per_node or on_node[n.name] < max_per_node)]
                if not fits:
                    by_devices = sum(len(free[n.name]) // per_replica for n in nodes)
                    left = tuple(NodeFree(name=n.name, free=len(free[n.name]), zone=n.zone) for n in nodes)
                    self.release(placed)
                    return tuple(placed), why_not(left, per_replica, max_per_node, by_devices)
                if spread == "none":
                    pick = min(fits, key=lambda n: (len(free[n.name]), n.name))
                elif spread == "zone":
                    pick = min(fits, key=lambda n: (in_zone[n.zone], on_node[n.name], -len(free[n.name]), n.name))
                else:
                    pick = min(fits, key=lambda n: (on_node[n.name], -len(free[n.name]), n.name))
                best = pick.name
            devices = tuple(free[best][:per_replica])
            self._set(best, free[best][per_replica:])
            on_node[best] += 1
            in_zone[zone[best]] += 1
            placed.append(Slot(replica=rid, node=best, devices=devices))
        return tuple(placed), ""

    def _emptiest(self, on_node: Counter[str], per_replica: int) -> str | None:
        """The node with none of the requester's replicas and the most free devices (then the first name), when
        one fits; None when none does (then the scan decides). Entries whose count is stale are dropped."""
        heap, free = self.heap, self.free
        aside: list[tuple[int, str]] = []
        found: str | None = None
        while heap:
            count, name = heap[0]
            if -count != len(free[name]):
                heapq.heappop(heap)  # stale: a newer entry holds its count
                continue
            if -count < max(per_replica, 1):
                break
            if on_node[name]:
                aside.append(heapq.heappop(heap))
                continue
            found = name
            break
        for entry in aside:
            heapq.heappush(heap, entry)
        return found


class PoolNodesChanged(Event, frozen=True, tag="pool.nodes-changed"):
    """A `node` pool's nodes changed (one joined, left, was cordoned or turned NotReady, its labels or GPUs
    moved): the pool's capacity is theirs from here on. Appended on the pool's own ctl slice, so its ledger
    replays the same capacity at every point."""

    nodes: tuple[NodeCap, ...] = ()

    def summary(self) -> str:
        gpus = sum(len(n.devices) for n in self.nodes)
        return f"pool now has {len(self.nodes)} node(s), {gpus} GPU: {', '.join(n.name for n in self.nodes) or '-'}"


def selects(labels: Mapping[str, str], selector: Mapping[str, str]) -> bool:
    """A node carrying `labels` matches `selector`: every selected label, with that value."""
    return all(labels.get(k) == want for k, want in selector.items())


def selector_text(selector: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items()))


def eligible(views: Iterable[NodeView], selector: Mapping[str, str]) -> tuple[NodeCap, ...]:
    """The nodes a pool with `selector` places on now: Ready, schedulable, carrying every selected label."""
    return tuple(sorted((NodeCap(name=v.name, devices=v.devices, zone=v.labels.get(ZONE_LABEL, ""))
                         for v in views if v.ready and v.schedulable and selects(v.labels, selector)),
                        key=lambda n: n.name))


class _Named(Protocol):
    @property
    def name(self) -> str: ...


N = TypeVar("N", bound=_Named)


def narrow(nodes: Iterable[N], views: Iterable[NodeView], selector: Mapping[str, str]) -> tuple[tuple[N, ...], str]:
    """The pool's `nodes` a deployment's `placement.nodeSelector` keeps (the labels are the Node views'), and
    when it keeps none of several, why. An empty selector keeps them all."""
    nodes = tuple(nodes)
    if not selector:
        return nodes, ""
    labelled = {v.name: v.labels for v in views}
    kept = tuple(n for n in nodes if selects(labelled.get(n.name, {}), selector))
    if kept or not nodes:
        return kept, ""
    return kept, (f"placement.nodeSelector {selector_text(selector)}: none of the pool's {len(nodes)} Ready, "
                  f"schedulable node(s) carries it")


def among(why: str, selector: Mapping[str, str]) -> str:
    """A reason found among the nodes a `placement.nodeSelector` kept: say so."""
    return f"{why} (among the nodes matching placement.nodeSelector {selector_text(selector)})" \
        if why and selector and "nodeSelector" not in why else why
