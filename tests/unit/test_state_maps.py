"""A snapshot of an actor state holding a persistent map of Structs folds back into the same state: the map's
values decode as their declared type (a node pool's slots came back as dicts, and its controller crashed on
restart: `'dict' object has no attribute 'node'`)."""
from __future__ import annotations

import msgspec
from immutables import Map

from actors.gpupool.model import Pool
from actors.placement import Slot
from core import codec


class Holder(msgspec.Struct):
    slots: Map[str, tuple[Slot, ...]] = Map()


class Counts(msgspec.Struct):
    by: Map[str, int] = Map()


def test_a_node_pools_slots_survive_a_snapshot() -> None:
    declared = next(f for f in msgspec.structs.fields(Pool) if f.name == "slots").type
    assert declared == next(f for f in msgspec.structs.fields(Holder) if f.name == "slots").type
    slots = Map({"modeldeployment.demo.chat": (Slot(replica="chat-1", node="home-box", devices=("0",)),)})
    back = codec.decode_state(codec.state_encoder.encode(Holder(slots=slots)), Holder)
    assert back.slots == slots and isinstance(back.slots["modeldeployment.demo.chat"][0], Slot)


def test_a_map_of_plain_values_is_unchanged() -> None:
    assert codec.decode_state(codec.state_encoder.encode(Counts(by=Map({"a": 1}))), Counts).by == Map({"a": 1})


def test_a_pool_of_ten_thousand_slots_snapshots_under_the_payload_limit() -> None:
    """10,000 replicas' slots on 1,000 nodes: about 1 MB of JSON, stored compressed (a put over NATS's payload
    limit was refused, and the controller host restarted over and over), and read back as the same state."""
    from actors.cells import COMPRESSED, Cell
    from core.names import Ref
    from tests.conftest import REGISTRY

    ref = Ref("gpupool", "infra", "big")
    cell = Cell(ref, REGISTRY.controller_for(ref.kind))  # type: ignore[arg-type]
    slots = Map({f"modeldeployment.bench.d{i}": (Slot(replica=f"d{i}-0", node=f"sim-{i % 1000:04d}",
                                                        devices=(str(i // 1000),)),) for i in range(10_000)})
    cell.state = msgspec.structs.replace(cell.state, state=Pool(slots=slots, allocated=10_000))
    plain = len(codec.state_encoder.encode(cell.state))
    data = cell.snapshot()
    assert plain > 1 << 19 and data[:1] == COMPRESSED and len(data) < plain // 4
    assert Cell(ref, REGISTRY.controller_for(ref.kind), Cell.load(data)).state == cell.state  # type: ignore[arg-type]


def test_a_small_snapshot_stays_plain_json() -> None:
    from actors.cells import Cell
    from core.names import Ref
    from tests.conftest import REGISTRY

    ref = Ref("gpupool", "infra", "small")
    data = Cell(ref, REGISTRY.controller_for(ref.kind)).snapshot()  # type: ignore[arg-type]
    assert data.startswith(b"{") and Cell.load(data).hwm == 0
