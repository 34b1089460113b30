"""What a decision records of its Context: only the kinds `decide` read, compressed when large, and decoded
back to exactly what it read."""
from __future__ import annotations

from actors.capacity import PoolView
from actors.decisions import COMPRESSED, Context, Reading, decode_context, encode_recorded
from core import codec
from core.names import Ref
from core.nodes import NodeView

POOL = PoolView(ref=Ref("gpupool", "infra", "p"), region="r", gpu="g", capacity=4, allocated=1)
NODES = tuple(NodeView(name=f"sim-{i:04d}", ready=True, labels={"zone": "zone-a"}, devices=("0", "1", "2", "3"))
              for i in range(1000))
TYPES = {"gpupool": PoolView, "node": NodeView}


def test_a_reading_records_only_the_kinds_it_read() -> None:
    reading = Reading.of_board(Context(views={"gpupool": (POOL,), "node": NODES}))
    assert reading.of("gpupool") == (POOL,)
    assert reading.recorded() == Context(views={"gpupool": (POOL,)})
    assert Reading.of_board(Context(views={"node": NODES})).recorded() == Context()


def test_a_small_context_is_plain_json_and_decodes_as_before() -> None:
    raw = codec.encode_json(Context(views={"gpupool": (POOL,)}))
    assert encode_recorded(raw) == raw.decode()
    assert decode_context(encode_recorded(raw), TYPES).of("gpupool") == (POOL,)


def test_a_thousand_nodes_fit_a_header_compressed_and_decode_whole() -> None:
    raw = codec.encode_json(Context(views={"node": NODES}))
    value = encode_recorded(raw)
    assert len(raw) > 64 * 1024 and value.startswith(COMPRESSED) and len(value) < 32 * 1024
    assert decode_context(value, TYPES).of("node") == NODES
    assert decode_context(value.encode(), TYPES).of("node") == NODES


def test_a_node_pools_slots_come_back_from_its_snapshot_as_slots() -> None:
    from immutables import Map

    from actors.gpupool.model import Pool
    from actors.placement import Slot

    pool = Pool(slots=Map({"modeldeployment.a.b": (Slot(replica="b-1", node="n1", devices=("0",)),)}))
    back = codec.decode_state(codec.state_encoder.encode(pool), Pool)
    assert back == pool and isinstance(back.slots["modeldeployment.a.b"][0], Slot)


def test_a_deployments_pre_check_reads_the_nodes_only_for_a_node_selector() -> None:
    """A deployment on a pool of a thousand nodes records the pool's view, not every Node's: those it reads (for
    their labels) only when its `placement.nodeSelector` needs them (each decision's header was ~14 KB)."""
    import msgspec

    from actors.modeldeployment.nodepools import room
    from actors.modeldeployment.spec import ModelDeploymentSpec
    from actors.modeldeployment.state import Deployment
    from actors.placement import NodeFree
    from tests.simworld import deployment_spec

    pool = PoolView(ref=Ref("gpupool", "infra", "p"), region="us-west-2", gpu="a100", capacity=4000, allocated=0,
                    driver="node", nodes=tuple(NodeFree(name=n.name, free=4) for n in NODES))
    board = Context(views={"gpupool": (pool,), "node": NODES})
    plain = msgspec.convert(deployment_spec(3), ModelDeploymentSpec)
    reading = Reading.of_board(board)
    assert room(Deployment(), pool, "infra/p", plain, reading) == (4000, "")
    assert reading.read == set()
    chosen = deployment_spec(3)
    chosen["placement"]["nodeSelector"] = {"zone": "zone-a"}
    reading = Reading.of_board(board)
    assert room(Deployment(), pool, "infra/p", msgspec.convert(chosen, ModelDeploymentSpec), reading) == (4000, "")
    assert reading.read == {"node"}
