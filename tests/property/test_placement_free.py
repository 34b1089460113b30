"""`placement.Free` (incremental free devices, a heap for `spread: node`) makes exactly the choices of the plain
scan it replaced: one request after another over a pool, each releasing some of its slots and asking for new
ones, the same slots or the same refusal."""
from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from actors.placement import Free, NodeCap, NodeFree, Slot, free_devices, why_not


def scan_place(nodes: tuple[NodeCap, ...], held: list[Slot], mine: tuple[Slot, ...], replicas: list[str],
               per_replica: int, spread: str, max_per_node: int) -> tuple[tuple[Slot, ...], str]:
    """The scan as it was: free devices recounted from every slot, every node scanned per replica."""
    free = free_devices(nodes, held)
    zone = {n.name: n.zone for n in nodes}
    on_node = Counter(s.node for s in mine)
    in_zone = Counter(zone.get(s.node, "") for s in mine)
    placed: list[Slot] = []
    for rid in replicas:
        fits = [n for n in nodes if len(free[n.name]) >= per_replica
                and (not max_per_node or on_node[n.name] < max_per_node)]
        if not fits:
            by_devices = sum(len(free[n.name]) // per_replica for n in nodes)
            left = tuple(NodeFree(name=n.name, free=len(free[n.name]), zone=n.zone) for n in nodes)
            return tuple(placed), why_not(left, per_replica, max_per_node, by_devices)
        if spread == "none":
            best = min(fits, key=lambda n: (len(free[n.name]), n.name))
        elif spread == "zone":
            best = min(fits, key=lambda n: (in_zone[n.zone], on_node[n.name], -len(free[n.name]), n.name))
        else:
            best = min(fits, key=lambda n: (on_node[n.name], -len(free[n.name]), n.name))
        devices = tuple(free[best.name][:per_replica])
        free[best.name] = free[best.name][per_replica:]
        on_node[best.name] += 1
        in_zone[best.zone] += 1
        placed.append(Slot(replica=rid, node=best.name, devices=devices))
    return tuple(placed), ""


node_sets = st.lists(st.tuples(st.integers(0, 6), st.sampled_from(["a", "b", "c"])), min_size=0, max_size=12)
requests = st.lists(st.tuples(st.integers(0, 4), st.integers(0, 5), st.integers(1, 3),
                              st.sampled_from(["node", "zone", "none"]), st.integers(0, 3)), max_size=25)


@settings(max_examples=300, deadline=None)
@given(node_sets, requests)
def test_free_places_as_the_scan(shape: list[tuple[int, str]], asks: list[tuple[int, int, int, str, int]]) -> None:
    nodes = tuple(NodeCap(name=f"n{i:02d}", devices=tuple(str(d) for d in range(gpus)), zone=zone)
                  for i, (gpus, zone) in enumerate(shape))
    slots: dict[str, tuple[Slot, ...]] = {}
    free = Free(nodes, [])
    for step, (who_i, count, per_replica, spread, max_per_node) in enumerate(asks):
        who = f"d{who_i}"
        mine = slots.get(who, ())
        wanted = [s.replica for s in mine][: max(0, count - 1)] + [f"{who}-{step}-{k}" for k in range(count)]
        wanted_set = set(wanted)
        kept = tuple(s for s in mine if s.replica in wanted_set)
        have = {s.replica for s in kept}
        new_ids = [x for x in wanted if x not in have]
        others = [s for w, held in slots.items() if w != who for s in held]
        expected = scan_place(nodes, [*others, *kept], kept, new_ids, per_replica, spread, max_per_node)
        released = [s for s in mine if s.replica not in wanted_set]
        free.release(released)
        got = free.place(kept, new_ids, per_replica, spread, max_per_node)  # type: ignore[arg-type]
        assert got == expected
        if got[1]:
            free.hold(released)
        else:
            slots[who] = (*kept, *got[0])
        assert free.free == free_devices(nodes, [s for held in slots.values() for s in held])
