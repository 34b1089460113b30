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
